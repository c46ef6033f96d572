using Writeback.Kernel;

namespace Writeback.Block;

/// <summary>The facility as merged for 7.3 (block/bio.c).</summary>
/// <remarks>Per CPU a FIFO bio list and a work item that knows its CPU. A producer saves and
/// disables local interrupts, appends, restores, and queues the work on the batch's CPU when
/// the list was empty. The worker takes the list with interrupts off and runs every callback,
/// until it finds the list empty. Disabling interrupts excludes producers only on the batch's own
/// CPU, so hotplug keeps the worker there: down-prep disables the work synchronously, the dead
/// callback drains what was added after that, and online enables the work again and requeues it
/// if bios wait. At init the work of every offline CPU starts disabled.</remarks>
internal sealed class MergedCompleter : BioTaskCompleter
{
    private readonly PerCpu<CompletionBatch<BioList, WorkStruct>> _batches;

    public MergedCompleter(BlockLayer layer) : base(layer, AllocWorkqueue(layer))
    {
        _batches = new PerCpu<CompletionBatch<BioList, WorkStruct>>(Machine, cpu => new CompletionBatch<BioList, WorkStruct>(cpu, fn => new WorkStruct(fn), Work));
        for (var cpu = 0; cpu < _batches.Count; cpu++)
        {
            if (!Machine.Cpus[cpu].IsOnline)
            {
                _batches[cpu].Work.Disable();
            }
        }

        Machine.CpuhpSetupStateNocalls(CpuHpPhase.ApOnlineDyn, "block/bio:complete:online", Online, DownPrep);
        Machine.CpuhpSetupStateNocalls(CpuHpPhase.BpPrepareDyn, "block/bio:complete:dead", null, Dead);
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

    private void Work(CompletionBatch<BioList, WorkStruct> batch)
    {
        // The batch comes from the work item (container_of), never from the running CPU.
        while (true)
        {
            Context.LocalIrqDisable();
            var first = batch.List.Steal();
            Context.LocalIrqEnable();
            if (first is null)
            {
                return;
            }

            Layer.CountDrain(batch.Cpu, batch.Cpu);
            Layer.CompleteBatch(first, byHotplug: false);
        }
    }

    private void Online(int cpu)
    {
        var batch = _batches[cpu];
        batch.Work.Enable();
        if (!batch.List.IsEmpty)
        {
            Workqueue.QueueWorkOn(cpu, batch.Work);
        }
    }

    private void DownPrep(int cpu) => _batches[cpu].Work.DisableSync();

    // The CPU is dead and its work disabled: nobody else touches the list.
    private void Dead(int cpu) => Layer.CompleteBatch(_batches[cpu].List.Steal(), byHotplug: true);
}
