using BenchmarkDotNet.Attributes;
using Writeback.Block;
using Writeback.Fs.Buffer;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Benchmarks.Fs;

/// <summary>The metadata buffer cache's hit path on the real engine with one CPU:
/// <see cref="BufTarget.Read"/> of a cached, valid block and <see cref="XfsBuf.Relse"/>, against
/// looking the block up in a dictionary of byte arrays.</summary>
/// <remarks>Issue: "buffer-cache hit path". The cache holds 256 valid 4 KiB blocks (read once from
/// a <see cref="MemDisk"/> at the start of the run); the loop reads and releases them round-robin.
/// Two cases of a hit:
/// <list type="bullet">
/// <item><see cref="ReadHeld"/>: every block is also held elsewhere (as the journal pins committed
/// buffers, or a transaction holds them), so it stays in the index: a lookup under the index
/// lock, the hold, the buffer lock, and the release.</item>
/// <item><see cref="ReadReclaimable"/>: the blocks are clean and unreferenced, so they sit in the
/// reclaimable tier: the lookup takes the buffer out of the tier (a <c>MemoryCache</c>) into the
/// index, and the last release puts it back (and runs the shrinker's size check). 256 blocks are
/// well under the tier's 4 MiB limit, so nothing is evicted.</item>
/// </list>
/// The mean is per lookup; lookups per second is 1e9 / mean (ns). One machine run per invocation,
/// which also creates the disk and reads the 256 blocks into the cache.</remarks>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 10, invocationCount: 1)]
public class FsMetadataBufferCacheBenchmarks
{
    private const int Lookups = 1 << 21;
    private const int BaselineLookups = 16 * Lookups;
    private const int Blocks = 256;
    private readonly Dictionary<ulong, byte[]> _blocks = [];

    /// <summary>Fills the baseline's dictionary with the same number of blocks.</summary>
    [GlobalSetup]
    public void Setup()
    {
        for (ulong b = 0; b < Blocks; b++)
        {
            _blocks[b] = new byte[4096];
        }
    }

    /// <summary>Dictionary lookups of the same blocks (baseline; 16 times as many, so that one
    /// invocation is long enough to time).</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = BaselineLookups)]
    public int Dictionary()
    {
        var sum = 0;
        for (var i = 0; i < BaselineLookups; i++)
        {
            if (_blocks.TryGetValue((ulong)(i % Blocks), out var data))
            {
                sum += data[0];
            }
        }

        return sum;
    }

    /// <summary>Hits on buffers held elsewhere: they stay in the index.</summary>
    [Benchmark(OperationsPerInvoke = Lookups)]
    public void ReadHeld() => ReadAndRelease(keepHeld: true);

    /// <summary>Hits on clean, unreferenced buffers: each moves from the reclaimable tier to the index and back.</summary>
    [Benchmark(OperationsPerInvoke = Lookups)]
    public void ReadReclaimable() => ReadAndRelease(keepHeld: false);

    private static void ReadAndRelease(bool keepHeld)
    {
        using var m = Machine.Create(new MachineOptions { Engine = EngineKind.Real, Cpus = 1, Lockdep = LockdepMode.Off });
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = 16L << 20, Latency = LatencyModel.Constant(0) });
            var target = new BufTarget(disk, CompletionMode.Irq);
            for (ulong b = 0; b < Blocks; b++)
            {
                var bp = Read(target, b);
                if (keepHeld)
                {
                    // Keep the hold, drop the lock: the buffer stays in the index, unlocked.
                    bp.Unlock();
                }
                else
                {
                    bp.Relse();
                }
            }

            var misses = target.Misses;
            var sum = 0;
            for (var i = 0; i < Lookups; i++)
            {
                var bp = Read(target, (ulong)(i % Blocks));
                sum += bp.Data[0];
                bp.Relse();
            }

            if (target.Misses != misses || sum != 0)
            {
                throw new InvalidOperationException($"{target.Misses - misses} misses in the hit loop");
            }
        });
        if (m.Reports.Count != 0)
        {
            throw new InvalidOperationException("the benchmark machine reported: " + m.Reports[0].Text);
        }
    }

    private static XfsBuf Read(BufTarget target, ulong block)
    {
        if (target.Read(block, null, out var bp) != Errno.None)
        {
            throw new InvalidOperationException($"reading block {block} failed");
        }

        return bp!;
    }
}
