using Writeback.Block;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Mm;

/// <summary>Dirty throttling, the flusher's periodic and background passes, sync, and reclaim
/// under a page-cache memory limit (KERNEL-REFERENCE.md §5.4).</summary>
public class ThrottleReclaimTests
{
    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void Throttling_KeepsDirtyMemoryUnderTheHardThreshold(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        long worst = 0;
        long hard = 0;
        long pauses = 0;
        long background = 0;
        m.Run(() =>
        {
            var (bdev, _, cache) = Setup(m, mode, new PageCacheOptions { Mode = mode, MemoryLimitBytes = 4 << 20 });
            hard = cache.DirtyThresholdPages;
            var page = new byte[4096];
            for (var i = 0; i < 3 * 1024; i++)
            {
                bdev.Write(i % 4096 * 4096L, page);
                worst = Math.Max(worst, cache.NrDirty + cache.NrWriteback);
            }

            pauses = cache.ThrottlePauses;
            background = bdev.Bdi.BackgroundPasses;
            Assert.Equal(Errno.None, bdev.Bdi.SyncAll());
            Assert.Equal(0, cache.NrDirty);
        });
        Assert.True(worst <= hard, $"dirty + writeback reached {worst} pages, hard threshold {hard}");
        Assert.True(pauses > 0, "the writer was never paused");
        Assert.True(background > 0, "the flusher never ran a background pass");
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void Reclaim_KeepsTheCacheUnderItsLimit_WhileAWorkloadTenTimesLargerCompletesCorrectly(CompletionMode mode)
    {
        const int limitPages = 256;
        const int pages = 10 * limitPages;
        using var m = MachineFixture.Create(cpus: 2);
        long largest = 0;
        long reclaimed = 0;
        var wrong = new List<int>();
        m.Run(() =>
        {
            var (bdev, _, cache) = Setup(m, mode, new PageCacheOptions { Mode = mode, MemoryLimitBytes = limitPages * 4096L });
            for (var p = 0; p < pages; p++)
            {
                bdev.Write(p * 4096L, Page(p));
                largest = Math.Max(largest, cache.NrCached);
            }

            Assert.Equal(Errno.None, bdev.Bdi.SyncAll());
            var buffer = new byte[4096];
            for (var p = 0; p < pages; p++)
            {
                bdev.Read(p * 4096L, buffer);
                largest = Math.Max(largest, cache.NrCached);
                if (!buffer.AsSpan().SequenceEqual(Page(p)))
                {
                    wrong.Add(p);
                }
            }

            reclaimed = cache.Reclaimed;
        });
        Assert.Empty(wrong);
        Assert.True(largest <= limitPages, $"the cache held {largest} pages, limit {limitPages}");
        Assert.True(reclaimed >= pages - limitPages, $"reclaimed {reclaimed}");
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void PeriodicFlush_WritesDataOlderThanTheExpireInterval_WithoutFsync()
    {
        using var m = MachineFixture.Create(cpus: 2);
        var onDisk = new byte[4096];
        long periodic = 0;
        m.Run(() =>
        {
            var options = new PageCacheOptions { DirtyExpireCentisecs = 10, DirtyWritebackCentisecs = 5 };
            var (bdev, disk, _) = Setup(m, CompletionMode.Irq, options);
            bdev.Write(8192, Page(2));
            m.Msleep(400);
            disk.ReadContent(16, onDisk);
            periodic = bdev.Bdi.PeriodicPasses;
        });
        Assert.Equal(Page(2), onDisk);
        Assert.True(periodic > 0);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void AllocFolio_WithTheCacheFullOfDirtyFoliosAndNoBackingDevice_FailsInsteadOfWaitingForever()
    {
        using var m = MachineFixture.Create();
        Exception? failure = null;
        m.Run(() =>
        {
            var cache = PageCache.Create(m, new PageCacheOptions { MemoryLimitBytes = 16 * 4096 });
            var mapping = new AddressSpace(cache);
            failure = Record.Exception(() =>
            {
                for (ulong i = 0; i < 32; i++)
                {
                    var folio = cache.AllocFolio();
                    mapping.AddFolio(folio, i);
                    folio.MarkDirty();
                    folio.Unlock();
                    folio.Put();
                }
            });
        });
        var oom = Assert.IsType<InsufficientMemoryException>(failure);
        Assert.Contains("no backing device", oom.Message, StringComparison.Ordinal);
        MachineFixture.AssertClean(m);
    }

    private static (BlockDeviceCache Bdev, MemDisk Disk, PageCache Cache) Setup(Machine m, CompletionMode mode, PageCacheOptions options)
    {
        var layer = BlockLayer.Create(m);
        var disk = new MemDisk(layer, new DiskOptions { CapacityBytes = 16 << 20 });
        var cache = PageCache.Create(m, options with { Mode = mode });
        return (new BlockDeviceCache(cache, disk), disk, cache);
    }

    private static byte[] Page(int p) => Enumerable.Range(0, 4096).Select(i => (byte)((i * 31) + p)).ToArray();
}
