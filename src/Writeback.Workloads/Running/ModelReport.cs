using Writeback.Diagnostics;

namespace Writeback.Workloads.Running;

/// <summary>What only a model can show about a run: lock statistics, interrupts-off spans, interrupt
/// and completion latency, workqueue traffic, lockdep's verdict — collected from the machine when
/// the run ends, with the kernel-format texts rendered then.</summary>
public sealed class ModelReport
{
    /// <summary>The i_pages lock's kernel class name.</summary>
    public const string PagesClassName = "&mapping->i_pages";

    /// <summary>The deferral workqueues every report lists, by their report names, in this order:
    /// buffered ioend completion, direct I/O completion, the buffer cache's, the block layer's.</summary>
    public static IReadOnlyList<string> DeferralWorkqueues { get; } = ["ioend", "dio", "buf", "bio_complete"];

    /// <summary>"measured" (real engine) or "modelled" (deterministic engine).</summary>
    public required string TimeBasis { get; init; }

    /// <summary>The per-class lock statistics (write side, then read side), most contended first.</summary>
    public required IReadOnlyList<LockStatEntry> LockStat { get; init; }

    /// <summary>Lockdep usage bits per class name.</summary>
    public required IReadOnlyDictionary<string, string> Usage { get; init; }

    /// <summary>Interrupts-off time started by each lock class (irqsave/irq acquisitions), ns.</summary>
    public required IReadOnlyDictionary<string, long> IrqsOffByClassNs { get; init; }

    /// <summary>The longest interrupts-off span, or null.</summary>
    public required IrqsOffMax? IrqsOff { get; init; }

    /// <summary>All interrupts-off time, ns.</summary>
    public required long IrqsOffTotalNs { get; init; }

    /// <summary>Interrupt latency (raise to handler start).</summary>
    public required LatencySummary IrqLatency { get; init; }

    /// <summary>Completion latency: from the device completing a bio to its filesystem completion
    /// work finishing (writeback ended, or the direct I/O's completion run), wherever that ran.</summary>
    public required LatencySummary CompletionLatency { get; init; }

    /// <summary>Deferral latency of the task-completion facility (device completion to the deferred
    /// callback's start); empty in IRQ mode.</summary>
    public required LatencySummary DeferralLatency { get; init; }

    /// <summary>Workqueue traffic by the report's name (<c>ioend</c>, <c>dio</c>, <c>buf</c>,
    /// <c>bio_complete</c>, then the machine's others).</summary>
    public required IReadOnlyDictionary<string, (long Queued, long Executed)> Workqueues { get; init; }

    /// <summary>Dropbehind folios left in the cache because writeback ended where they could not be removed.</summary>
    public required long DropbehindLeft { get; init; }

    /// <summary>Dropbehind folios removed.</summary>
    public required long DropbehindRemoved { get; init; }

    /// <summary>Lockdep and other kernel reports, in order.</summary>
    public required IReadOnlyList<string> Reports { get; init; }

    /// <summary>/proc/lock_stat text.</summary>
    public required string LockStatText { get; init; }

    /// <summary>The lock_stat percentile table (model addition).</summary>
    public required string LockStatPercentilesText { get; init; }

    /// <summary>The irqsoff tracer's report of the longest span.</summary>
    public required string IrqsOffText { get; init; }

    /// <summary>Interrupts-off time by cause (model addition).</summary>
    public required string IrqsOffSummaryText { get; init; }

    /// <summary>The i_pages lock's hold times (write side), for distributions and plots.</summary>
    public Lib.LatencyHistogram PagesHoldHistogram { get; init; } = new();

    /// <summary>Every completion latency (see <see cref="CompletionLatency"/>).</summary>
    public Lib.LatencyHistogram CompletionHistogram { get; init; } = new();

    /// <summary>Every interrupts-off span's length.</summary>
    public Lib.LatencyHistogram IrqsOffHistogram { get; init; } = new();

    /// <summary>The i_pages entry (write side), if the lock was taken.</summary>
    public LockStatEntry? Pages => LockStat.FirstOrDefault(e => e.ClassName == PagesClassName && !e.IsRead);
}
