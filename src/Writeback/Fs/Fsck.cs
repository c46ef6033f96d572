using Writeback.Fs.Inode;
using Writeback.Kernel;

namespace Writeback.Fs;

/// <summary>A consistency check of a mounted (quiescent) filesystem, in the manner of
/// xfs_repair -n / fsck -n: it reports, it does not repair.</summary>
/// <remarks>Checks: the tree from the root reaches only inodes in use, each directory once;
/// every inode in use is reachable (or unlinked but still held open); a file's link count
/// equals the names it has; a directory's size is its blocks; extents lie in the data area, in
/// order and without overlap, within the largest file; every data block — file data, directory
/// and extent blocks — is owned at most once; and the free-space bitmap marks exactly the owned
/// blocks. Blocks past a file's size are allowed (a truncate cut short by a crash leaves them,
/// as XFS's post-EOF blocks).</remarks>
public static class Fsck
{
    /// <summary>The problems found; empty when the filesystem is consistent.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public static IReadOnlyList<string> Check(FsMount fs)
    {
        ArgumentNullException.ThrowIfNull(fs);
        var problems = new List<string>();
        var names = WalkTree(fs, problems);
        CheckInodes(fs, names, problems);
        return problems;
    }

    // Walks the tree from the root; returns how many names each inode has.
    private static Dictionary<ulong, int> WalkTree(FsMount fs, List<string> problems)
    {
        var names = new Dictionary<ulong, int>();
        var visitedDirs = new HashSet<ulong>();
        var pending = new Stack<(ulong Ino, string Path)>();
        pending.Push((fs.Superblock.RootInode, "/"));
        names[fs.Superblock.RootInode] = 1;
        while (pending.TryPop(out var at))
        {
            if (fs.Inodes.Read(at.Ino, out var dir, out var problem) != Errno.None || dir is null)
            {
                problems.Add($"{at.Path}: directory inode {at.Ino} cannot be read: {problem ?? "it is free"}");
                continue;
            }

            if (!visitedDirs.Add(at.Ino))
            {
                problems.Add($"{at.Path}: directory inode {at.Ino} is reached twice");
                continue;
            }

            foreach (var (name, ino) in fs.Directories.List(dir))
            {
                var path = at.Path + name;
                if (fs.Inodes.Read(ino, out var child, out var childProblem) != Errno.None || child is null)
                {
                    problems.Add($"{path}: points at inode {ino}, which {(childProblem is null ? "is free" : "cannot be read: " + childProblem)}");
                    continue;
                }

                names[ino] = names.GetValueOrDefault(ino) + 1;
                if (child.IsDirectory)
                {
                    pending.Push((ino, path + "/"));
                }
            }
        }

        return names;
    }

    private static void CheckInodes(FsMount fs, Dictionary<ulong, int> names, List<string> problems)
    {
        var g = fs.Superblock.Geometry;
        var owner = new Dictionary<ulong, ulong>();
        foreach (var ino in fs.Inodes.UsedNumbers)
        {
            if (fs.Inodes.Read(ino, out var inode, out var problem) != Errno.None || inode is null)
            {
                problems.Add($"inode {ino}: {problem ?? "marked in use but free"}");
                continue;
            }

            if (!names.TryGetValue(ino, out var links))
            {
                if (inode.Nlink != 0 || !fs.IsHeldOrphan(ino))
                {
                    problems.Add($"inode {ino}: in use but not reachable from the root");
                }
            }
            else if (!inode.IsDirectory && inode.Nlink != links)
            {
                problems.Add($"inode {ino}: link count {inode.Nlink}, but {links} names");
            }

            if (inode.FileSize < 0 || (inode.IsDirectory && inode.FileSize != (long)inode.Extents.Sum(e => (long)e.Length) * g.BlockSize))
            {
                problems.Add($"inode {ino}: size {inode.FileSize} does not fit its {(inode.IsDirectory ? "directory blocks" : "type")}");
            }

            foreach (var b in inode.ExtentBlocks)
            {
                Own(b, ino, "extent block");
            }

            var previousEnd = 0UL;
            foreach (var e in inode.Extents)
            {
                if (e.FileBlock < previousEnd)
                {
                    problems.Add($"inode {ino}: extents overlap or are out of order at file block {e.FileBlock}");
                }

                previousEnd = e.FileEnd;
                if (e.FileEnd > (ulong)(long.MaxValue / g.BlockSize))
                {
                    problems.Add($"inode {ino}: extent at file block {e.FileBlock} ends past the largest file");
                }

                for (var b = e.DiskBlock; b < e.DiskBlock + e.Length; b++)
                {
                    Own(b, ino, "block");
                }
            }
        }

        void Own(ulong b, ulong ino, string what)
        {
            if (b < g.DataStart || b >= g.Blocks)
            {
                problems.Add($"inode {ino}: {what} {b} is outside the data area");
            }
            else if (!owner.TryAdd(b, ino))
            {
                problems.Add($"block {b}: owned by inode {owner[b]} and by inode {ino}");
            }
        }

        for (var b = g.DataStart; b < g.Blocks; b++)
        {
            var used = fs.Allocator.IsUsed(b);
            if (used != owner.ContainsKey(b))
            {
                problems.Add(used ? $"block {b}: marked used but owned by no inode" : $"block {b}: owned by inode {owner[b]} but marked free");
            }
        }
    }
}
