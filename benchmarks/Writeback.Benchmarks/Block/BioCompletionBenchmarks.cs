using System.Threading;
using BenchmarkDotNet.Attributes;
using Writeback.Block;
using Writeback.Kernel;

namespace Writeback.Benchmarks.Block;

/// <summary>Cost per bio of BIO_COMPLETE_IN_TASK against inline completion, per variant and batch
/// size, on the real engine: a submitter on CPU 0 raises hardirqs on CPU 1 that complete batches
/// of bios; inline, the callbacks run in the handler; deferred, CPU 1's kworker runs them; the run
/// ends when the last callback has run.</summary>
/// <remarks>Target (issue 4): at most 300 ns per bio extra at batch 32 for the merged variant.
/// Each invocation is one machine run that completes <see cref="Bios"/> bios, so the reported
/// mean is per bio (machine start-up included, the same in both rows); the extra is
/// <c>Deferred - Inline</c> of a row pair. V5 includes its one-jiffy delay per batch, which is the
/// point of measuring it; the machine runs at HZ=1000 so that those rows finish in minutes.
/// One invocation per iteration: a machine run is long enough to time on its own.</remarks>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 6, invocationCount: 1)]
public class BioCompletionBenchmarks
{
    /// <summary>Bios completed per invocation.</summary>
    public const int Bios = 8192;

    /// <summary>The facility's version.</summary>
    [Params(TaskCompletionVariant.Merged, TaskCompletionVariant.V4, TaskCompletionVariant.V5, TaskCompletionVariant.Cpumask)]
    public TaskCompletionVariant Variant { get; set; }

    /// <summary>Bios completed by one interrupt.</summary>
    [Params(1, 8, 32)]
    public int Batch { get; set; }

    /// <summary>Unflagged bios: the callbacks run in the interrupt handler.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Bios)]
    public void Inline() => Run(flagged: false);

    /// <summary>Flagged bios: deferred to the per-CPU batch and run by the worker.</summary>
    [Benchmark(OperationsPerInvoke = Bios)]
    public void Deferred() => Run(flagged: true);

    private void Run(bool flagged)
    {
        using var m = Machine.Create(new MachineOptions { Engine = EngineKind.Real, Cpus = 2, Lockdep = LockdepMode.Off, Hz = 1000 });
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m, new BlockLayerOptions { Variant = Variant });
            var disk = new NullDisk(layer);
            m.Spawn("bench", () => CompleteBatches(m, disk, flagged), 0).WaitForExit();
        });
        if (m.Reports.Count != 0)
        {
            throw new InvalidOperationException("the benchmark machine reported: " + m.Reports[0].Text);
        }
    }

    private void CompleteBatches(Machine m, NullDisk disk, bool flagged)
    {
        // Completions stream in on CPU 1 while the submitter on CPU 0 raises the next ones, as a
        // device completing a queue of requests does: nobody waits per batch, so the figure is
        // the completion path's cost, not a wake-up per batch.
        var done = new Completion();
        var left = Bios;
        void OnEndIo(Bio bio)
        {
            if (Interlocked.Decrement(ref left) == 0)
            {
                done.Complete();
            }
        }

        for (var n = 0; n < Bios / Batch; n++)
        {
            var bios = new Bio[Batch];
            for (var i = 0; i < bios.Length; i++)
            {
                bios[i] = new Bio(disk, BioOp.Write) { EndIoHandler = OnEndIo };
                if (flagged)
                {
                    bios[i].SetFlag(BioFlags.CompleteInTask);
                }
            }

            m.RaiseIrq(1, "bench", () =>
            {
                foreach (var bio in bios)
                {
                    bio.Endio();
                }
            });
            Context.Point();
        }

        done.WaitForCompletion();
    }

    /// <summary>A device the benchmark completes by hand.</summary>
    private sealed class NullDisk(BlockLayer layer) : BlockDevice(layer, "null0", 1 << 20)
    {
        protected override void SubmitToDriver(Bio bio) => throw new NotSupportedException("the benchmark completes bios itself");
    }
}
