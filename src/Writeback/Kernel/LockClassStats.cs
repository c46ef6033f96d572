using Writeback.Lib;

namespace Writeback.Kernel;

/// <summary>lock_stat figures of one lock class (for one CPU, or merged), times in nanoseconds.</summary>
/// <remarks>Kernel: struct lock_class_stats in include/linux/lockdep.h. Model: hold and wait
/// distributions are kept as histograms too, for percentiles.</remarks>
public sealed class LockClassStats
{
    /// <summary>Contentions whose holder last ran on another CPU.</summary>
    public long ConBounces { get; internal set; }

    /// <summary>Acquisitions that had to wait.</summary>
    public long Contentions { get; internal set; }

    /// <summary>Acquisitions of a lock last released on another CPU.</summary>
    public long AcqBounces { get; internal set; }

    /// <summary>Acquisitions.</summary>
    public long Acquisitions { get; internal set; }

    /// <summary>Wait times of contended acquisitions.</summary>
    public LatencyHistogram Wait { get; } = new();

    /// <summary>Hold times.</summary>
    public LatencyHistogram Hold { get; } = new();

    /// <summary>Call sites that waited, with counts (the kernel keeps the top four).</summary>
    public Dictionary<string, long> ContentionPoints { get; } = new(StringComparer.Ordinal);

    /// <summary>Call sites of the holders that were waited on, with counts.</summary>
    public Dictionary<string, long> ContendedPoints { get; } = new(StringComparer.Ordinal);

    internal void Add(LockClassStats other)
    {
        ConBounces += other.ConBounces;
        Contentions += other.Contentions;
        AcqBounces += other.AcqBounces;
        Acquisitions += other.Acquisitions;
        Wait.Add(other.Wait);
        Hold.Add(other.Hold);
        foreach (var (k, v) in other.ContentionPoints)
        {
            ContentionPoints[k] = ContentionPoints.GetValueOrDefault(k) + v;
        }

        foreach (var (k, v) in other.ContendedPoints)
        {
            ContendedPoints[k] = ContendedPoints.GetValueOrDefault(k) + v;
        }
    }
}
