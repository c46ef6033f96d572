using Writeback.Block;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Mm;

/// <summary>Buffered I/O on a block device's page cache and its writeback through bios, in both
/// completion modes, and writeback error reporting in the style of fstests generic/441.</summary>
public class BlockDeviceCacheTests
{
    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void BufferedWrite_Fsync_ReachesTheDisk_AndReadsBack(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        var data = Enumerable.Range(0, 20_000).Select(i => (byte)(i * 7)).ToArray();
        var fromCache = new byte[data.Length];
        var onDisk = new byte[data.Length];
        var fsync = Errno.EIO;
        BioCompletionStats? stats = null;
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m);
            var disk = new MemDisk(layer, new DiskOptions { CapacityBytes = 1 << 20 });
            var bdev = new BlockDeviceCache(PageCache.Create(m, new PageCacheOptions { Mode = mode }), disk);
            var file = bdev.Open();
            Assert.Equal(Errno.None, bdev.Write(1000, data));
            Assert.True(bdev.Mapping.Tagged(PageCacheTag.Dirty));
            fsync = file.WriteAndWaitRange(0, long.MaxValue);
            Assert.False(bdev.Mapping.Tagged(PageCacheTag.Dirty));
            Assert.False(bdev.Mapping.Tagged(PageCacheTag.Writeback));
            Assert.Equal(Errno.None, bdev.Read(1000, fromCache));
            var whole = new byte[22_016];
            disk.ReadContent(0, whole);
            whole.AsSpan(1000, data.Length).CopyTo(onDisk);
            stats = layer.Stats();
        });
        Assert.Equal(Errno.None, fsync);
        Assert.Equal(data, fromCache);
        Assert.Equal(data, onDisk);

        // Task mode flags the writeback bios (one per folio: bytes 1000 to 20999 span pages 0 to 5)
        // and they all complete through the worker.
        Assert.Equal(mode == CompletionMode.Task ? 6 : 0, stats!.Deferred);
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void WritebackError_IsReportedOnceToEachOpenFile(CompletionMode mode)
    {
        // generic/441: ten files open; a writeback error; each fsync sees it once, then success.
        using var m = MachineFixture.Create(cpus: 2);
        var first = new List<Errno>();
        var second = new List<Errno>();
        var lateOpener = Errno.EIO;
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m);
            var disk = new MemDisk(layer, new DiskOptions { CapacityBytes = 1 << 20 });
            var bdev = new BlockDeviceCache(PageCache.Create(m, new PageCacheOptions { Mode = mode }), disk);
            var files = Enumerable.Range(0, 10).Select(_ => bdev.Open()).ToList();
            disk.AddFault(new FaultRule { Op = BioOp.Write, Count = 1 });
            bdev.Write(0, new byte[4096]);
            first.AddRange(files.Select(f => f.WriteAndWaitRange(0, long.MaxValue)));
            second.AddRange(files.Select(f => f.WriteAndWaitRange(0, long.MaxValue)));
            lateOpener = bdev.Open().WriteAndWaitRange(0, long.MaxValue);
        });
        Assert.All(first, e => Assert.Equal(Errno.EIO, e));
        Assert.All(second, e => Assert.Equal(Errno.None, e));
        Assert.Equal(Errno.None, lateOpener);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void AFileOpenedWhileTheErrorIsUnseen_SeesIt()
    {
        // generic/487's other half: the sample of an unseen error is 0, so a late opener is told.
        using var m = MachineFixture.Create(cpus: 2);
        var late = Errno.None;
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m);
            var disk = new MemDisk(layer, new DiskOptions { CapacityBytes = 1 << 20 });
            var bdev = new BlockDeviceCache(PageCache.Create(m), disk);
            disk.AddFault(new FaultRule { Op = BioOp.Write, Count = 1 });
            bdev.Write(0, new byte[4096]);
            bdev.Mapping.FdatawriteRange(0, long.MaxValue);
            bdev.Mapping.WaitRange(0, long.MaxValue);
            late = bdev.Open().WriteAndWaitRange(0, long.MaxValue);
        });
        Assert.Equal(Errno.EIO, late);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void BackgroundPass_StopsAtTheBudget_IntegrityPassWritesEverything()
    {
        using var m = MachineFixture.Create(cpus: 2);
        long background = 0;
        long integrity = 0;
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m);
            var disk = new MemDisk(layer, new DiskOptions { CapacityBytes = 1 << 20 });
            var bdev = new BlockDeviceCache(PageCache.Create(m), disk);
            bdev.Write(0, new byte[16 * 4096]);
            var bg = new WritebackControl { SyncMode = WbSyncMode.None, NrToWrite = 5 };
            bdev.Writepages(bdev.Mapping, bg);
            background = bg.Written;
            var all = new WritebackControl { SyncMode = WbSyncMode.All, NrToWrite = 1 };
            bdev.Writepages(bdev.Mapping, all);
            integrity = all.Written;
            bdev.Mapping.WaitRange(0, long.MaxValue);
        });
        Assert.Equal(5, background);
        Assert.Equal(11, integrity);
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void DontcacheWrites_LeaveTheCacheAfterWritebackOnlyInTaskMode(CompletionMode mode)
    {
        // The motivation of the series: in IRQ mode writeback ends in hardirq, where the folio
        // cannot be dropped, so RWF_DONTCACHE data stays cached; in task mode it goes.
        using var m = MachineFixture.Create(cpus: 2);
        long cached = -1;
        PageCache? cache = null;
        var onDisk = new byte[8 * 4096];
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m);
            var disk = new MemDisk(layer, new DiskOptions { CapacityBytes = 1 << 20 });
            cache = PageCache.Create(m, new PageCacheOptions { Mode = mode });
            var bdev = new BlockDeviceCache(cache, disk);
            Assert.Equal(Errno.None, bdev.Write(0, Enumerable.Repeat((byte)0x5A, onDisk.Length).ToArray(), dontcache: true));
            Assert.Equal(Errno.None, bdev.Open().WriteAndWaitRange(0, long.MaxValue));
            layer.FlushDeferred();
            cached = bdev.Mapping.NrPages;
            disk.ReadContent(0, onDisk);
        });
        Assert.All(onDisk, b => Assert.Equal(0x5A, b));
        Assert.Equal(mode == CompletionMode.Task ? 0 : 8, cached);
        Assert.Equal(mode == CompletionMode.Task ? 8 : 0, cache!.DropbehindRemoved);
        Assert.Equal(mode == CompletionMode.Task ? 0 : 8, cache.DropbehindSkipped);
        MachineFixture.AssertClean(m);
    }
}
