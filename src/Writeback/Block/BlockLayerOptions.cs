namespace Writeback.Block;

/// <summary>How a machine's block layer completes flagged bios.</summary>
public sealed record BlockLayerOptions
{
    /// <summary>The version of the BIO_COMPLETE_IN_TASK facility; <see cref="TaskCompletionVariant.Merged"/> by default.</summary>
    public TaskCompletionVariant Variant { get; init; } = TaskCompletionVariant.Merged;

    /// <summary>The deferral test; <see cref="DeferralDecision.BioInAtomic"/> (merged) by default.</summary>
    public DeferralDecision Decision { get; init; } = DeferralDecision.BioInAtomic;

    /// <summary>A checked build: a bio's end_io called other than through <see cref="Bio.Endio"/>
    /// (or the task-completion worker) is reported as a bug. Off by default, as such checks are in
    /// a production kernel; tests turn it on.</summary>
    public bool Checked { get; init; }
}
