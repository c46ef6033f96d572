using Writeback.Diagnostics;
using Writeback.Workloads.Running;
using static Writeback.Workloads.Reports.FioTextNumbers;

namespace Writeback.Workloads.Reports;

/// <summary>What follows fio's output: the model's own figures, each section under a
/// <c>== … ==</c> header — a summary (completion, deferral and interrupt latency, i_pages, the
/// longest interrupts-off span, workqueues, dropbehind, lockdep), then the kernel-format texts
/// (/proc/lock_stat, its percentiles, the irqsoff tracer, lockdep's reports).</summary>
internal static class FioTextModelSection
{

    /// <summary>Writes the model's sections.</summary>
    public static void Write(TextWriter w, RunResult run)
    {
        var m = run.Model;
        Line(w, "");
        Line(w, Inv($"== model: {run.Options.DesignName} (times {m.TimeBasis}) =="));
        if (run.Interrupted)
        {
            Line(w, "wbsim: interrupted; figures cover the run until then");
        }

        if (run.Failure is { } failure)
        {
            Line(w, Inv($"wbsim: the machine stopped: {failure}"));
        }

        Line(w, Inv($"machine time: {run.ElapsedNs / 1e6:F3}ms (first job start to last job end)"));
        Line(w, "completion latency (device done -> completion work done): " + Summary(m.CompletionLatency));
        if (m.DeferralLatency.Count > 0)
        {
            Line(w, "task-completion deferral latency: " + Summary(m.DeferralLatency));
        }

        Line(w, m.IrqLatency.Count == 0 ? "interrupt latency: none" : Inv($"interrupt latency: p99={Time(m.IrqLatency.P99Ns)} max={Time(m.IrqLatency.MaxNs)} (n={m.IrqLatency.Count})"));
        var pagesIrqsOff = m.IrqsOffByClassNs.GetValueOrDefault(ModelReport.PagesClassName);
        Line(w, m.Pages is { } p
            ? Inv($"i_pages hold: p50={Time(p.Hold.P50Ns)} p99={Time(p.Hold.P99Ns)} max={Time(p.Hold.MaxNs)}, {p.Acquisitions} acquisitions, irqs-off total {Time(pagesIrqsOff)}")
            : Inv($"i_pages hold: not taken, irqs-off total {Time(pagesIrqsOff)}"));
        Line(w, Inv($"irqs-off total: {Time(m.IrqsOffTotalNs)}"));
        Line(w, m.IrqsOff is { } max
            ? Inv($"longest irqs-off: {Time(max.DurationNs)} on CPU {max.Cpu} ({max.Cause}) {max.StartSite} -> {max.EndSite}")
            : "longest irqs-off: none");
        Line(w, "workqueues: " + Workqueues(m));
        Line(w, Inv($"dropbehind folios: removed {m.DropbehindRemoved}, left {m.DropbehindLeft}"));
        Line(w, m.Reports.Count switch { 0 => "lockdep: clean", 1 => "lockdep: 1 report", var n => Inv($"lockdep: {n} reports") });
        Text(w, "/proc/lock_stat", m.LockStatText);
        Text(w, "lock_stat percentiles", m.LockStatPercentilesText);
        Text(w, "irqsoff tracer", m.IrqsOffText);
        Body(w, m.IrqsOffSummaryText);
        if (m.Reports.Count > 0)
        {
            Line(w, "");
            Line(w, "== lockdep ==");
            foreach (var report in m.Reports)
            {
                Body(w, report);
            }
        }
    }

    private static string Summary(LatencySummary s) => s.Count == 0
        ? "none"
        : Inv($"p50={Time(s.P50Ns)} p99={Time(s.P99Ns)} max={Time(s.MaxNs)} (n={s.Count})");

    // The four the report names, always, then any other workqueue that was used, by name.
    private static string Workqueues(ModelReport m)
    {
        var named = ModelReport.DeferralWorkqueues.Select(n => (Name: n, Traffic: m.Workqueues.GetValueOrDefault(n)));
        var others = m.Workqueues
            .Where(kv => !ModelReport.DeferralWorkqueues.Contains(kv.Key, StringComparer.Ordinal) && kv.Value.Queued > 0)
            .OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => (Name: kv.Key, Traffic: kv.Value));
        return string.Join(' ', named.Concat(others).Select(q => Inv($"{q.Name}={q.Traffic.Queued}/{q.Traffic.Executed}")));
    }

    private static void Text(TextWriter w, string title, string text)
    {
        Line(w, "");
        Line(w, Inv($"== {title} =="));
        Body(w, text);
    }

    private static void Body(TextWriter w, string text) => w.Write(Terminated(text));

    private static string Terminated(string text) => text.Length == 0 || text.EndsWith('\n') ? text : text + "\n";
}
