using Writeback.Kernel;
using Writeback.Workloads.Running;
using static Writeback.Workloads.Reports.FioTextNumbers;

namespace Writeback.Workloads.Reports;

/// <summary>One job's block of fio's normal output: the header line, each direction's IOPS,
/// bandwidth, latencies, percentiles and samples, the latency distribution, the sync block, IO
/// depths and issued counts, then the model's error and verify lines.</summary>
/// <remarks>fio: show_thread_status_normal() and show_ddir_status() in stat.c. Model: fio's wall-clock
/// date becomes the machine's time basis (the report stays deterministic); the <c>cpu</c>,
/// <c>submit</c> and <c>complete</c> lines are left out because the model does not measure them.</remarks>
internal static class FioTextJob
{
    /// <summary>Writes <paramref name="job"/>'s block.</summary>
    public static void Write(TextWriter w, RunResult run, JobResult job)
    {
        Line(w, Inv($"{job.Name}: (groupid={job.GroupId}, jobs={job.Jobs}): err={Padded((int)job.Error, 2)}: pid={job.Pid}: {run.Model.TimeBasis} time"));
        if (job.Error != Errno.None)
        {
            Line(w, job.ErrorContext is { } what ? Inv($"  error={Strerror(job.Error)}: {what}") : Inv($"  error={Strerror(job.Error)}"));
        }

        if (job.Read.Ios > 0)
        {
            Direction(w, run, job, write: false);
        }

        if (job.Write.Ios > 0)
        {
            Direction(w, run, job, write: true);
        }

        FioTextLatency.Distribution(w, job);
        if (job.Sync.Count > 0)
        {
            Line(w, "  fsync/fdatasync/sync_file_range:");
            FioTextLatency.DisplayLat(w, "sync", job.Sync.Lat);
            FioTextLatency.Percentiles(w, "sync", job.Sync.Histogram, job.Spec.Percentiles, FioTextLatency.Precision(job.Spec));
        }

        Depths(w, job);
        Line(w, Inv($"     issued rwts: total={job.Read.Ios},{job.Write.Ios},0,{job.Sync.Count} short={job.Read.ShortIos},{job.Write.ShortIos},0,0 dropped=0,0,0,0"));
        Line(w, Inv($"     latency   : target=0, window=0, percentile=100.00%, depth={job.Spec.IoDepth}"));
        var pow2 = IsPow2(job.Spec.KbBase);
        if (job.VerifyErrors > 0)
        {
            Line(w, Inv($"  verify: {job.VerifyErrors} error{(job.VerifyErrors == 1 ? "" : "s")} in {Num2Str(job.VerifyBytes, SigFigs, 1, pow2, ByteUnit)}, first: {job.FirstVerifyError}"));
        }
        else if (job.VerifyBytes > 0)
        {
            Line(w, Inv($"  verify: {Num2Str(job.VerifyBytes, SigFigs, 1, pow2, ByteUnit)} checked, 0 errors"));
        }
    }

    // fio's show_ddir_status() for a read or write direction.
    private static void Direction(TextWriter w, RunResult run, JobResult job, bool write)
    {
        var s = write ? job.Write : job.Read;
        var pow2 = IsPow2(job.Spec.KbBase);
        var runMs = RuntimeMs(s.RuntimeNs);
        var bw = runMs == 0 ? 0 : s.Bytes * 1000 / runMs;
        var iops = runMs == 0 ? 0 : s.Ios * 1000 / runMs;
        Line(w, Inv($"  {(write ? "write" : "read")}: IOPS={Num2Str(iops, SigFigs, 1, false, NoUnit)}, BW={Num2Str(bw, SigFigs, 1, pow2, BytePerSecUnit)} ({Num2Str(bw, SigFigs, 1, !pow2, BytePerSecUnit)})({Num2Str(s.Bytes, SigFigs, 1, pow2, ByteUnit)}/{runMs}msec){(write ? "; 0 zone resets" : "")}"));
        if (s.Slat.Count > 0)
        {
            FioTextLatency.DisplayLat(w, "slat", s.Slat);
        }

        if (s.Clat.Count > 0)
        {
            FioTextLatency.DisplayLat(w, "clat", s.Clat);
        }

        if (s.Lat.Count > 0)
        {
            FioTextLatency.DisplayLat(w, " lat", s.Lat);
        }

        FioTextLatency.Percentiles(w, "clat", s.ClatHistogram, job.Spec.Percentiles, FioTextLatency.Precision(job.Spec));
        if (s.SampleBytes.Count > 0)
        {
            Samples(w, run, job, s, write);
        }
    }

    // The bw and iops lines: per-period samples (IoStats.SampleIntervalNs, fio's bwavgtime and
    // iopsavgtime) turned into KiB/s and IO/s, summarised as fio's calc_lat() does (sample stdev).
    private static void Samples(TextWriter w, RunResult run, JobResult job, IoStats s, bool write)
    {
        var kb = job.Spec.KbBase;
        var perSecond = (Int128)1_000_000_000;
        var bw = s.SampleBytes.Select(b => (long)((Int128)b * perSecond / IoStats.SampleIntervalNs) / kb).ToArray();
        var (min, max, mean, dev) = Summary(bw);
        var unit = IsPow2(kb) ? "KiB" : "kB";
        var agg = FioTextGroupStats.For(run, job.GroupId, write).AggBytesPerSec;

        // fio's convert_agg_kbytes_percent(): the mean (truncated) against the group's KiB/s.
        var per = agg > 1024 ? Math.Min(100.0, (long)mean * 100.0 / (agg / 1024.0)) : 100.0;
        if (mean > (double)kb * kb)
        {
            (min, max, mean, dev, unit) = ((long)(min / (double)kb), (long)(max / (double)kb), mean / kb, dev / kb, "MiB");
        }

        Line(w, Inv($"   bw ({unit.PadLeft(5)}/s): min={Padded(min, 5)}, max={Padded(max, 5)}, per={per:F2}%, avg={Fixed(mean, 2, 5)}, stdev={Fixed(dev, 2, 5)}, samples={bw.Length}"));
        var iops = s.SampleIos.Select(n => (long)((Int128)n * perSecond / IoStats.SampleIntervalNs)).ToArray();
        (min, max, mean, dev) = Summary(iops);
        Line(w, Inv($"   iops        : min={Padded(min, 5)}, max={Padded(max, 5)}, avg={Fixed(mean, 2, 5)}, stdev={Fixed(dev, 2, 5)}, samples={iops.Length}"));
    }

    private static (long Min, long Max, double Mean, double Dev) Summary(long[] values)
    {
        if (values.Length == 0)
        {
            return (0, 0, 0, 0);
        }

        var mean = values.Average(v => (double)v);
        var dev = values.Length < 2 ? 0 : Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Length - 1));
        return (values.Min(), values.Max(), mean, dev);
    }

    // fio's "IO depths" line: submissions by the depth they found (1, 2-3, 4-7, 8-15, 16-31, 32-63,
    // >=64) as a share of the I/Os issued; a non-empty bucket under 0.1 % shows as 0.1 %.
    private static void Depths(TextWriter w, JobResult job)
    {
        var map = new long[7];
        for (var depth = 0; depth < job.Depths.Length; depth++)
        {
            var idx = depth switch { <= 1 => 0, <= 3 => 1, <= 7 => 2, <= 15 => 3, <= 31 => 4, <= 63 => 5, _ => 6 };
            map[idx] += job.Depths[depth];
        }

        var total = job.Read.Ios + job.Write.Ios;
        var pct = map.Select(n => total == 0 ? 0.0 : n > 0 ? Math.Max(100.0 * n / total, 0.1) : 0.0).ToArray();
        Line(w, Inv($"  IO depths    : 1={pct[0]:F1}%, 2={pct[1]:F1}%, 4={pct[2]:F1}%, 8={pct[3]:F1}%, 16={pct[4]:F1}%, 32={pct[5]:F1}%, >=64={pct[6]:F1}%"));
    }
}
