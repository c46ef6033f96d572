using Writeback.Block;
using Writeback.Fs;
using Writeback.Fs.Inode;
using Writeback.Kernel;

namespace Writeback.Workloads.Torture.Crash;

/// <summary>Mounts a crash image (journal recovery, orphan freeing), runs fsck, and checks it
/// against a <see cref="CrashRecording"/>: the tree holds what the completed persistence points
/// promised; every promised byte and size is there; and inside every file's size there is only
/// data that file wrote there (its own sectors, of a generation it held since its last promise).</summary>
/// <remarks>A file is read through its extent map as the read path does (written extents from the
/// disk; holes and unwritten extents as zeros), straight from the crash image, so that no page
/// cache is built per crash image. The image is mounted on a RAM disk (<see cref="CrashImageDisk"/>).
/// A file whose name no namespace state explains is still found by its inode, and its data
/// still checked. Context: Process context. May sleep.</remarks>
internal sealed partial class CrashChecker(CrashRecording recording)
{
    private const int Sector = CrashStamp.SectorSize;
    private const int MaxSectorProblemsPerFile = 3;
    private readonly CrashRecording _r = recording;
    private readonly Dictionary<int, CrashFile> _files = recording.Files.ToDictionary(f => f.Id);

    /// <summary>Checks the image of a crash before log entry <paramref name="crashAt"/> (the image
    /// becomes the crash disk's: recovery writes to it); each problem goes to <paramref name="problem"/>.</summary>
    public void Check(DiskImage image, int crashAt, Action<string> problem)
    {
        var disk = new CrashImageDisk(_r.Layer, image);
        FsMount? fs;
        string? why;
        Errno err;
        try
        {
            err = FsMount.Mount(disk, _r.Options.Completion, out fs, out why);
        }
        catch (IOException ex)
        {
            problem($"mount failed: {ex.Message}");
            return;
        }

        if (err != Errno.None)
        {
            problem($"mount failed ({err}): {why}");
            return;
        }

        try
        {
            foreach (var p in Fsck.Check(fs!))
            {
                problem($"fsck: {p}");
            }

            var tree = ReadTree(fs!, problem);
            var owners = _r.Options.Promises == CrashPromises.Wsync ? CheckWholeTree(tree, crashAt, problem) : CheckDirectories(tree, crashAt, problem);
            CheckFiles(fs!, disk, tree, owners, crashAt, problem);
        }
        catch (InvalidDataException ex)
        {
            problem($"reading the mounted image failed: {ex.Message}");
        }
    }

    // Every name from the root: path → (inode, is a directory).
    private static SortedDictionary<string, (ulong Ino, bool IsDirectory)> ReadTree(FsMount fs, Action<string> problem)
    {
        var tree = new SortedDictionary<string, (ulong, bool)>(StringComparer.Ordinal);
        var visited = new HashSet<ulong>();
        var pending = new Stack<(ulong Ino, string Path)>();
        pending.Push((fs.Superblock.RootInode, string.Empty));
        while (pending.TryPop(out var at))
        {
            if (!visited.Add(at.Ino) || fs.Inodes.Read(at.Ino, out var dir, out _) != Errno.None || dir is null)
            {
                continue;
            }

            foreach (var (name, ino) in fs.Directories.List(dir))
            {
                var path = at.Path + "/" + name;
                if (fs.Inodes.Read(ino, out var child, out var why) != Errno.None || child is null)
                {
                    problem($"(tree) {path} points at inode {ino}, which {why ?? "is free"}");
                    continue;
                }

                tree[path] = (ino, child.IsDirectory);
                if (child.IsDirectory)
                {
                    pending.Push((ino, path));
                }
            }
        }

        return tree;
    }

    // Each file reached by a name the tree check matched: its data and size against its history.
    private void CheckFiles(FsMount fs, CrashImageDisk disk, SortedDictionary<string, (ulong Ino, bool IsDirectory)> tree, Dictionary<string, int> owners, int crashAt, Action<string> problem)
    {
        var g = fs.Superblock.Geometry;
        foreach (var group in owners.GroupBy(o => o.Value))
        {
            var path = group.Select(o => o.Key).Order(StringComparer.Ordinal).First();
            var f = _files[group.Key];
            if (fs.Inodes.Read(tree[path].Ino, out var inode, out var why) != Errno.None || inode is null)
            {
                problem($"(data) {path} ({f.Label}): inode {tree[path].Ino} cannot be read: {why}");
                continue;
            }

            if (inode.FileSize > 64L << 20)
            {
                problem($"(size) {path} ({f.Label}): size {inode.FileSize}, larger than anything the workload wrote");
                continue;
            }

            var data = ReadFile(disk, inode, g.BlockSize);
            CheckFile(f, inode.FileSize, data, crashAt, $"{path} ({f.Label})", problem);
        }
    }

    private static byte[] ReadFile(CrashImageDisk disk, DiskInode inode, int blockSize)
    {
        var size = inode.FileSize;
        var data = new byte[size];
        var spb = (ulong)(blockSize / Sector);
        foreach (var e in inode.Extents.Where(e => e.State == ExtentState.Written))
        {
            var from = (long)e.FileBlock * blockSize;
            if (from >= size)
            {
                continue;
            }

            var blocks = new byte[(long)e.Length * blockSize];
            disk.ReadContent(e.DiskBlock * spb, blocks);
            var n = (int)Math.Min(blocks.LongLength, size - from);
            blocks.AsSpan(0, n).CopyTo(data.AsSpan((int)from));
        }

        return data;
    }

    private void CheckFile(CrashFile f, long size, byte[] data, int crashAt, string where, Action<string> problem)
    {
        var ops = f.Ops;

        // Ops that returned before the crash, and ops that had started (their data may be there).
        var returned = Math.Max(0, ops.FindLastIndex(o => o.End <= crashAt));
        var started = Math.Max(returned, ops.FindLastIndex(o => o.Start < crashAt));
        CheckSize(ops, returned, started, size, crashAt, where, problem);

        // The data: each sector inside the size is this file's, for that sector, with a
        // generation the sector had at the last op that made it durable or since.
        var bad = 0;
        for (long s = 0; s * Sector < size; s++)
        {
            var c = CrashStamp.Read(data.AsSpan((int)(s * Sector), (int)Math.Min(Sector, size - (s * Sector))));
            var at = $"(data) {where}, sector {s} (size {size})";
            string? wrong = null;
            if (c.Kind == CrashSectorKind.Garbage)
            {
                wrong = $"{at}: holds data no file wrote (metadata, stale blocks or a torn stamp)";
            }
            else if (c.Kind == CrashSectorKind.Stamp && (c.FileId != f.Id || c.FileSector != s))
            {
                var whose = _files.TryGetValue(c.FileId, out var other) ? other.Label : "?";
                wrong = $"{at}: holds file {whose}'s data for its sector {c.FileSector} (generation {c.Gen})";
            }
            else
            {
                wrong = CheckGeneration(ops, returned, started, s, c.Kind == CrashSectorKind.Zeros ? 0 : c.Gen, crashAt, at);
            }

            if (wrong is not null && ++bad <= MaxSectorProblemsPerFile)
            {
                problem(wrong);
            }
        }

        if (bad > MaxSectorProblemsPerFile)
        {
            problem($"(data) {where}: {bad - MaxSectorProblemsPerFile} more sectors are wrong");
        }
    }

    // The size: within the sizes the file went through since the last op that made its size
    // durable; and at least the end of every O_DSYNC write since, unless a later op cut it.
    private static void CheckSize(List<CrashFileOp> ops, int returned, int started, long size, int crashAt, string where, Action<string> problem)
    {
        var floor = Math.Max(0, ops.FindLastIndex(returned, o => o.SizeDurable && o.End <= crashAt));
        var lo = ops[floor].Size;
        var hi = lo;
        for (var j = floor + 1; j <= started; j++)
        {
            lo = Math.Min(lo, ops[j].Size);
            hi = Math.Max(hi, ops[j].Size);
        }

        if (size < lo || size > hi)
        {
            problem($"(size) {where}: size {size}, expected [{lo}, {hi}] (the size made durable by '{ops[floor].Name}' and the sizes since)");
        }

        for (var j = floor + 1; j <= returned; j++)
        {
            if (ops[j].DsyncEnd == 0 || ops[j].End > crashAt)
            {
                continue;
            }

            var required = ops[j].DsyncEnd;
            for (var k = j + 1; k <= started; k++)
            {
                required = Math.Min(required, ops[k].Size);
            }

            if (size < required)
            {
                problem($"(size) {where}: size {size}, but '{ops[j].Name}' returned and made {required} bytes durable");
            }
        }
    }

    private static string? CheckGeneration(List<CrashFileOp> ops, int returned, int started, long s, int gen, int crashAt, string at)
    {
        var floor = returned;
        while (floor > 0 && !(ops[floor].End <= crashAt && ops[floor].CoverFrom <= s && s < ops[floor].CoverTo))
        {
            floor--;
        }

        for (var j = floor; j <= started; j++)
        {
            if (ops[j].Content.GetValueOrDefault(s) == gen)
            {
                return null;
            }
        }

        var since = string.Join(", ", ops.Skip(floor + 1).Take(started - floor).Select(o => Describe(o.Content.GetValueOrDefault(s))).Distinct(StringComparer.Ordinal));
        return $"{at}: holds {Describe(gen)}; after '{ops[floor].Name}' made it durable it held {Describe(ops[floor].Content.GetValueOrDefault(s))}{(since.Length == 0 ? string.Empty : ", and since then " + since)}";

        static string Describe(int g) => g == 0 ? "zeros" : $"generation {g}";
    }
}
