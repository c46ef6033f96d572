using System.Globalization;
using System.Text;
using Writeback.Diagnostics;
using Writeback.Workloads.Running;

namespace Writeback.Workloads.Reports;

/// <summary>The side-by-side table of <c>wbsim compare</c>: one column per design, one row per figure.</summary>
public static class CompareReport
{
    private const int LabelWidth = 36;
    private const int ColumnWidth = 14;

    /// <summary>The table, with a heading naming the job file, machine and time basis.</summary>
    public static string Format(IReadOnlyList<RunResult> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        if (runs.Count == 0)
        {
            return "no runs\n";
        }

        var o = runs[0].Options;
        var sb = new StringBuilder();
        sb.Append(Invariant($"Comparison of {runs[0].JobFile}: engine={(o.Engine == Kernel.EngineKind.Deterministic ? "sim" : "real")} seed={o.Seed} cpus={o.Cpus} latency={o.LatencyName}; times {runs[0].Model.TimeBasis}\n\n"));
        Row(sb, "design", runs, r => r.Options.DesignName);
        Row(sb, "i_pages lock", runs, r => r.Options.Completion == Mm.CompletionMode.Irq && !r.Options.PlainLock ? "irqsave" : "plain");
        sb.Append('-', LabelWidth + (runs.Count * (ColumnWidth + 1))).Append('\n');
        Row(sb, "write bandwidth (MiB/s)", runs, r => Num(r.Groups[0].Write.BytesPerSecond / (1 << 20)));
        Row(sb, "write IOPS", runs, r => Num(r.Groups[0].Write.Iops));
        Row(sb, "read bandwidth (MiB/s)", runs, r => Num(r.Groups[0].Read.BytesPerSecond / (1 << 20)));
        Row(sb, "write clat p50", runs, r => Percentile(r.Groups[0].Write.ClatHistogram, 50));
        Row(sb, "write clat p99", runs, r => Percentile(r.Groups[0].Write.ClatHistogram, 99));
        Row(sb, "write clat max", runs, r => Percentile(r.Groups[0].Write.ClatHistogram, 100));
        Row(sb, "sync latency p50", runs, r => Percentile(r.Groups[0].Sync.Histogram, 50));
        Row(sb, "sync latency p99", runs, r => Percentile(r.Groups[0].Sync.Histogram, 99));
        Row(sb, "completion latency p50", runs, r => Time(r.Model.CompletionLatency.P50Ns));
        Row(sb, "completion latency p99", runs, r => Time(r.Model.CompletionLatency.P99Ns));
        Row(sb, "completion latency max", runs, r => Time(r.Model.CompletionLatency.MaxNs));
        Row(sb, "i_pages hold p50", runs, r => Time(r.Model.Pages?.Hold.P50Ns ?? 0));
        Row(sb, "i_pages hold p99", runs, r => Time(r.Model.Pages?.Hold.P99Ns ?? 0));
        Row(sb, "i_pages hold max", runs, r => Time(r.Model.Pages?.Hold.MaxNs ?? 0));
        Row(sb, "i_pages acquisitions", runs, r => Invariant($"{r.Model.Pages?.Acquisitions ?? 0}"));
        Row(sb, "i_pages irqs-off total", runs, r => Time(r.Model.IrqsOffByClassNs.GetValueOrDefault(ModelReport.PagesClassName)));
        Row(sb, "irqs-off total", runs, r => Time(r.Model.IrqsOffTotalNs));
        Row(sb, "longest irqs-off", runs, r => Time(r.Model.IrqsOff?.DurationNs ?? 0));
        Row(sb, "  its cause", runs, r => Cut(r.Model.IrqsOff?.Cause ?? "-"));
        Row(sb, "irq latency p99", runs, r => Time(r.Model.IrqLatency.P99Ns));
        Row(sb, "irq latency max", runs, r => Time(r.Model.IrqLatency.MaxNs));
        foreach (var wq in ModelReport.DeferralWorkqueues)
        {
            Row(sb, $"workqueue {wq} (queued)", runs, r => Invariant($"{r.Model.Workqueues.GetValueOrDefault(wq).Queued}"));
        }

        Row(sb, "dropbehind folios left", runs, r => Invariant($"{r.Model.DropbehindLeft}"));
        Row(sb, "verify errors", runs, r => Invariant($"{r.VerifyErrors}"));
        Row(sb, "lockdep reports", runs, r => Invariant($"{r.Model.Reports.Count}"));
        Row(sb, "result", runs, r => r.Failure is not null ? "STOPPED" : r.Interrupted ? "interrupted" : r.Jobs.Any(j => j.Error != Kernel.Errno.None) ? "job error" : "ok");
        sb.Append('\n');
        foreach (var r in runs.Where(r => r.Model.IrqsOff is not null))
        {
            sb.Append(Invariant($"longest irqs-off [{r.Options.DesignName}]: {Time(r.Model.IrqsOff!.DurationNs)} on CPU {r.Model.IrqsOff.Cpu}, {r.Model.IrqsOff.StartSite} -> {r.Model.IrqsOff.EndSite}\n"));
        }

        foreach (var r in runs.Where(r => r.Failure is not null || r.Model.Reports.Count > 0))
        {
            var first = r.Model.Reports.Count > 0 ? new Kernel.KernelReport(Kernel.ReportKind.Lockdep, r.Model.Reports[0]).Title : r.Failure;
            sb.Append(Invariant($"[{r.Options.DesignName}] {(r.Failure is null ? "lockdep" : "stopped")}: {first}\n"));
        }

        return sb.ToString();
    }

    private static void Row(StringBuilder sb, string label, IReadOnlyList<RunResult> runs, Func<RunResult, string> cell)
    {
        sb.Append(label.PadRight(LabelWidth));
        foreach (var r in runs)
        {
            sb.Append(' ').Append(cell(r).PadLeft(ColumnWidth));
        }

        sb.Append('\n');
    }

    private static string Percentile(Lib.LatencyHistogram h, double p) =>
        h.Count == 0 ? "-" : FioTextNumbers.Time(p >= 100 ? h.Max : h.Percentile(p));

    private static string Time(double ns) => FioTextNumbers.Time((long)ns);

    private static string Num(double v) => Invariant($"{v:0.0}");

    private static string Cut(string s) => s.Length <= ColumnWidth ? s : s[..(ColumnWidth - 1)] + "~";

    private static string Invariant(FormattableString s) => FioTextNumbers.Inv(s);
}
