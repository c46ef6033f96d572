namespace Writeback.Diagnostics;

/// <summary>One row of /proc/lock_stat — one lock class, write or read side — with every column
/// in nanoseconds, the hold and wait distributions, and the top contention and contended points:
/// what JSON output carries.</summary>
/// <remarks>Kernel: one line of seq_stats() in kernel/locking/lockdep_proc.c (struct
/// lock_class_stats). Model: times are nanoseconds, not the kernel's printed microseconds, and
/// the distributions (<see cref="Hold"/>, <see cref="Wait"/>) are the model's addition.</remarks>
public sealed record LockStatEntry
{
    /// <summary>The lock class name, as lockdep knows it.</summary>
    public required string ClassName { get; init; }

    /// <summary>The name lock_stat prints: <see cref="ClassName"/> (cut to 37 characters, and
    /// numbered <c>#2</c>, <c>#3</c> when several classes share the name), with <c>-W</c> or
    /// <c>-R</c> appended when the class has read acquisitions.</summary>
    public required string Name { get; init; }

    /// <summary>True for the read side of a reader-writer lock (the <c>-R</c> row).</summary>
    public required bool IsRead { get; init; }

    /// <summary>Contentions whose holder last ran on another CPU (con-bounces).</summary>
    public required long ConBounces { get; init; }

    /// <summary>Acquisitions that had to wait (contentions).</summary>
    public required long Contentions { get; init; }

    /// <summary>Shortest wait (waittime-min), ns.</summary>
    public required long WaitTimeMinNs { get; init; }

    /// <summary>Longest wait (waittime-max), ns.</summary>
    public required long WaitTimeMaxNs { get; init; }

    /// <summary>Total wait (waittime-total), ns.</summary>
    public required long WaitTimeTotalNs { get; init; }

    /// <summary>Average wait (waittime-avg), ns, rounded down as the kernel divides.</summary>
    public required long WaitTimeAvgNs { get; init; }

    /// <summary>Acquisitions of a lock last released on another CPU (acq-bounces).</summary>
    public required long AcqBounces { get; init; }

    /// <summary>Acquisitions.</summary>
    public required long Acquisitions { get; init; }

    /// <summary>Shortest hold (holdtime-min), ns.</summary>
    public required long HoldTimeMinNs { get; init; }

    /// <summary>Longest hold (holdtime-max), ns.</summary>
    public required long HoldTimeMaxNs { get; init; }

    /// <summary>Total hold (holdtime-total), ns.</summary>
    public required long HoldTimeTotalNs { get; init; }

    /// <summary>Average hold (holdtime-avg), ns, rounded down as the kernel divides.</summary>
    public required long HoldTimeAvgNs { get; init; }

    /// <summary>Distribution of wait times (model addition).</summary>
    public required LatencySummary Wait { get; init; }

    /// <summary>Distribution of hold times (model addition).</summary>
    public required LatencySummary Hold { get; init; }

    /// <summary>Up to four call sites that waited, most frequent first.</summary>
    public required IReadOnlyList<LockStatPoint> ContentionPoints { get; init; }

    /// <summary>Up to four sites of the holders that were waited on, most frequent first.</summary>
    public required IReadOnlyList<LockStatPoint> ContendedPoints { get; init; }
}
