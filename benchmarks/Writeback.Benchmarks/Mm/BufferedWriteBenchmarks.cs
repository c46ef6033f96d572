using BenchmarkDotNet.Attributes;
using Writeback.Block;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Benchmarks.Mm;

/// <summary>4 KiB buffered writes into the page cache (no writeback: the dirty limits are above
/// the data written) by 1 or 2 tasks on the real engine, against copying the same pages into a
/// dictionary of byte arrays.</summary>
/// <remarks>Issue 5: "4 KiB buffered writes into the cache (no writeback) per second, 1 and 2
/// tasks". The mean is per write; writes per second is 1e9 / mean (ns). One machine run per
/// invocation.</remarks>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 8, invocationCount: 1)]
public class BufferedWriteBenchmarks
{
    private const int Writes = 16384;
    private readonly byte[] _page = new byte[4096];

    /// <summary>Writer tasks, one per CPU.</summary>
    [Params(1, 2)]
    public int Tasks { get; set; }

    /// <summary>Copies into a dictionary of pages (baseline).</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Writes)]
    public int Dictionary()
    {
        var pages = new Dictionary<long, byte[]>();
        for (var i = 0; i < Writes; i++)
        {
            if (!pages.TryGetValue(i, out var p))
            {
                pages[i] = p = new byte[4096];
            }

            _page.CopyTo(p, 0);
        }

        return pages.Count;
    }

    /// <summary>Buffered writes through a block device's page cache.</summary>
    [Benchmark(OperationsPerInvoke = Writes)]
    public void PageCache()
    {
        using var m = Machine.Create(new MachineOptions { Engine = EngineKind.Real, Cpus = Tasks, Lockdep = LockdepMode.Off });
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = 128L << 20 });
            var cache = Writeback.Mm.PageCache.Create(m, new PageCacheOptions { MemoryLimitBytes = 1L << 30, DirtyBytes = 1L << 30, DirtyBackgroundBytes = 1L << 30, DirtyWritebackCentisecs = 0 });
            var bdev = new BlockDeviceCache(cache, disk);
            var per = Writes / Tasks;
            var tasks = Enumerable.Range(0, Tasks).Select(t => m.Spawn($"writer{t}", () =>
            {
                for (var i = 0; i < per; i++)
                {
                    bdev.Write(((long)t * per + i) * 4096, _page);
                }
            }, t)).ToList();
            foreach (var task in tasks)
            {
                task.WaitForExit();
            }
        });
    }
}
