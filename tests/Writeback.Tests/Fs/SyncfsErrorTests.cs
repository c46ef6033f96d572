using System.Runtime.ExceptionServices;
using Writeback.Block;
using Writeback.Fs;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Fs;

/// <summary>syncfs's per-filesystem error reporting (the superblock's errseq, sb-&gt;s_wb_err, and
/// each open file's f_sb_err), in both completion modes: a failed data write on one file is
/// reported by syncfs exactly once to every file description on that filesystem — whichever file
/// it is open on — and never to one on another filesystem; a description opened while the error
/// is unseen is told, one opened after everyone saw it is not (fstests generic/487, for syncfs);
/// sync(2) and fsync move no syncfs sample, and syncfs moves no fsync sample.</summary>
public class SyncfsErrorTests
{
    private const int Kib = 1024;
    private const int Handles = 10;

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void AFailedDataWriteOnOneFile_IsReportedBySyncfsOnceToEveryFileDescriptionOfTheFilesystem_AndToNoOtherFilesystem(CompletionMode mode)
    {
        var results = new Dictionary<string, List<Errno>>(StringComparer.Ordinal);
        OnMachine(m =>
        {
            var (disk, fs, other) = TwoFilesystems(m, mode);
            var handles = Enumerable.Range(0, Handles).Select(i => Open(fs, i % 2 == 0 ? "/A" : "/B")).ToList();
            var elsewhere = Open(other, "/C");

            // The error happens inside the first syncfs's own writeback.
            Assert.Equal(Errno.None, handles[0].Write(0, FsFixture.Pattern(5, 16 * Kib), out _));
            disk.AddFault(new FaultRule { Op = BioOp.Write, Metadata = false });
            Note(results, "first syncfs", handles[0].Syncfs());
            disk.ClearFaults();
            Assert.False(fs.IsShutdown, "a data write error must not shut the filesystem down");
            Assert.True(disk.FaultsInjected > 0, "the data write was never failed");

            Note(results, "elsewhere 1st", elsewhere.Syncfs());
            foreach (var h in handles.Skip(1))
            {
                Note(results, "1st", h.Syncfs());
            }

            foreach (var h in handles)
            {
                Note(results, "2nd", h.Syncfs());
            }

            Note(results, "elsewhere 2nd", elsewhere.Syncfs());
            var after = Open(fs, "/B");
            Note(results, "opened after all saw", after.Syncfs());

            // The file's own errseq is separate: fsync on A still reports once per description;
            // B never failed.
            foreach (var h in handles)
            {
                Note(results, h.Inode.Number == handles[0].Inode.Number ? "fsync A" : "fsync B", h.Fsync());
            }

            foreach (var h in handles.Append(elsewhere).Append(after))
            {
                Assert.Equal(Errno.None, h.Close());
            }

            Assert.Equal(Errno.None, fs.Unmount());
            Assert.Equal(Errno.None, other.Unmount());
        });
        Assert.Equal(new[] { Errno.EIO }, results["first syncfs"]);
        Assert.Equal(Enumerable.Repeat(Errno.EIO, Handles - 1), results["1st"]);
        Assert.Equal(Enumerable.Repeat(Errno.None, Handles), results["2nd"]);
        Assert.Equal(new[] { Errno.None }, results["elsewhere 1st"]);
        Assert.Equal(new[] { Errno.None }, results["elsewhere 2nd"]);
        Assert.Equal(new[] { Errno.None }, results["opened after all saw"]);
        Assert.Equal(Enumerable.Repeat(Errno.EIO, Handles / 2), results["fsync A"]);
        Assert.Equal(Enumerable.Repeat(Errno.None, Handles / 2), results["fsync B"]);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void SyncAndFsync_LeaveTheSyncfsSamples_SoAFileOpenedWhileTheErrorIsUnseenIsToldAndOneOpenedAfterIsNot(CompletionMode mode)
    {
        var results = new Dictionary<string, List<Errno>>(StringComparer.Ordinal);
        OnMachine(m =>
        {
            var (disk, fs, other) = TwoFilesystems(m, mode);
            var handles = Enumerable.Range(0, Handles).Select(i => Open(fs, i % 3 == 0 ? "/A" : "/B")).ToList();
            var elsewhere = Open(other, "/C");

            // sync(2) finds the error (its legacy report-once result) but marks nothing seen.
            Assert.Equal(Errno.None, handles[0].Write(4 * Kib, FsFixture.Pattern(6, 8 * Kib), out _));
            disk.AddFault(new FaultRule { Op = BioOp.Write, Metadata = false });
            Note(results, "sync", fs.Sync());
            disk.ClearFaults();
            Note(results, "sync again", fs.Sync());
            Note(results, "other sync", other.Sync());
            Assert.NotEqual(0u, fs.SbWbErr.Value);
            Assert.Equal(0u, fs.SbWbErr.Value & Writeback.Lib.Errseq.Seen);
            Assert.Equal(0u, other.SbWbErr.Value);

            // Opened while the error is still unseen: told, once.
            var unseen = Open(fs, "/B");
            Note(results, "unseen 1st", unseen.Syncfs());
            Note(results, "unseen 2nd", unseen.Syncfs());

            // An fsync of A on a description consumes its file sample, not its syncfs one.
            Note(results, "fsync A", handles[0].Fsync());
            foreach (var h in handles)
            {
                Note(results, "1st", h.Syncfs());
            }

            foreach (var h in handles.Append(unseen).Append(elsewhere))
            {
                Note(results, "2nd", h.Syncfs());
            }

            var after = Open(fs, "/A");
            Note(results, "opened after all saw", after.Syncfs());
            foreach (var h in handles.Append(unseen).Append(elsewhere).Append(after))
            {
                Assert.Equal(Errno.None, h.Close());
            }

            Assert.Equal(Errno.None, fs.Unmount());
            Assert.Equal(Errno.None, other.Unmount());
        });
        Assert.Equal(new[] { Errno.EIO }, results["sync"]);
        Assert.Equal(new[] { Errno.None }, results["sync again"]);
        Assert.Equal(new[] { Errno.None }, results["other sync"]);
        Assert.Equal(new[] { Errno.EIO }, results["unseen 1st"]);
        Assert.Equal(new[] { Errno.None }, results["unseen 2nd"]);
        Assert.Equal(new[] { Errno.EIO }, results["fsync A"]);
        Assert.Equal(Enumerable.Repeat(Errno.EIO, Handles), results["1st"]);
        Assert.Equal(Enumerable.Repeat(Errno.None, Handles + 2), results["2nd"]);
        Assert.Equal(new[] { Errno.None }, results["opened after all saw"]);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void Syncfs_AfterClose_IsEbadf_AndWithoutAnyError_FlushesTheDevice(CompletionMode mode)
    {
        OnMachine(m =>
        {
            var (disk, fs, other) = TwoFilesystems(m, mode);
            var f = Open(fs, "/A");
            Assert.Equal(Errno.None, f.Write(0, FsFixture.Pattern(7, 8 * Kib), out _));
            var flushes = disk.Flushes;
            Assert.Equal(Errno.None, f.Syncfs());
            Assert.True(disk.Flushes > flushes, "syncfs sent no cache flush");
            Assert.False(f.Aops.Mapping.Tagged(PageCacheTag.Dirty));
            Assert.Equal(Errno.None, f.Close());
            Assert.Equal(Errno.EBADF, f.Syncfs());
            Assert.Equal(Errno.None, fs.Unmount());
            Assert.Equal(Errno.None, other.Unmount());
        });
    }

    // ---------------------------------------------------------------- helpers

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

    // Two filesystems on two disks of one machine, sharing its page cache: /A and /B (16 KiB each,
    // on disk) on the first, /C on the second.
    private static (MemDisk Disk, FileSystem Fs, FileSystem Other) TwoFilesystems(Machine m, CompletionMode mode)
    {
        var layer = BlockLayer.Create(m);
        var cache = PageCache.Create(m, new PageCacheOptions { Mode = mode, DirtyWritebackCentisecs = 0 });
        var mounted = new List<(MemDisk, FileSystem)>();
        foreach (var (name, files) in new[] { ("sda", new[] { "/A", "/B" }), ("sdb", new[] { "/C" }) })
        {
            var disk = new MemDisk(layer, new DiskOptions { Name = name, CapacityBytes = 16L << 20 });
            FileSystem.Mkfs(disk, mode: mode);
            Assert.Equal(Errno.None, FileSystem.Mount(disk, cache, out var fs, out var problem));
            Assert.Null(problem);
            foreach (var path in files)
            {
                Assert.Equal(Errno.None, fs!.Open(path, OpenFlags.Create, out var f));
                Assert.Equal(Errno.None, f!.Write(0, FsFixture.Pattern(path[1], 16 * Kib), out _));
                Assert.Equal(Errno.None, f.Fsync());
                Assert.Equal(Errno.None, f.Close());
            }

            mounted.Add((disk, fs!));
        }

        return (mounted[0].Item1, mounted[0].Item2, mounted[1].Item2);
    }

    private static FsFile Open(FileSystem fs, string path)
    {
        Assert.Equal(Errno.None, fs.Open(path, OpenFlags.None, out var f));
        return f!;
    }

    private static void Note(Dictionary<string, List<Errno>> results, string what, Errno e)
    {
        if (!results.TryGetValue(what, out var list))
        {
            list = [];
            results[what] = list;
        }

        list.Add(e);
    }
}
