using System.Threading;
using Writeback.Block;
using Writeback.Fs;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Fs;

/// <summary>Each <see cref="InjectedBug"/> flag breaks its rule where a direct check sees it, and
/// the same check holds without the flag: the negative controls a torture run must catch.</summary>
public class InjectedBugTests
{
    private const int Kib = 1024;

    private static (MemDisk Disk, FileSystem Fs) Fresh(Machine m, CompletionMode mode, BlockLayerOptions? layer = null)
    {
        var disk = new MemDisk(BlockLayer.Create(m, layer), new DiskOptions { CapacityBytes = 64L << 20 });
        FileSystem.Mkfs(disk, mode: mode);
        var cache = PageCache.Create(m, new PageCacheOptions { Mode = mode, DirtyWritebackCentisecs = 0 });
        Assert.Equal(Errno.None, FileSystem.Mount(disk, cache, out var fs, out var problem));
        Assert.Null(problem);
        return (disk, fs!);
    }

    private static Machine NewMachine(InjectedBug bug, int cpus = 2) =>
        MachineFixture.Create(cpus: cpus, configure: o => o with { InjectedBugs = bug });

    [Theory]
    [InlineData(InjectedBug.None, false)]
    [InlineData(InjectedBug.ForgetToWriteTag, true)]
    public void ForgetToWriteTag_LeavesFsyncedFoliosDirty(InjectedBug bug, bool dirtyAfterFsync)
    {
        using var m = NewMachine(bug);
        m.Run(() =>
        {
            var (_, fs) = Fresh(m, CompletionMode.Irq);
            Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.Create, out var f));
            Assert.Equal(Errno.None, f!.Write(0, new byte[64 * Kib], out _));
            Assert.Equal(Errno.None, f.Fsync());
            Assert.Equal(dirtyAfterFsync, f.Aops.Mapping.Tagged(PageCacheTag.Dirty));
            f.Close();
        });
    }

    [Theory]
    [InlineData(InjectedBug.None, 1)]
    [InlineData(InjectedBug.SkipFsyncFlush, 0)]
    public void SkipFsyncFlush_SendsNoCacheFlush_ForAnOverwriteFdatasync(InjectedBug bug, long flushes)
    {
        using var m = NewMachine(bug);
        m.Run(() =>
        {
            var (disk, fs) = Fresh(m, CompletionMode.Task);
            Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.Create, out var f));
            Assert.Equal(Errno.None, f!.Write(0, new byte[16 * Kib], out _));
            Assert.Equal(Errno.None, fs.Sync());
            Assert.Equal(Errno.None, f.Write(0, new byte[4 * Kib], out _));
            var before = disk.Flushes;
            Assert.Equal(Errno.None, f.Fdatasync());
            Assert.Equal(flushes, disk.Flushes - before);
            f.Close();
        });
    }

    [Theory]
    [InlineData(InjectedBug.None, 3)]
    [InlineData(InjectedBug.ReportErrorToOneFile, 1)]
    public void ReportErrorToOneFile_TellsOnlyTheFirstFileThatChecks(InjectedBug bug, int told)
    {
        using var m = NewMachine(bug);
        m.Run(() =>
        {
            var (disk, fs) = Fresh(m, CompletionMode.Irq);
            Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.Create, out var w));
            Assert.Equal(Errno.None, w!.Write(0, new byte[16 * Kib], out _));
            Assert.Equal(Errno.None, w.Fsync());
            var others = Enumerable.Range(0, 2).Select(_ =>
            {
                Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.None, out var h));
                return h!;
            }).ToList();
            var g = fs.Meta.Superblock.Geometry;
            disk.AddFault(new FaultRule { Op = BioOp.Write, FirstSector = g.DataStart * (ulong)(g.BlockSize / BlockDevice.SectorSize) });
            Assert.Equal(Errno.None, w.Write(0, new byte[16 * Kib], out _));
            var results = new[] { w.Fsync() }.Concat(others.Select(h => h.Fsync())).ToList();
            Assert.Equal(told, results.Count(e => e == Errno.EIO));
            disk.ClearFaults();
            foreach (var h in others.Append(w))
            {
                h.Close();
            }
        });
    }

    [Theory]
    [InlineData(InjectedBug.None, false)]
    [InlineData(InjectedBug.EndWritebackBeforeConversion, true)]
    public void EndWritebackBeforeConversion_LetsFdatawaitReturnBeforeTheConversion(InjectedBug bug, bool seen)
    {
        using var m = NewMachine(bug, cpus: 3);
        m.Run(() =>
        {
            var (_, fs) = Fresh(m, CompletionMode.Task);
            Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.Create, out var f));
            Assert.Equal(Errno.None, f!.Fallocate(0, 64 * Kib));
            Assert.Equal(Errno.None, f.Write(0, new byte[64 * Kib], out _));

            // A long transaction holds the journal, so the completion's conversion has to wait.
            var holding = new Completion();
            var release = new Completion();
            var holder = m.Spawn("holder", () => fs.Meta.RunTransaction(_ =>
            {
                holding.Complete();
                release.WaitForCompletion();
                return Errno.None;
            }), 2);
            holding.WaitForCompletion();
            var mapping = f.Aops.Mapping;
            mapping.FdatawriteRange(0, long.MaxValue);
            var returned = false;
            var waiter = m.Spawn("waiter", () =>
            {
                Assert.Equal(Errno.None, mapping.FdatawaitRange(0, long.MaxValue));
                Volatile.Write(ref returned, true);
            }, 1);
            m.Msleep(10);

            // Writeback ended while the conversion still waits for the journal: a reader (or a
            // crash) now finds the data written but its extents unwritten.
            Assert.Equal(seen, Volatile.Read(ref returned));
            release.Complete();
            waiter.WaitForExit();
            holder.WaitForExit();
            f.Close();
        });
    }

    // LoseDeferredBioOnOffline: see TaskCompletionTests.InjectedLoseDeferredBioOnOffline_LeavesABioThatNeverRuns,
    // which needs that class's CPU-offline scenario.
}
