using System.Threading;
using Writeback.Kernel;

namespace Writeback.Block;

/// <summary>Chinner's alternative, the XFS inodegc pattern applied to bio completion.</summary>
/// <remarks>Per CPU a lock-free list and a work item, plus one cpumask of CPUs whose list may
/// hold bios. A producer (preemption off) pushes onto the local list, then sets its CPU's bit —
/// after the push, so that whoever sees the bit sees the bio — and queues the work on the local
/// CPU. The worker takes its own batch's list (from the work item, never the running CPU) and
/// then clears the bit with a full barrier. No hotplug hooks: the list can be drained from any
/// CPU, and pending work on a CPU that goes offline runs elsewhere. "Flush all" walks the mask,
/// not the online CPUs. Model: the taken list is reversed so that callbacks run in completion
/// order; the worker queues itself immediately (inodegc's delay is a separate knob).</remarks>
internal sealed class CpumaskCompleter : BioTaskCompleter
{
    private readonly PerCpu<CompletionBatch<BioLlist, WorkStruct>> _batches;
    private readonly long[] _mask;

    public CpumaskCompleter(BlockLayer layer) : base(layer, AllocWorkqueue(layer))
    {
        _batches = new PerCpu<CompletionBatch<BioLlist, WorkStruct>>(Machine, cpu => new CompletionBatch<BioLlist, WorkStruct>(cpu, fn => new WorkStruct(fn), Work));
        _mask = new long[(Machine.Cpus.Count + 63) / 64];
    }

    /// <summary>Whether <paramref name="cpu"/>'s bit is set in the mask.</summary>
    public bool InMask(int cpu) => (Volatile.Read(ref _mask[cpu / 64]) & (1L << (cpu % 64))) != 0;

    public override void Defer(Bio bio)
    {
        Context.PreemptDisable();
        var cpu = Context.SmpProcessorId;
        var batch = _batches[cpu];
        batch.List.Add(bio);
        Context.Point();
        if (!InMask(cpu))
        {
            Interlocked.Or(ref _mask[cpu / 64], 1L << (cpu % 64));
        }

        Workqueue.QueueWorkOn(cpu, batch.Work);
        Context.PreemptEnable();
    }

    public override void FlushAll()
    {
        for (var cpu = 0; cpu < _batches.Count; cpu++)
        {
            if (InMask(cpu))
            {
                Workqueue.QueueWorkOn(cpu, _batches[cpu].Work);
            }
        }

        Workqueue.Flush();
    }

    private void Work(CompletionBatch<BioLlist, WorkStruct> batch)
    {
        var first = batch.List.DelAllFifo();
        Context.Point();
        Interlocked.And(ref _mask[batch.Cpu / 64], ~(1L << (batch.Cpu % 64)));
        if (first is not null)
        {
            Layer.CountDrain(batch.Cpu, batch.Cpu);
            Layer.CompleteBatch(first, byHotplug: false);
        }
    }
}
