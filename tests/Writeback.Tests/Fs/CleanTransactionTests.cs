using System.Runtime.ExceptionServices;
using Writeback.Block;
using Writeback.Fs;
using Writeback.Fs.Buffer;
using Writeback.Fs.Format;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Fs;

/// <summary>Clean transactions, in both completion modes: a transaction that joined no buffer —
/// an operation that failed its own checks (ENOENT, EEXIST, ENOTEMPTY…) or found nothing to
/// change — commits without any I/O and is not counted as a log commit, as XFS frees a
/// transaction without XFS_TRANS_DIRTY. So a one-shot metadata write fault is not spent (and
/// the filesystem not shut down) by an operation that changes nothing; and fsync, which no
/// longer gets a cache flush from anyone's empty commit, still flushes on its own.</summary>
public class CleanTransactionTests
{
    private const int Kib = 1024;

    private static readonly string[] s_failingOps =
    [
        "unlink-enoent", "rmdir-enoent", "rmdir-enotempty", "rmdir-enotdir", "unlink-eisdir",
        "rename-enoent", "rename-into-itself", "rename-over-nonempty", "rename-to-own-link",
        "link-eexist", "link-enoent", "create-eexist", "mkdir-eexist", "open-creat-existing",
    ];

    public static TheoryData<CompletionMode, string> FailingOperations()
    {
        var data = new TheoryData<CompletionMode, string>();
        foreach (var mode in new[] { CompletionMode.Irq, CompletionMode.Task })
        {
            foreach (var op in s_failingOps)
            {
                data.Add(mode, op);
            }
        }

        return data;
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void Commit_OfATransactionThatJoinedNoBuffer_WritesNothing_AndIsNotALogCommit(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        var geometry = FsGeometry.For(8L << 20);
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = 8L << 20 });
            var journal = Writeback.Fs.Journal.Journal.Create(new BufTarget(disk, mode, geometry.BlockSize), geometry);
            var target = new BufTarget(disk, mode, geometry.BlockSize);
            journal = Writeback.Fs.Journal.Journal.Recover(target, geometry);
            var log = disk.StartWriteLog();
            var (commits, clean) = (journal.Commits, journal.CleanCommits);

            var tx = journal.Begin();
            Assert.Equal(Errno.None, tx.Commit());

            Assert.Empty(log.Entries);
            Assert.Equal(commits, journal.Commits);
            Assert.Equal(clean + 1, journal.CleanCommits);

            // The next dirty one is written as usual: the log's head did not move for the clean one.
            tx = journal.Begin();
            var bp = target.Get(geometry.DataStart + 1);
            bp.Data[0] = 42;
            tx.Join(bp, releaseAtCommit: true);
            Assert.Equal(Errno.None, tx.Commit());
            Assert.Equal(commits + 1, journal.Commits);
            Assert.Contains(log.Entries, e => e.Kind == WriteLogEntryKind.Flush);
            disk.PowerCut();
            Assert.Equal(1, Writeback.Fs.Journal.Journal.Recover(new BufTarget(disk, mode, geometry.BlockSize), geometry).Replayed);
        });
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [MemberData(nameof(FailingOperations))]
    public void NamespaceOperation_ThatChangesNothing_WritesNoBioToTheDevice(CompletionMode mode, string op)
    {
        OnMachine(m =>
        {
            var (disk, fs) = Fresh(m, mode);
            Populate(fs);
            var log = disk.StartWriteLog();
            var journal = fs.Meta.Journal;
            var (commits, clean, flushes, submitted) = (journal.Commits, journal.CleanCommits, disk.Flushes, CountWrites(log));

            Assert.Equal(Expected(op), Run(fs, op));

            Assert.Equal(submitted, CountWrites(log));
            Assert.Equal(flushes, disk.Flushes);
            Assert.Equal(commits, journal.Commits);
            Assert.True(journal.CleanCommits > clean, "the operation should have ended a clean transaction");
            Assert.False(fs.IsShutdown);
            Assert.Equal(Errno.None, fs.Unmount());
        });
    }

    [Theory]
    [MemberData(nameof(FailingOperations))]
    public void OneShotMetadataWriteFault_IsNotSpentByAnOperationThatChangesNothing_AndTheNextChangeHitsIt(CompletionMode mode, string op)
    {
        OnMachine(m =>
        {
            var (disk, fs) = Fresh(m, mode);
            Populate(fs);
            disk.AddFault(new FaultRule { Op = BioOp.Write, Metadata = true, Count = 1 });

            Assert.Equal(Expected(op), Run(fs, op));
            Assert.False(fs.IsShutdown, $"{op} changed nothing, yet the filesystem shut down");
            Assert.Equal(0, disk.FaultsInjected);
            Assert.Equal(Errno.None, fs.Meta.Lookup("/b", out _));

            Assert.Equal(Errno.EIO, fs.Meta.Link("/b", "/e/b2"));
            Assert.True(fs.IsShutdown);
            Assert.Equal(1, disk.FaultsInjected);
            Assert.Equal(Errno.None, fs.Unmount());
        });
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void FailingLink_WithAOneShotMetadataWriteFault_ReturnsEexist_AndLeavesTheFilesystemUp(CompletionMode mode)
    {
        OnMachine(m =>
        {
            var (disk, fs) = Fresh(m, mode);
            Populate(fs);
            disk.AddFault(new FaultRule { Op = BioOp.Write, Metadata = true, Count = 1 });

            Assert.Equal(Errno.EEXIST, fs.Meta.Link("/b", "/d/a"));
            Assert.False(fs.IsShutdown);
            Assert.Equal(Errno.EEXIST, fs.Meta.Link("/b", "/d/a"));
            Assert.False(fs.IsShutdown);

            // The first real change takes the fault: the log write fails and the filesystem stops.
            Assert.Equal(Errno.EIO, fs.Meta.Unlink("/d/c"));
            Assert.True(fs.IsShutdown);
            Assert.Equal(1, disk.FaultsInjected);
            Assert.Equal(Errno.None, fs.Unmount());
        });
    }

    [Theory]
    [InlineData(CompletionMode.Irq, false)]
    [InlineData(CompletionMode.Irq, true)]
    [InlineData(CompletionMode.Task, false)]
    [InlineData(CompletionMode.Task, true)]
    public void Fsync_WithNothingToLog_StillFlushesTheDeviceCache(CompletionMode mode, bool dataOnly)
    {
        OnMachine(m =>
        {
            var (disk, fs) = Fresh(m, mode);
            Populate(fs);
            Assert.Equal(Errno.None, fs.Open("/b", OpenFlags.None, out var b));
            var (commits, flushes) = (fs.Meta.Journal.Commits, disk.Flushes);

            Assert.Equal(Errno.None, dataOnly ? b!.Fdatasync() : b!.Fsync());

            Assert.Equal(commits, fs.Meta.Journal.Commits);
            Assert.Equal(flushes + 1, disk.Flushes);
            Assert.Equal(Errno.None, b.Close());
            Assert.Equal(Errno.None, fs.Unmount());
        });
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void DsyncDirectOverwrite_OnADeviceWithoutFua_FlushesTheCache_WithoutALogCommit(CompletionMode mode)
    {
        OnMachine(m =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = 32L << 20, Fua = false });
            FileSystem.Mkfs(disk, mode: mode);
            var cache = PageCache.Create(m, new PageCacheOptions { Mode = mode, DirtyWritebackCentisecs = 0 });
            Assert.Equal(Errno.None, FileSystem.Mount(disk, cache, out var fs, out _));
            Populate(fs!);
            Assert.Equal(Errno.None, fs!.Open("/b", OpenFlags.Direct | OpenFlags.Dsync, out var b));
            var (commits, flushes) = (fs.Meta.Journal.Commits, disk.Flushes);

            Assert.Equal(Errno.None, b!.Write(4 * Kib, FsFixture.Pattern(7, 4 * Kib), out var written));

            Assert.Equal(4 * Kib, written);
            Assert.Equal(commits, fs.Meta.Journal.Commits);
            Assert.True(disk.Flushes > flushes, "an O_DSYNC overwrite that is not written through must flush the cache");
            Assert.Equal(Errno.None, b.Close());
            Assert.Equal(Errno.None, fs.Unmount());
        });
    }

    // ---------------------------------------------------------------- helpers

    private static Errno Expected(string op) => op switch
    {
        "unlink-enoent" or "rmdir-enoent" or "rename-enoent" or "link-enoent" => Errno.ENOENT,
        "rmdir-enotempty" or "rename-over-nonempty" => Errno.ENOTEMPTY,
        "rmdir-enotdir" => Errno.ENOTDIR,
        "unlink-eisdir" => Errno.EISDIR,
        "rename-into-itself" => Errno.EINVAL,
        "link-eexist" or "create-eexist" or "mkdir-eexist" => Errno.EEXIST,
        _ => Errno.None,
    };

    private static Errno Run(FileSystem fs, string op)
    {
        switch (op)
        {
            case "unlink-enoent": return fs.Meta.Unlink("/d/missing");
            case "rmdir-enoent": return fs.Meta.Rmdir("/missing");
            case "rmdir-enotempty": return fs.Meta.Rmdir("/d");
            case "rmdir-enotdir": return fs.Meta.Rmdir("/b");
            case "unlink-eisdir": return fs.Meta.Unlink("/e");
            case "rename-enoent": return fs.Meta.Rename("/d/missing", "/e/x");
            case "rename-into-itself": return fs.Meta.Rename("/d", "/d/sub");
            case "rename-over-nonempty": return fs.Meta.Rename("/e", "/d");
            case "rename-to-own-link": return fs.Meta.Rename("/b", "/d/b-link");
            case "link-eexist": return fs.Meta.Link("/b", "/d/a");
            case "link-enoent": return fs.Meta.Link("/missing", "/e/x");
            case "create-eexist": return fs.Meta.Create("/d/a");
            case "mkdir-eexist": return fs.Meta.Mkdir("/e");
            default:
                var err = fs.Open("/d/a", OpenFlags.Create, out var f);
                return err != Errno.None ? err : f!.Close();
        }
    }

    private static int CountWrites(WriteLog log) => log.Entries.Count(e => e.Kind != WriteLogEntryKind.Mark);

    private static void OnMachine(Action<Machine> body)
    {
        using var m = MachineFixture.Create(cpus: 2);
        var failure = MachineFixture.RunGuarded(m, () => body(m));
        if (failure is not null)
        {
            ExceptionDispatchInfo.Capture(failure).Throw();
        }

        MachineFixture.AssertClean(m);
    }

    private static (MemDisk Disk, FileSystem Fs) Fresh(Machine m, CompletionMode mode)
    {
        var (disk, _, fs) = FsFixture.Fresh(m, mode, cacheOptions: new PageCacheOptions { Mode = mode, DirtyWritebackCentisecs = 0 });
        return (disk, fs);
    }

    // /d/a (40 KiB), /d/c (empty), /d/b-link (a second name of /b), /b (20 KiB), /e (empty
    // directory): all committed, data on disk, the log checkpointed.
    private static void Populate(FileSystem fs)
    {
        Assert.Equal(Errno.None, fs.Meta.Mkdir("/d"));
        Assert.Equal(Errno.None, fs.Meta.Mkdir("/e"));
        foreach (var (path, seed, length) in new[] { ("/d/a", 1, 40 * Kib), ("/d/c", 2, 0), ("/b", 3, 20 * Kib) })
        {
            Assert.Equal(Errno.None, fs.Open(path, OpenFlags.Create, out var f));
            if (length > 0)
            {
                Assert.Equal(Errno.None, f!.Write(0, FsFixture.Pattern(seed, length), out _));
            }

            Assert.Equal(Errno.None, f!.Fsync());
            Assert.Equal(Errno.None, f.Close());
        }

        Assert.Equal(Errno.None, fs.Meta.Link("/b", "/d/b-link"));
        Assert.Equal(Errno.None, fs.Meta.Journal.Checkpoint());
    }
}
