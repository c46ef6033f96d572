using Writeback.Lib;

namespace Writeback.Workloads.Running;

/// <summary>What one direction (read or write) of a job did: I/Os, bytes, the latencies fio reports
/// and bandwidth samples.</summary>
/// <remarks>Times are the machine's clock: modelled on the deterministic engine, measured on the
/// real one. <c>slat</c> is recorded only for asynchronous submission, as fio does; <c>clat</c> runs
/// from submission to completion and <c>lat</c> covers both.</remarks>
public sealed class IoStats
{
    /// <summary>fio's bandwidth and IOPS sampling period (bwavgtime, iopsavgtime).</summary>
    public const long SampleIntervalNs = 500_000_000;

    private readonly List<long> _sampleBytes = [];
    private readonly List<long> _sampleIos = [];

    /// <summary>I/Os completed.</summary>
    public long Ios { get; private set; }

    /// <summary>Bytes moved.</summary>
    public long Bytes { get; private set; }

    /// <summary>I/Os that moved fewer bytes than asked.</summary>
    public long ShortIos { get; private set; }

    /// <summary>Time this direction ran (ns): for a group, the longest of its jobs'.</summary>
    public long RuntimeNs { get; set; }

    /// <summary>Submission latency (asynchronous engines only).</summary>
    public Moments Slat { get; } = new();

    /// <summary>Completion latency.</summary>
    public Moments Clat { get; } = new();

    /// <summary>Total latency.</summary>
    public Moments Lat { get; } = new();

    /// <summary>Completion latency distribution.</summary>
    public LatencyHistogram ClatHistogram { get; } = new();

    /// <summary>Total latency distribution.</summary>
    public LatencyHistogram LatHistogram { get; } = new();

    /// <summary>Bandwidth per sampling period (bytes per <see cref="SampleIntervalNs"/>), full periods only.</summary>
    public IReadOnlyList<long> SampleBytes => _sampleBytes;

    /// <summary>I/Os per sampling period.</summary>
    public IReadOnlyList<long> SampleIos => _sampleIos;

    /// <summary>Length of one <see cref="Timeline"/> slot: 1 ms.</summary>
    public const long TimelineSlotNs = 1_000_000;

    /// <summary>Bytes completed per <see cref="TimelineSlotNs"/> since the job's statistics started (for throughput-over-time plots).</summary>
    public List<long> Timeline { get; } = [];

    /// <summary>Records one completed I/O.</summary>
    /// <param name="bytes">Bytes moved.</param>
    /// <param name="asked">Bytes asked for.</param>
    /// <param name="slatNs">Submission latency, or -1 for a synchronous engine.</param>
    /// <param name="clatNs">Completion latency.</param>
    /// <param name="sinceStartNs">Completion time since the job's start, for the timeline.</param>
    public void Record(long bytes, long asked, long slatNs, long clatNs, long sinceStartNs)
    {
        Ios++;
        Bytes += bytes;
        if (bytes < asked)
        {
            ShortIos++;
        }

        if (slatNs >= 0)
        {
            Slat.Record(slatNs);
        }

        Clat.Record(clatNs);
        ClatHistogram.Record(clatNs);
        var lat = Math.Max(0, slatNs) + clatNs;
        Lat.Record(lat);
        LatHistogram.Record(lat);
        var slot = (int)Math.Min(sinceStartNs / TimelineSlotNs, 10_000_000);
        while (Timeline.Count <= slot)
        {
            Timeline.Add(0);
        }

        Timeline[slot] += bytes;
    }

    /// <summary>Ends a sampling period.</summary>
    public void Sample(long bytes, long ios)
    {
        _sampleBytes.Add(bytes);
        _sampleIos.Add(ios);
    }

    /// <summary>Adds <paramref name="other"/>'s figures (group reporting); samples of the same period add up.</summary>
    public void Add(IoStats other)
    {
        ArgumentNullException.ThrowIfNull(other);
        Ios += other.Ios;
        Bytes += other.Bytes;
        ShortIos += other.ShortIos;
        RuntimeNs = Math.Max(RuntimeNs, other.RuntimeNs);
        Slat.Add(other.Slat);
        Clat.Add(other.Clat);
        Lat.Add(other.Lat);
        ClatHistogram.Add(other.ClatHistogram);
        LatHistogram.Add(other.LatHistogram);
        AddInto(_sampleBytes, other._sampleBytes);
        AddInto(_sampleIos, other._sampleIos);
        AddInto(Timeline, other.Timeline);
    }

    /// <summary>I/Os per second over the runtime.</summary>
    public double Iops => RuntimeNs == 0 ? 0 : Ios * 1e9 / RuntimeNs;

    /// <summary>Bytes per second over the runtime.</summary>
    public double BytesPerSecond => RuntimeNs == 0 ? 0 : Bytes * 1e9 / RuntimeNs;

    /// <summary>Adds <paramref name="from"/> into <paramref name="into"/> element by element, growing it as needed.</summary>
    internal static void AddInto(List<long> into, IReadOnlyList<long> from)
    {
        for (var i = 0; i < from.Count; i++)
        {
            if (i < into.Count)
            {
                into[i] += from[i];
            }
            else
            {
                into.Add(from[i]);
            }
        }
    }
}
