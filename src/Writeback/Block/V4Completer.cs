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
internal sealed class V4Completer : BioListCompleter
{
    public V4Completer(BlockLayer layer) : base(layer) =>
        Machine.CpuhpSetupState(CpuHpPhase.BpPrepareDyn, "block/bio:complete:dead", null, DrainDead);

    /// <summary>this_cpu_ptr(): the running CPU's batch, whichever work item runs.</summary>
    protected override CompletionBatch<BioList, WorkStruct> BatchToDrain(CompletionBatch<BioList, WorkStruct> owner) => Batches.This;
}
