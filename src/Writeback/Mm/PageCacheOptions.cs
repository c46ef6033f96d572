namespace Writeback.Mm;

/// <summary>How a machine's page cache behaves.</summary>
public sealed record PageCacheOptions
{
    /// <summary>The completion design; it sets the i_pages lock flavour.</summary>
    public CompletionMode Mode { get; init; } = CompletionMode.Irq;

    /// <summary>Takes i_pages as a plain lock even in <see cref="CompletionMode.Irq"/>: the
    /// misconfiguration that shows why the lock is irq-safe today (lockdep reports the
    /// inconsistent lock state; without lockdep the machine detects the self-deadlock).</summary>
    public bool ForcePlainLock { get; init; }
}
