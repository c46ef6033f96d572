using Writeback.Lib;

namespace Writeback.Block;

/// <summary>What the task-completion facility did, summed over CPUs (modelled or measured, as
/// the machine's clock is).</summary>
/// <param name="Deferred">Flagged bios queued to a per-CPU batch.</param>
/// <param name="Inline">Flagged bios whose callback ran at once because the decision said the context could sleep.</param>
/// <param name="InlineAtomic">Of <paramref name="Inline"/>, those that in fact ran in atomic context
/// (possible only with <see cref="DeferralDecision.NotInTask"/>): the guarantee broken.</param>
/// <param name="WorkerRuns">Worker invocations that found at least one bio.</param>
/// <param name="DrainedByHotplug">Bios completed by a dead-CPU drain rather than a worker.</param>
/// <param name="ForeignDrains">Worker runs that drained the batch of a CPU other than the one
/// their work item was queued for (the RFC v4 hazard after a CPU went offline).</param>
/// <param name="RemoteDrains">Worker runs on a CPU other than their batch's, where disabling
/// local interrupts no longer excludes the producers.</param>
/// <param name="BatchSizes">Bios per worker drain.</param>
/// <param name="DeferralLatencyNs">From <see cref="Bio.Endio"/> (device completion) to the deferred
/// callback's start.</param>
public sealed record BioCompletionStats(
    long Deferred,
    long Inline,
    long InlineAtomic,
    long WorkerRuns,
    long DrainedByHotplug,
    long ForeignDrains,
    long RemoteDrains,
    LatencyHistogram BatchSizes,
    LatencyHistogram DeferralLatencyNs);
