using Writeback.Block;
using Writeback.Fs;
using Writeback.Fs.Format;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Fs;

/// <summary>The consistency check: clean after real work, catching planted damage, and — with
/// the device write log — clean after a crash at every write of a metadata workload, holding
/// exactly the operations whose transactions had committed.</summary>
public class FsckTests
{
    [Fact]
    public void Check_FindsPlantedDamage()
    {
        using var m = MachineFixture.Create(cpus: 2);
        IReadOnlyList<string> clean = [];
        IReadOnlyList<string> damaged = [];
        m.Run(() =>
        {
            var fs = Fresh(m, out _);
            fs.Mkdir("/d");
            fs.Create("/d/f");
            clean = Fsck.Check(fs);
            var tx = fs.Journal.Begin();
            fs.Inodes.Allocate(tx, FsMount.FileMode, 0, out _);
            fs.Allocator.Allocate(tx, 1, fs.Superblock.Geometry.DataStart + 500, out _, out _);
            tx.Commit();
            damaged = Fsck.Check(fs);
        });
        Assert.Empty(clean);
        Assert.Contains(damaged, p => p.Contains("not reachable from the root", StringComparison.Ordinal));
        Assert.Contains(damaged, p => p.Contains("marked used but owned by no inode", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void ACrashAtEveryWrite_OfAMetadataWorkload_MountsChecksCleanAndHoldsTheCommittedOperations(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        var problems = new List<string>();
        var crashes = 0;
        m.Run(() =>
        {
            var fs = Fresh(m, out var disk, mode);
            var log = disk.StartWriteLog();
            var committedAt = new List<(int Started, int Entries, string Tree)>();
            void Op(Func<Errno> op)
            {
                var started = log.Entries.Count;
                Assert.Equal(Errno.None, op());
                committedAt.Add((started, log.Entries.Count, Tree(fs)));
            }

            var initial = Tree(fs);
            Op(() => fs.Mkdir("/a"));
            Op(() => fs.Create("/a/x"));
            Op(() => fs.Create("/a/y"));
            Op(() => fs.Rename("/a/x", "/z"));
            Op(() => fs.Link("/z", "/a/z2"));
            Op(() => fs.Unlink("/a/y"));
            Op(() => fs.Mkdir("/b"));
            Op(() => fs.Rmdir("/b"));
            Assert.Equal(Errno.None, fs.Unmount());

            var entries = log.Entries.Count;
            for (var n = 0; n <= entries; n++)
            {
                var image = log.Rebuild(n);
                var crashed = new MemDisk(disk.Layer, new DiskOptions { Name = $"crash{n}", CapacityBytes = 16L << 20 }, image);
                if (FsMount.Mount(crashed, mode, out var again, out var problem) != Errno.None)
                {
                    problems.Add($"after {n} writes: mount failed: {problem}");
                    continue;
                }

                crashes++;
                problems.AddRange(Fsck.Check(again!).Select(p => $"after {n} writes: {p}"));
                // An operation may take more than one transaction (the last unlink of a file frees
                // its blocks in another): a crash inside it shows the tree before or after it.
                var expected = committedAt.LastOrDefault(c => c.Entries <= n).Tree ?? initial;
                var inside = committedAt.Find(c => c.Started < n && n < c.Entries).Tree;
                var got = Tree(again!);
                if (got != expected && got != inside)
                {
                    problems.Add($"after {n} writes: tree {got}, expected {expected}{(inside is null ? string.Empty : " or " + inside)}");
                }
            }
        });
        Assert.Empty(problems);
        Assert.True(crashes > 20, $"{crashes} crash points");
        MachineFixture.AssertClean(m);
    }

    private static FsMount Fresh(Machine m, out MemDisk disk, CompletionMode mode = CompletionMode.Irq)
    {
        disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = 16L << 20 });
        Mkfs.Format(disk, FsGeometry.For(16L << 20), Guid.Empty, mode);
        Assert.Equal(Errno.None, FsMount.Mount(disk, mode, out var fs, out _));
        return fs!;
    }

    private static string Tree(FsMount fs)
    {
        var lines = new List<string>();
        void Walk(string dir)
        {
            fs.ReadDir(dir, out var entries);
            foreach (var (name, _) in entries.OrderBy(e => e.Name, StringComparer.Ordinal))
            {
                fs.Lookup(dir + name, out var inode);
                lines.Add(dir + name + (inode!.IsDirectory ? "/" : $"({inode.Nlink})"));
                if (inode.IsDirectory)
                {
                    Walk(dir + name + "/");
                }
            }
        }

        Walk("/");
        return string.Join(' ', lines);
    }
}
