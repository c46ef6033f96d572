using Writeback.Lib;

namespace Writeback.Workloads.Running;

/// <summary>The fsync and fdatasync calls of a job, as fio's "fsync/fdatasync/sync_file_range" block.</summary>
public sealed class SyncStats
{
    /// <summary>Latency figures.</summary>
    public Moments Lat { get; } = new();

    /// <summary>Latency distribution.</summary>
    public LatencyHistogram Histogram { get; } = new();

    /// <summary>Calls made.</summary>
    public long Count => Lat.Count;

    /// <summary>Records one call.</summary>
    public void Record(long ns)
    {
        Lat.Record(ns);
        Histogram.Record(ns);
    }

    /// <summary>Adds <paramref name="other"/>'s calls.</summary>
    public void Add(SyncStats other)
    {
        ArgumentNullException.ThrowIfNull(other);
        Lat.Add(other.Lat);
        Histogram.Add(other.Histogram);
    }
}
