using Writeback.Block;
using Writeback.Kernel;
using Writeback.Lib;
using Writeback.Mm;

namespace Writeback.Samples.Runtime;

/// <summary>The real stack in both designs: writers on two CPUs write through a block device's
/// page cache (half of it RWF_DONTCACHE), then fsync; the disk completes each bio with an
/// interrupt.</summary>
internal sealed class PageCacheDemo(Machine machine, CompletionMode mode, int pages)
{
    /// <summary>The i_pages lock class, as lock_stat names it.</summary>
    public static string PagesClass => PageCache.PagesLockClass.Name;

    public CompletionMode Mode => mode;

    public BioCompletionStats? Completion { get; private set; }

    public PageCache? Cache { get; private set; }

    public long Bios { get; private set; }

    public long FsyncNs { get; private set; }

    public Errno FsyncResult { get; private set; } = Errno.EIO;

    /// <summary>Runs the workload; call inside <see cref="Machine.Run"/>.</summary>
    public void Main()
    {
        var layer = BlockLayer.Create(machine);
        var disk = new MemDisk(layer, new DiskOptions { CapacityBytes = 64L << 20, Affinity = IrqAffinity.RoundRobin });
        var cache = PageCache.Create(machine, new PageCacheOptions { Mode = mode });
        var bdev = new BlockDeviceCache(cache, disk);
        var file = bdev.Open();
        var data = new byte[4096];
        var writers = Enumerable.Range(0, 2).Select(w => machine.Spawn($"fio/{w}", () =>
        {
            for (var p = 0; p < pages; p++)
            {
                bdev.Write(((long)w * pages + p) * 4096, data, dontcache: p % 2 == 1);
            }
        }, w)).ToList();
        foreach (var w in writers)
        {
            w.WaitForExit();
        }

        var start = machine.NowNs;
        FsyncResult = file.WriteAndWaitRange(0, long.MaxValue);
        FsyncNs = machine.NowNs - start;
        layer.FlushDeferred();
        Completion = layer.Stats();
        Cache = cache;
        Bios = disk.Completed;
    }

    /// <summary>The i_pages hold-time histogram of the run.</summary>
    public LatencyHistogram PagesHold() =>
        machine.Lockdep.Classes.FirstOrDefault(c => c.Name == PagesClass)?.Stats.Hold ?? new LatencyHistogram();
}
