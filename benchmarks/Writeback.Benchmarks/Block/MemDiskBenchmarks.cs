using System.Threading;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Writeback.Block;
using Writeback.Kernel;

namespace Writeback.Benchmarks.Block;

/// <summary>MemDisk write throughput through the model's block layer on the real engine: one
/// submitter per simulated CPU keeps the queue full of 4 KiB or 128 KiB writes; the baseline
/// copies the same bytes straight into a <see cref="DiskImage"/>.</summary>
/// <remarks>The device's service time is zero (<see cref="LatencyModel.Constant"/>), so the
/// figures are the model's own cost per bio: submission, tags, the DMA copy, the interrupt, the
/// write cache and the completion. The mean is per bio; bios per second is 1e9 / mean (ns).
/// One machine run per invocation.</remarks>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 8, invocationCount: 1)]
public class MemDiskBenchmarks
{
    private const int SmallBios = 16384;
    private const int LargeBios = 2048;
    private const long RegionBytes = 64L << 20;
    private readonly byte[] _small = new byte[4096];
    private readonly byte[] _large = new byte[128 * 1024];

    /// <summary>Simulated CPUs, one submitter each.</summary>
    [Params(1, 2, 8)]
    public int Cpus { get; set; }

    /// <summary>Fills the buffers with a pattern.</summary>
    [GlobalSetup]
    public void Setup()
    {
        for (var i = 0; i < _large.Length; i++)
        {
            _large[i] = (byte)(i * 31);
        }

        _large.AsSpan(0, _small.Length).CopyTo(_small);
    }

    /// <summary>4 KiB copies into an image (baseline).</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = SmallBios)]
    [BenchmarkCategory("4KiB")]
    public void Image4K() => CopyIntoImage(_small, SmallBios);

    /// <summary>4 KiB write bios to a MemDisk.</summary>
    [Benchmark(OperationsPerInvoke = SmallBios)]
    [BenchmarkCategory("4KiB")]
    public void MemDisk4K() => WriteThroughDisk(_small, SmallBios);

    /// <summary>128 KiB copies into an image (baseline).</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = LargeBios)]
    [BenchmarkCategory("128KiB")]
    public void Image128K() => CopyIntoImage(_large, LargeBios);

    /// <summary>128 KiB write bios to a MemDisk.</summary>
    [Benchmark(OperationsPerInvoke = LargeBios)]
    [BenchmarkCategory("128KiB")]
    public void MemDisk128K() => WriteThroughDisk(_large, LargeBios);

    private static void CopyIntoImage(byte[] buffer, int bios)
    {
        var image = new DiskImage(RegionBytes);
        var sectors = (ulong)buffer.Length / BlockDevice.SectorSize;
        var slots = (ulong)(RegionBytes / buffer.Length);
        for (var i = 0; i < bios; i++)
        {
            image.Write((ulong)i % slots * sectors, buffer);
        }
    }

    private void WriteThroughDisk(byte[] buffer, int bios)
    {
        using var m = Machine.Create(new MachineOptions { Engine = EngineKind.Real, Cpus = Cpus, Lockdep = LockdepMode.Off });
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m);
            var disk = new MemDisk(layer, new DiskOptions { CapacityBytes = RegionBytes, Latency = LatencyModel.Constant(0) });
            var perCpu = bios / Cpus;
            var tasks = Enumerable.Range(0, Cpus).Select(cpu => m.Spawn($"fio/{cpu}", () => Submit(disk, buffer, cpu, perCpu), cpu)).ToList();
            foreach (var t in tasks)
            {
                t.WaitForExit();
            }
        });
        if (m.Reports.Count != 0)
        {
            throw new InvalidOperationException("the benchmark machine reported: " + m.Reports[0].Text);
        }
    }

    private static void Submit(MemDisk disk, byte[] buffer, int cpu, int count)
    {
        var done = new Completion();
        var left = count;
        var sectors = (ulong)buffer.Length / BlockDevice.SectorSize;
        var slots = (ulong)(RegionBytes / buffer.Length);
        for (var i = 0; i < count; i++)
        {
            var bio = new Bio(disk, BioOp.Write) { Sector = (((ulong)cpu * 7919) + (ulong)i) % slots * sectors };
            bio.AddVec(buffer);
            bio.EndIoHandler = _ =>
            {
                if (Interlocked.Decrement(ref left) == 0)
                {
                    done.Complete();
                }
            };
            bio.Submit();
        }

        done.WaitForCompletion();
    }
}
