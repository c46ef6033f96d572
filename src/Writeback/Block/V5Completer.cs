using Writeback.Kernel;

namespace Writeback.Block;

/// <summary>The facility as posted in RFC v5.</summary>
/// <remarks>Per CPU a lock-free list, a delayed work item and the CPU number. A producer pushes
/// onto the local list and, when it was empty, queues the delayed work on that CPU with a
/// one-jiffy delay, so that a batch can build up — the delay Hellwig objected to, which shows as
/// deferral latency. The worker takes everything with one exchange (safe from any CPU), in
/// completion order, until the list is empty. The dead-CPU hook drains what is left. Model: the
/// taken list is reversed so that callbacks run in completion order, as a FIFO would.</remarks>
internal sealed class V5Completer : BioTaskCompleter
{
    private readonly PerCpu<CompletionBatch<BioLlist, DelayedWork>> _batches;

    public V5Completer(BlockLayer layer) : base(layer, AllocWorkqueue(layer))
    {
        _batches = new PerCpu<CompletionBatch<BioLlist, DelayedWork>>(Machine, cpu => new CompletionBatch<BioLlist, DelayedWork>(cpu, fn => new DelayedWork(fn), Work));
        Machine.CpuhpSetupState(CpuHpPhase.BpPrepareDyn, "block/bio:complete:dead", null, Dead);
    }

    public override void Defer(Bio bio)
    {
        Context.PreemptDisable();
        var batch = _batches.This;
        if (batch.List.Add(bio))
        {
            Workqueue.QueueDelayedWorkOn(batch.Cpu, batch.Work, 1);
        }

        Context.PreemptEnable();
    }

    public override void FlushAll()
    {
        // Pending delays are cut short, then the workqueue is flushed.
        for (var cpu = 0; cpu < _batches.Count; cpu++)
        {
            if (!_batches[cpu].List.IsEmpty)
            {
                Workqueue.ModDelayedWorkOn(cpu, _batches[cpu].Work, 0);
            }
        }

        Workqueue.Flush();
    }

    private void Work(CompletionBatch<BioLlist, DelayedWork> batch)
    {
        while (batch.List.DelAllFifo() is { } first)
        {
            Layer.CountDrain(batch.Cpu, batch.Cpu);
            Layer.CompleteBatch(first, byHotplug: false);
        }
    }

    private void Dead(int cpu) => Layer.CompleteBatch(_batches[cpu].List.DelAllFifo(), byHotplug: true);
}
