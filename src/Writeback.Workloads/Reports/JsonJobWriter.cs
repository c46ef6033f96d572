using System.Globalization;
using System.Text.Json;
using Writeback.Lib;
using Writeback.Workloads.Running;

namespace Writeback.Workloads.Reports;

/// <summary>One element of fio's <c>"jobs"</c> array: fio 3.33's keys, in its order and units.</summary>
internal static class JsonJobWriter
{
    // fio's latency_ns and latency_us bucket edges (exclusive upper bounds) and latency_ms's.
    private static readonly long[] s_nsUsEdges = [2, 4, 10, 20, 50, 100, 250, 500, 750, 1000];
    private static readonly long[] s_msEdges = [2, 4, 10, 20, 50, 100, 250, 500, 750, 1000, 2000];

    // fio's iodepth_level buckets: lower bounds (1, 2-3, 4-7, ..., >=64).
    private static readonly int[] s_depthLevels = [1, 2, 4, 8, 16, 32, 64];

    /// <summary>Writes <paramref name="job"/>; <paramref name="group"/> is its reporting group, for bw_agg.</summary>
    public static void WriteJob(Utf8JsonWriter w, JobResult job, JobResult? group)
    {
        var spec = job.Spec;
        var percentiles = spec.Percentiles.Where(p => p is >= 0 and <= 100).Distinct().Order().ToArray();
        w.WriteStartObject();
        w.WriteString("jobname", job.Name);
        w.WriteNumber("groupid", job.GroupId);
        w.WriteNumber("error", (int)job.Error);
        w.WriteStartObject("job options");
        foreach (var (name, value) in spec.Options)
        {
            w.WriteString(name, value);
        }

        w.WriteEndObject();
        WriteDirection(w, "read", job.Read, group?.Read, percentiles);
        WriteDirection(w, "write", job.Write, group?.Write, percentiles);
        w.WriteStartObject("sync");
        w.WriteNumber("total_ios", job.Sync.Count);
        WriteMoments(w, "lat_ns", job.Sync.Lat, job.Sync.Histogram, percentiles);
        w.WriteEndObject();

        // fio sums its instances' run times here; a group_reporting result keeps only the longest.
        w.WriteNumber("job_runtime", Math.Max(job.Read.RuntimeNs, job.Write.RuntimeNs) / 1_000_000);
        WriteDepths(w, job.Depths);
        var latency = new LatencyHistogram();
        latency.Add(job.Read.LatHistogram);
        latency.Add(job.Write.LatHistogram);
        WriteLatencyBuckets(w, latency);
        w.WriteEndObject();
    }

    /// <summary>Bytes per second over <paramref name="s"/>'s runtime, rounded down (fio's bw_bytes).</summary>
    public static long BwBytes(IoStats s) => s.RuntimeNs <= 0 ? 0 : (long)((Int128)s.Bytes * 1_000_000_000 / s.RuntimeNs);

    /// <summary>Writes a double, or 0 for a value that rounding made non-finite (JSON has no NaN).</summary>
    public static void WriteDouble(Utf8JsonWriter w, string name, double value) =>
        w.WriteNumber(name, double.IsFinite(value) ? value : 0);

    private static void WriteDirection(Utf8JsonWriter w, string name, IoStats s, IoStats? group, double[] percentiles)
    {
        w.WriteStartObject(name);
        var bwBytes = BwBytes(s);
        w.WriteNumber("io_bytes", s.Bytes);
        w.WriteNumber("io_kbytes", s.Bytes >> 10);
        w.WriteNumber("bw_bytes", bwBytes);
        w.WriteNumber("bw", bwBytes / 1024);
        WriteDouble(w, "iops", s.Iops);
        w.WriteNumber("runtime", s.RuntimeNs / 1_000_000);
        w.WriteNumber("total_ios", s.Ios);
        w.WriteNumber("short_ios", s.ShortIos);
        w.WriteNumber("drop_ios", 0);
        WriteMoments(w, "slat_ns", s.Slat, null, percentiles);
        WriteMoments(w, "clat_ns", s.Clat, s.ClatHistogram, percentiles);
        WriteMoments(w, "lat_ns", s.Lat, null, percentiles);

        // Samples are per 500 ms period; fio prints them as KiB/s and IO/s, rounded down.
        var bw = Samples(s.SampleBytes, b => (long)((Int128)b * 1_000_000_000 / IoStats.SampleIntervalNs / 1024));
        var iops = Samples(s.SampleIos, n => (long)((Int128)n * 1_000_000_000 / IoStats.SampleIntervalNs));
        var aggKiB = group is null ? 0 : BwBytes(group) / 1024;
        var ofAgg = bw.N > 0 && aggKiB > 0 ? Math.Min(100.0, bw.Mean * 100 / aggKiB) : 0;
        w.WriteNumber("bw_min", bw.Min);
        w.WriteNumber("bw_max", bw.Max);
        WriteDouble(w, "bw_agg", ofAgg);
        WriteDouble(w, "bw_mean", bw.Mean);
        WriteDouble(w, "bw_dev", bw.Dev);
        w.WriteNumber("bw_samples", bw.N);
        w.WriteNumber("iops_min", iops.Min);
        w.WriteNumber("iops_max", iops.Max);
        WriteDouble(w, "iops_mean", iops.Mean);
        WriteDouble(w, "iops_stddev", iops.Dev);
        w.WriteNumber("iops_samples", iops.N);
        w.WriteEndObject();
    }

    // fio's {min, max, mean, stddev, N} object, with "percentile" when there is a distribution and values.
    private static void WriteMoments(Utf8JsonWriter w, string name, Moments m, LatencyHistogram? h, double[] percentiles)
    {
        w.WriteStartObject(name);
        w.WriteNumber("min", m.Min);
        w.WriteNumber("max", m.Max);
        WriteDouble(w, "mean", m.Mean);
        WriteDouble(w, "stddev", m.StdDev);
        w.WriteNumber("N", m.Count);
        if (h is not null && m.Count > 0 && percentiles.Length > 0)
        {
            w.WriteStartObject("percentile");
            foreach (var p in percentiles)
            {
                w.WriteNumber(p.ToString("F6", CultureInfo.InvariantCulture), h.Percentile(p));
            }

            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    private static (long Min, long Max, double Mean, double Dev, long N) Samples(IReadOnlyList<long> raw, Func<long, long> scale)
    {
        if (raw.Count == 0)
        {
            return (0, 0, 0, 0, 0);
        }

        var m = new Moments();
        foreach (var r in raw)
        {
            m.Record(scale(r));
        }

        return (m.Min, m.Max, m.Mean, m.StdDev, m.Count);
    }

    // fio's stat_calc_dist: a non-empty level shows at least 0.1 %.
    private static void WriteDepths(Utf8JsonWriter w, long[] depths)
    {
        var levels = new long[s_depthLevels.Length];
        long total = 0;
        for (var depth = 1; depth < depths.Length; depth++)
        {
            var level = Array.FindLastIndex(s_depthLevels, l => l <= depth);
            levels[level] += depths[depth];
            total += depths[depth];
        }

        w.WriteStartObject("iodepth_level");
        for (var i = 0; i < levels.Length; i++)
        {
            var share = total == 0 ? 0 : levels[i] * 100.0 / total;
            if (levels[i] > 0 && share < 0.1)
            {
                share = 0.1;
            }

            var key = i == levels.Length - 1 ? ">=64" : s_depthLevels[i].ToString(CultureInfo.InvariantCulture);
            WriteDouble(w, key, share);
        }

        w.WriteEndObject();
    }

    // fio's io_u_lat_n/u/m shares of all I/Os by total latency. The histogram keeps buckets, not
    // values: each bucket counts at the value its percentiles report (its upper bound, never above
    // the largest value), so these shares agree with the percentiles.
    private static void WriteLatencyBuckets(Utf8JsonWriter w, LatencyHistogram h)
    {
        var ns = new long[s_nsUsEdges.Length];
        var us = new long[s_nsUsEdges.Length];
        var ms = new long[s_msEdges.Length + 1];
        foreach (var (_, high, count) in h.Buckets())
        {
            var v = Math.Min(high, h.Max);
            if (v < 1000)
            {
                ns[EdgeIndex(s_nsUsEdges, v)] += count;
            }
            else if (v < 1_000_000)
            {
                us[EdgeIndex(s_nsUsEdges, v / 1000)] += count;
            }
            else
            {
                ms[EdgeIndex(s_msEdges, v / 1_000_000)] += count;
            }
        }

        WriteShares(w, "latency_ns", ns, s_nsUsEdges, h.Count);
        WriteShares(w, "latency_us", us, s_nsUsEdges, h.Count);
        WriteShares(w, "latency_ms", ms, s_msEdges, h.Count);
    }

    // The first edge above v; past the last edge, the ">=" bucket after it.
    private static int EdgeIndex(long[] edges, long v)
    {
        var i = 0;
        while (i < edges.Length && v >= edges[i])
        {
            i++;
        }

        return i;
    }

    private static void WriteShares(Utf8JsonWriter w, string name, long[] counts, long[] edges, long total)
    {
        w.WriteStartObject(name);
        for (var i = 0; i < counts.Length; i++)
        {
            var key = i < edges.Length
                ? edges[i].ToString(CultureInfo.InvariantCulture)
                : ">=" + edges[^1].ToString(CultureInfo.InvariantCulture);
            WriteDouble(w, key, total == 0 ? 0 : counts[i] * 100.0 / total);
        }

        w.WriteEndObject();
    }
}
