namespace Writeback.Block;

/// <summary>How a machine's block layer completes flagged bios.</summary>
public sealed record BlockLayerOptions
{
    /// <summary>The version of the BIO_COMPLETE_IN_TASK facility; <see cref="TaskCompletionVariant.Merged"/> by default.</summary>
    public TaskCompletionVariant Variant { get; init; } = TaskCompletionVariant.Merged;

    /// <summary>The deferral test; <see cref="DeferralDecision.BioInAtomic"/> (merged) by default.</summary>
    public DeferralDecision Decision { get; init; } = DeferralDecision.BioInAtomic;
}
