using System.Globalization;
using Writeback.Block;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Workloads.Running;
using static Writeback.Workloads.Reports.FioTextNumbers;

namespace Writeback.Workloads.Reports;

/// <summary>A run as fio's human-readable ("normal") output — job header lines, one block per
/// reported job, the "Run status group" lines — followed by the model's own sections.</summary>
/// <remarks>fio: show_run_stats() and show_thread_status_normal() in stat.c (fio 3.33's layout,
/// column for column; see tests/Writeback.Tests/Workloads/FioReference/normal.txt). Model: every
/// figure comes from the <see cref="RunResult"/>, on the machine's clock; where fio prints what the
/// model does not measure (<c>cpu</c>, <c>submit</c>/<c>complete</c>, <c>Disk stats</c>) the line
/// is left out rather than invented, and fio's wall-clock date becomes the time basis
/// ("modelled time" or "measured time"), so a deterministic run prints the same text every time.
/// Lines end with '\n' on every platform; numbers are invariant-culture.</remarks>
public static class FioTextReport
{
    /// <summary>The report as one string.</summary>
    public static string Format(RunResult run)
    {
        ArgumentNullException.ThrowIfNull(run);
        using var w = new StringWriter(CultureInfo.InvariantCulture);
        Write(w, run);
        return w.ToString();
    }

    /// <summary>Writes the report to <paramref name="w"/>.</summary>
    public static void Write(TextWriter w, RunResult run)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(run);
        Header(w, run);
        Line(w, "");
        foreach (var job in run.Jobs)
        {
            FioTextJob.Write(w, run, job);
        }

        foreach (var group in run.Groups)
        {
            GroupLines(w, run, group);
        }

        FioTextModelSection.Write(w, run);
    }

    // What fio prints before the jobs run: one line per job (and "..." for its further instances),
    // the version, the process count, then each file laid out. The model adds its machine line.
    private static void Header(TextWriter w, RunResult run)
    {
        var specs = run.Jobs.Select(j => j.Spec).Distinct(ReferenceEqualityComparer.Instance).Cast<JobSpec>().ToList();
        foreach (var spec in specs)
        {
            var groupId = run.Jobs.First(j => ReferenceEquals(j.Spec, spec)).GroupId;
            var pow2 = IsPow2(spec.KbBase);
            var r = Num2Str(spec.ReadBlockSize, SigFigs, 1, pow2, ByteUnit);
            var wr = Num2Str(spec.WriteBlockSize, SigFigs, 1, pow2, ByteUnit);

            // fio's trim block size defaults to the write size when bs= gives two values.
            Line(w, Inv($"{spec.Name}: (g={groupId}): rw={spec.RwText}, bs=(R) {r}-{r}, (W) {wr}-{wr}, (T) {wr}-{wr}, ioengine={spec.IoEngine}, iodepth={spec.IoDepth}"));
            if (spec.NumJobs > 1)
            {
                Line(w, "...");
            }
        }

        Line(w, "wbsim (Writeback model, kernel " + Machine.KernelRelease + ")");
        Line(w, MachineLine(run));
        var processes = specs.Sum(s => s.NumJobs);
        Line(w, Inv($"Starting {processes} process{(processes == 1 ? "" : "es")}"));
        LayingOut(w, specs);
    }

    /// <summary>The machine the run used, in wbsim option names.</summary>
    private static string MachineLine(RunResult run)
    {
        var o = run.Options;
        var engine = o.Engine == EngineKind.Deterministic ? "sim" : "real";
        var completion = o.Completion == CompletionMode.Irq ? "irq"
            : o.Variant == TaskCompletionVariant.Merged ? "task" : "task variant=" + WbsimOptions.VariantName(o.Variant);
        var pages = o.Completion == CompletionMode.Irq && !o.PlainLock ? "irqsave" : "plain";
        return Inv($"machine: engine={engine} seed={o.Seed} cpus={o.Cpus} completion={completion} i_pages={pages} latency={o.LatencyName} (times {run.Model.TimeBasis})");
    }

    // fio's "Laying out IO file" lines (filesetup.c): one per instance that creates files, in the
    // order JobLayout lays them out; a file shared by name is laid out once.
    private static void LayingOut(TextWriter w, List<JobSpec> specs)
    {
        var laidOut = new HashSet<string>(StringComparer.Ordinal);
        foreach (var spec in specs)
        {
            for (var i = 0; i < spec.NumJobs; i++)
            {
                var files = Enumerable.Range(0, spec.NrFiles).Count(n => laidOut.Add(spec.FilePath(i, n)));
                if (files == 0)
                {
                    continue;
                }

                var mib = files * spec.FileSize >> 20;
                Line(w, files == 1
                    ? Inv($"{spec.Name}: Laying out IO file (1 file / {mib}MiB)")
                    : Inv($"{spec.Name}: Laying out IO files ({files} files / total {mib}MiB)"));
            }
        }
    }

    // fio's show_group_stats(): READ then WRITE, each only if some job of the group ran it.
    private static void GroupLines(TextWriter w, RunResult run, JobResult group)
    {
        Line(w, "");
        Line(w, Inv($"Run status group {group.GroupId} (all jobs):"));
        var pow2 = IsPow2(group.Spec.KbBase);
        foreach (var write in new[] { false, true })
        {
            var g = FioTextGroupStats.For(run, group.GroupId, write);
            if (g.MaxRunMs == 0)
            {
                continue;
            }

            string Bw(long v, bool p) => Num2Str(v, SigFigs, 1, p, BytePerSecUnit);
            string Io(bool p) => Num2Str(g.IoBytes, SigFigs, 1, p, ByteUnit);
            Line(w, Inv($"{(write ? "  WRITE" : "   READ")}: bw={Bw(g.AggBytesPerSec, pow2)} ({Bw(g.AggBytesPerSec, !pow2)}), {Bw(g.MinBw, pow2)}-{Bw(g.MaxBw, pow2)} ({Bw(g.MinBw, !pow2)}-{Bw(g.MaxBw, !pow2)}), io={Io(pow2)} ({Io(!pow2)}), run={g.MinRunMs}-{g.MaxRunMs}msec"));
        }
    }
}
