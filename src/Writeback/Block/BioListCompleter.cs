using Writeback.Kernel;

namespace Writeback.Block;

/// <summary>The two variants whose per-CPU batch is a FIFO bio list guarded by disabling local
/// interrupts (merged and RFC v4): the same producer, workers that differ only in which batch
/// they drain.</summary>
internal abstract class BioListCompleter : BioTaskCompleter
{
    protected BioListCompleter(BlockLayer layer) : base(layer, AllocWorkqueue(layer)) =>
        Batches = new PerCpu<CompletionBatch<BioList, WorkStruct>>(Machine, cpu => new CompletionBatch<BioList, WorkStruct>(cpu, fn => new WorkStruct(fn), Work));

    protected PerCpu<CompletionBatch<BioList, WorkStruct>> Batches { get; }

    /// <summary>Appends with interrupts saved and disabled, and queues the batch's work on its CPU when the list was empty.</summary>
    public sealed override void Defer(Bio bio)
    {
        var flags = Context.LocalIrqSave();
        var batch = Batches.This;
        var wasEmpty = batch.List.IsEmpty;
        batch.List.Add(bio);
        Context.LocalIrqRestore(flags);
        if (wasEmpty)
        {
            Workqueue.QueueWorkOn(batch.Cpu, batch.Work);
        }
    }

    /// <summary>The batch the worker of <paramref name="owner"/>'s work item drains; called with interrupts off.</summary>
    protected abstract CompletionBatch<BioList, WorkStruct> BatchToDrain(CompletionBatch<BioList, WorkStruct> owner);

    /// <summary>Completes what a dead CPU's batch still holds (the CPU is dead and its work stopped: no locking).</summary>
    protected void DrainDead(int cpu) => Layer.CompleteBatch(Batches[cpu].List.Steal(), byHotplug: true);

    private void Work(CompletionBatch<BioList, WorkStruct> owner)
    {
        while (true)
        {
            Context.LocalIrqDisable();
            var batch = BatchToDrain(owner);
            var first = batch.List.Steal();
            Context.LocalIrqEnable();
            if (first is null)
            {
                return;
            }

            Layer.CountDrain(batch.Cpu, owner.Cpu);
            Layer.CompleteBatch(first, byHotplug: false);
        }
    }
}
