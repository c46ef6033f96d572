using Writeback.Kernel;

namespace Writeback.Block;

/// <summary>The facility as posted in RFC v4.</summary>
/// <remarks>Per CPU a FIFO bio list under a local lock (interrupts off, on a non-RT kernel) and a
/// work item, queued on the producing CPU when the list was empty. The worker finds its batch
/// with this_cpu_ptr(): right only while it runs on the CPU it was queued for. The only hotplug
/// hook drains a dead CPU's list; nothing stops a pending work item from running after its CPU
/// went offline, on another CPU, where it drains that CPU's batch instead of its own (counted as
/// <see cref="BioCompletionStats.ForeignDrains"/>) — the hazard the review of v4 identified.
/// Model: the v4 producer and worker bodies are reconstructed (KERNEL-REFERENCE.md §1.3); the
/// work is queued on the facility's own per-CPU workqueue so that its traffic is comparable.</remarks>
internal sealed class V4Completer : BioTaskCompleter
{
    private readonly PerCpu<CompletionBatch<BioList, WorkStruct>> _batches;

    public V4Completer(BlockLayer layer) : base(layer, AllocWorkqueue(layer))
    {
        _batches = new PerCpu<CompletionBatch<BioList, WorkStruct>>(Machine, cpu => new CompletionBatch<BioList, WorkStruct>(cpu, fn => new WorkStruct(fn), Work));
        Machine.CpuhpSetupState(CpuHpPhase.BpPrepareDyn, "block/bio:complete:dead", null, Dead);
    }

    public override void Defer(Bio bio)
    {
        var flags = Context.LocalIrqSave();
        var batch = _batches.This;
        var wasEmpty = batch.List.IsEmpty;
        batch.List.Add(bio);
        Context.LocalIrqRestore(flags);
        if (wasEmpty)
        {
            Workqueue.QueueWorkOn(batch.Cpu, batch.Work);
        }
    }

    private void Work(CompletionBatch<BioList, WorkStruct> owner)
    {
        while (true)
        {
            Context.LocalIrqDisable();
            var batch = _batches.This;
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

    private void Dead(int cpu) => Layer.CompleteBatch(_batches[cpu].List.Steal(), byHotplug: true);
}
