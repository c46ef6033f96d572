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
internal sealed class MergedCompleter : BioListCompleter
{
    public MergedCompleter(BlockLayer layer) : base(layer)
    {
        for (var cpu = 0; cpu < Batches.Count; cpu++)
        {
            if (!Machine.Cpus[cpu].IsOnline)
            {
                Batches[cpu].Work.Disable();
            }
        }

        Machine.CpuhpSetupStateNocalls(CpuHpPhase.ApOnlineDyn, "block/bio:complete:online", Online, DownPrep);
        Machine.CpuhpSetupStateNocalls(CpuHpPhase.BpPrepareDyn, "block/bio:complete:dead", null, DrainDead);
    }

    /// <summary>The batch comes from the work item (container_of), never from the running CPU.</summary>
    protected override CompletionBatch<BioList, WorkStruct> BatchToDrain(CompletionBatch<BioList, WorkStruct> owner) => owner;

    private void Online(int cpu)
    {
        var batch = Batches[cpu];
        batch.Work.Enable();
        if (!batch.List.IsEmpty)
        {
            Workqueue.QueueWorkOn(cpu, batch.Work);
        }
    }

    private void DownPrep(int cpu) => Batches[cpu].Work.DisableSync();
}
