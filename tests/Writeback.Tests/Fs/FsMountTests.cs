using Writeback.Block;
using Writeback.Fs;
using Writeback.Fs.Format;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Fs;

/// <summary>The namespace against a simple model, with its errors, and after a power cut.</summary>
public class FsMountTests
{
    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void NamespaceOperations_GiveTheKernelsErrors_AndTheTreeSurvivesAPowerCut(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        var results = new List<(string Op, Errno Got)>();
        var before = new List<string>();
        var after = new List<string>();
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = 16L << 20 });
            Mkfs.Format(disk, FsGeometry.For(16L << 20), Guid.Empty, mode);
            Assert.Equal(Errno.None, FsMount.Mount(disk, mode, out var fs, out var problem));
            Assert.Null(problem);
            void Do(string op, Errno got) => results.Add((op, got));
            Do("mkdir /a", fs!.Mkdir("/a"));
            Do("mkdir /a/b", fs.Mkdir("/a/b"));
            Do("create /a/f", fs.Create("/a/f"));
            Do("create /a/f again", fs.Create("/a/f"));
            Do("create /missing/x", fs.Create("/missing/x"));
            Do("create /a/f/x", fs.Create("/a/f/x"));
            Do("create long name", fs.Create("/a/" + new string('n', 256)));
            Do("rmdir /a", fs.Rmdir("/a"));
            Do("rmdir /a/f", fs.Rmdir("/a/f"));
            Do("unlink /a/b", fs.Unlink("/a/b"));
            Do("link /a/f /g", fs.Link("/a/f", "/g"));
            Do("rename /a/f /a/b/h", fs.Rename("/a/f", "/a/b/h"));
            Do("unlink /g", fs.Unlink("/g"));
            Do("rename /nope /x", fs.Rename("/nope", "/x"));
            Do("create /c", fs.Create("/c"));
            Do("rename /c /a/b/h (replace)", fs.Rename("/c", "/a/b/h"));
            Do("rmdir /a/b (not empty)", fs.Rmdir("/a/b"));
            Tree(fs, "/", before);

            disk.PowerCut();
            Assert.Equal(Errno.None, FsMount.Mount(disk, mode, out var again, out _));
            Tree(again!, "/", after);
        });
        Assert.Equal(
            [
                ("mkdir /a", Errno.None), ("mkdir /a/b", Errno.None), ("create /a/f", Errno.None),
                ("create /a/f again", Errno.EEXIST), ("create /missing/x", Errno.ENOENT), ("create /a/f/x", Errno.ENOTDIR),
                ("create long name", Errno.ENAMETOOLONG), ("rmdir /a", Errno.ENOTEMPTY), ("rmdir /a/f", Errno.ENOTDIR),
                ("unlink /a/b", Errno.EISDIR), ("link /a/f /g", Errno.None), ("rename /a/f /a/b/h", Errno.None),
                ("unlink /g", Errno.None), ("rename /nope /x", Errno.ENOENT), ("create /c", Errno.None),
                ("rename /c /a/b/h (replace)", Errno.None), ("rmdir /a/b (not empty)", Errno.ENOTEMPTY),
            ],
            results);
        Assert.Equal(["/a/", "/a/b/", "/a/b/h"], before);
        Assert.Equal(before, after);
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void RunningOutOfInodes_IsENOSPC_AndLosesNothingCommitted(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            // 1 MiB with one inode per 16 KiB: 64 inodes, the root being one.
            var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = 1L << 20 });
            Mkfs.Format(disk, FsGeometry.For(1L << 20), Guid.Empty, mode);
            Assert.Equal(Errno.None, FsMount.Mount(disk, mode, out var fs, out _));
            var made = 0;
            Errno err;
            while ((err = fs!.Create($"/f{made}")) == Errno.None)
            {
                made++;
            }

            Assert.Equal(Errno.ENOSPC, err);
            Assert.Equal(fs.Superblock.Geometry.Inodes - 2, (ulong)made);
            Assert.Equal(Errno.ENOENT, fs.Lookup($"/f{made}", out _));
            Assert.Empty(Fsck.Check(fs));

            disk.PowerCut();
            Assert.Equal(Errno.None, FsMount.Mount(disk, mode, out var again, out _));
            Assert.Equal(Errno.None, again!.ReadDir("/", out var entries));
            Assert.Equal(made, entries.Count);
            Assert.Equal(Errno.None, again.Unlink("/f0"));
            Assert.Equal(Errno.None, again.Create("/last"));
            Assert.Empty(Fsck.Check(again));
        });
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void RunningOutOfBlocks_ForDirectoryEntries_IsENOSPC_AndLosesNothingCommitted(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            // 512-byte blocks, many inodes and long names (two to a block): directory blocks run
            // out before inodes do.
            var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = 1L << 20 });
            Mkfs.Format(disk, FsGeometry.For(1L << 20, blockSize: 512, bytesPerInode: 1024), Guid.Empty, mode);
            Assert.Equal(Errno.None, FsMount.Mount(disk, mode, out var fs, out _));
            Assert.Equal(Errno.None, fs!.Create("/filler"));
            Assert.Equal(Errno.None, fs.Open("/filler", out var filler));

            // Data takes every block it may; only the set-aside pool is left, for metadata.
            Assert.Equal(Errno.None, filler!.Fallocate(0, fs.Allocator.AvailableBlocks * 512, keepSize: false));
            Assert.Equal(0, fs.Allocator.AvailableBlocks);
            Assert.Equal(Errno.ENOSPC, filler.Fallocate((long)fs.Superblock.Geometry.Blocks * 512, 512, keepSize: false));
            Assert.Equal(Errno.None, fs.Mkdir("/d"));
            var made = 0;
            Errno err;
            var pad = new string('n', 192);
            while ((err = fs.Create($"/d/{made:D8}{pad}")) == Errno.None)
            {
                made++;
            }

            Assert.Equal(Errno.ENOSPC, err);
            Assert.True(made >= 2 * (fs.Allocator.SetAside - 1), $"{made} names before ENOSPC");
            Assert.Equal(0, fs.Allocator.FreeBlocks - fs.Allocator.BusyBlocks);
            Assert.Empty(Fsck.Check(fs));
            Assert.Equal(Errno.None, fs.Irele(filler));

            disk.PowerCut();
            Assert.Equal(Errno.None, FsMount.Mount(disk, mode, out var again, out _));
            Assert.Equal(Errno.None, again!.ReadDir("/d", out var entries));
            Assert.Equal(made, entries.Count);
            Assert.Empty(Fsck.Check(again));
        });
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void Mount_OfAnUnformattedDevice_NamesTheProblem()
    {
        using var m = MachineFixture.Create(cpus: 2);
        var err = Errno.None;
        string? problem = null;
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { Name = "vdb", CapacityBytes = 16L << 20 });
            err = FsMount.Mount(disk, CompletionMode.Irq, out _, out problem);
        });
        Assert.Equal(Errno.EINVAL, err);
        Assert.StartsWith("vdb: not a Writeback filesystem", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void FileDisk_TreeSurvivesTheProcess_RemountedFromTheSameImage()
    {
        var path = Path.Combine(Path.GetTempPath(), $"wb-fs-{Guid.NewGuid():N}.img");
        try
        {
            var before = new List<string>();
            using (var m = MachineFixture.Create(cpus: 2))
            {
                m.Run(() =>
                {
                    using var disk = new FileDisk(BlockLayer.Create(m), path, new DiskOptions { CapacityBytes = 16L << 20 });
                    Mkfs.Format(disk, FsGeometry.For(16L << 20), Guid.Empty);
                    FsMount.Mount(disk, CompletionMode.Task, out var fs, out _);
                    fs!.Mkdir("/etc");
                    fs.Create("/etc/fstab");
                    fs.Mkdir("/home");
                    Assert.Equal(Errno.None, fs.Unmount());
                    Tree(fs, "/", before);
                });
            }

            var after = new List<string>();
            using (var m = MachineFixture.Create(cpus: 2))
            {
                m.Run(() =>
                {
                    using var disk = new FileDisk(BlockLayer.Create(m), path);
                    Assert.Equal(Errno.None, FsMount.Mount(disk, CompletionMode.Irq, out var fs, out _));
                    Tree(fs!, "/", after);
                });
            }

            Assert.Equal(["/etc/", "/etc/fstab", "/home/"], before);
            Assert.Equal(before, after);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public void RandomNamespaceOperations_MatchASimpleModel(int seed)
    {
        using var m = MachineFixture.Create(cpus: 2);
        var mismatches = new List<string>();
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = 16L << 20 });
            Mkfs.Format(disk, FsGeometry.For(16L << 20), Guid.Empty);
            FsMount.Mount(disk, CompletionMode.Irq, out var fs, out _);

            // The model: path -> (is a directory, which inode); a file's link count is its names.
            var model = new SortedDictionary<string, (bool Dir, int File)>(StringComparer.Ordinal);
            var nextFile = 0;
            var random = new Random(seed);
            string[] names = ["a", "b", "c", "d"];
            string RandomPath() => string.Concat(Enumerable.Range(0, 1 + random.Next(3)).Select(_ => "/" + names[random.Next(names.Length)]));
            string ParentOf(string p) => p[..p.LastIndexOf('/')];
            bool IsDir(string p) => p.Length == 0 || (model.TryGetValue(p, out var e) && e.Dir);
            bool HasChildren(string p) => model.Keys.Any(k => k.StartsWith(p + "/", StringComparison.Ordinal));
            bool ParentPathHasFile(string p)
            {
                for (var at = p.IndexOf('/', 1); at > 0; at = p.IndexOf('/', at + 1))
                {
                    if (model.TryGetValue(p[..at], out var e) && !e.Dir)
                    {
                        return true;
                    }
                }

                return false;
            }

            // What resolving the parent of p gives: ENOTDIR through a file, ENOENT through a gap.
            Errno ParentError(string p) => ParentPathHasFile(p) ? Errno.ENOTDIR : !IsDir(ParentOf(p)) ? Errno.ENOENT : Errno.None;

            Errno Expected(int op, string p, string q)
            {
                var parent = ParentError(p);
                if (parent != Errno.None)
                {
                    return parent;
                }

                if (op is 0 or 1)
                {
                    return model.ContainsKey(p) ? Errno.EEXIST : Errno.None;
                }

                if (!model.TryGetValue(p, out var entry))
                {
                    return Errno.ENOENT;
                }

                switch (op)
                {
                    case 2:
                        return entry.Dir ? Errno.EISDIR : Errno.None;
                    case 3:
                        return !entry.Dir ? Errno.ENOTDIR : HasChildren(p) ? Errno.ENOTEMPTY : Errno.None;
                    case 4:
                        if (entry.Dir)
                        {
                            return Errno.EPERM;
                        }

                        var linkParent = ParentError(q);
                        return linkParent != Errno.None ? linkParent : model.ContainsKey(q) ? Errno.EEXIST : Errno.None;
                }

                var toParent = ParentError(q);
                if (toParent != Errno.None)
                {
                    return toParent;
                }

                if (entry.Dir && q.StartsWith(p + "/", StringComparison.Ordinal))
                {
                    return Errno.EINVAL;
                }

                if (!model.TryGetValue(q, out var target) || target == entry)
                {
                    return Errno.None;
                }

                return target.Dir != entry.Dir ? (target.Dir ? Errno.EISDIR : Errno.ENOTDIR) : target.Dir && HasChildren(q) ? Errno.ENOTEMPTY : Errno.None;
            }

            void Apply(int op, string p, string q)
            {
                switch (op)
                {
                    case 0 or 1:
                        model[p] = (op == 1, nextFile++);
                        break;
                    case 2 or 3:
                        model.Remove(p);
                        break;
                    case 4:
                        model[q] = model[p];
                        break;
                    default:
                        if (model[p] == model.GetValueOrDefault(q))
                        {
                            break;
                        }

                        var moved = model.Where(kv => kv.Key == p || kv.Key.StartsWith(p + "/", StringComparison.Ordinal)).ToList();
                        foreach (var kv in model.Where(kv => kv.Key == q || kv.Key.StartsWith(q + "/", StringComparison.Ordinal)).ToList())
                        {
                            model.Remove(kv.Key);
                        }

                        foreach (var (path, e) in moved)
                        {
                            model.Remove(path);
                            model[q + path[p.Length..]] = e;
                        }

                        break;
                }
            }

            string[] opNames = ["create", "mkdir", "unlink", "rmdir", "link", "rename"];
            for (var step = 0; step < 300; step++)
            {
                var op = random.Next(6);
                var p = RandomPath();
                var q = RandomPath();
                var expected = Expected(op, p, q);
                var got = op switch
                {
                    0 => fs!.Create(p),
                    1 => fs!.Mkdir(p),
                    2 => fs!.Unlink(p),
                    3 => fs!.Rmdir(p),
                    4 => fs!.Link(p, q),
                    _ => fs!.Rename(p, q),
                };
                if (got != expected)
                {
                    mismatches.Add($"seed {seed} step {step}: {opNames[op]} {p} {(op >= 4 ? q : string.Empty)}: got {got}, model says {expected}; model {string.Join(' ', model.Keys)}");
                    break;
                }

                if (got == Errno.None)
                {
                    Apply(op, p, q);
                }
            }

            var tree = new List<string>();
            Tree(fs!, "/", tree, withLinks: true);
            var links = model.Values.Where(e => !e.Dir).GroupBy(e => e.File).ToDictionary(g => g.Key, g => g.Count());
            var expectedTree = model.Select(kv => kv.Value.Dir ? kv.Key + "/" : $"{kv.Key}({links[kv.Value.File]})").OrderBy(x => x, StringComparer.Ordinal).ToList();
            if (!tree.OrderBy(x => x, StringComparer.Ordinal).SequenceEqual(expectedTree))
            {
                mismatches.Add($"seed {seed}: tree {string.Join(' ', tree)} vs model {string.Join(' ', expectedTree)}");
            }

            mismatches.AddRange(Fsck.Check(fs!));
        });
        Assert.True(mismatches.Count == 0, string.Join('\n', mismatches));
        MachineFixture.AssertClean(m);
    }

    private static void Tree(FsMount fs, string dir, List<string> into, bool withLinks = false)
    {
        Assert.Equal(Errno.None, fs.ReadDir(dir, out var entries));
        foreach (var (name, _) in entries.OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            var path = dir + name;
            fs.Lookup(path, out var inode);
            if (inode!.IsDirectory)
            {
                into.Add(path + "/");
                Tree(fs, path + "/", into, withLinks);
            }
            else
            {
                into.Add(withLinks ? $"{path}({inode.Nlink})" : path);
            }
        }
    }
}
