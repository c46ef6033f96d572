using System.Globalization;
using System.Text;
using Writeback.Kernel;

using Writeback.Lib;

namespace Writeback.Diagnostics;

/// <summary>The interrupts-off recorder's findings: the longest section as the irqsoff tracer's
/// latency trace prints it, and a per-CPU summary with the time per cause and interrupt latency.</summary>
/// <remarks>Kernel: the irqsoff tracer (kernel/trace/trace_irqsoff.c) read through the trace file
/// in latency format (print_trace_header(), print_lat_help_header() and trace_print_lat_context()
/// in kernel/trace/trace.c and trace_output.c); Documentation/trace/ftrace.rst, "irqsoff".
/// Model: the trace holds two events, where interrupts went off and where they came back on,
/// without function tracing or the closing stack trace. Read it after the run.</remarks>
public static class IrqsOffReport
{
    private const string Rule = "# --------------------------------------------------------------------";
    private const string TaskRule = "#    -----------------";

    // The legend printed above latency-format events, as the irqsoff example in ftrace.rst shows it
    // (trailing blanks included): CPU, four flag characters, time, delay mark, caller.
    private static readonly string[] s_legend =
    [
        "#                  _------=> CPU#            ",
        "#                 / _-----=> irqs-off        ",
        "#                | / _----=> need-resched    ",
        "#                || / _---=> hardirq/softirq ",
        "#                ||| / _--=> preempt-depth   ",
        "#                |||| /     delay             ",
        "#  cmd     pid   ||||| time  |   caller      ",
        "#     \\   /      |||||  \\    |   /           ",
    ];

    /// <summary>The longest interrupts-off section — on any CPU, or on <paramref name="cpu"/> —
    /// in the irqsoff tracer's latency format: header, task, start and end sites, legend, and
    /// one event line where interrupts went off and one where they came back on.</summary>
    /// <remarks>Kernel: <c>cat trace</c> with <c>current_tracer</c> set to irqsoff. The latency is
    /// whole microseconds, truncated (nsecs_to_usecs()); event times are microseconds from the
    /// start of the section, rounded (ns2usecs()); the delay mark after a time follows
    /// trace_find_mark() on the gap to the next event (<c>$</c> over 1 s, <c>@</c> over 100 ms,
    /// <c>*</c> over 10 ms, <c>#</c> over 1 ms, <c>!</c> over 100 us, <c>+</c> over 10 us, blank
    /// otherwise). Flags: <c>d</c> (interrupts off), need-resched <c>.</c> (not modelled),
    /// <c>h</c> for a hardirq handler's section, preempt-depth <c>.</c> (not recorded). With no
    /// section recorded the header reads <c>latency: 0 us, #0/0</c> and no events follow.</remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="cpu"/> is not a CPU of the machine.</exception>
    public static string Format(Machine m, int? cpu = null)
    {
        ArgumentNullException.ThrowIfNull(m);
        if (cpu is int c && (c < 0 || c >= m.Cpus.Count))
        {
            throw new ArgumentOutOfRangeException(nameof(cpu), cpu, $"irqsoff report: CPU {c} does not exist on a {m.Cpus.Count}-CPU machine");
        }

        var span = cpu is int only ? m.IrqsOff.MaxOn(only) : m.IrqsOff.Max;
        var online = m.Cpus.Count(x => x.IsOnline);
        var model = m.Options.PreemptCount ? "preempt" : "server";
        var events = span is null ? 0 : 2;
        var (comm, pid) = span is null ? (string.Empty, "0") : SplitTask(span.Task);

        var sb = new StringBuilder();
        sb.Append("# tracer: irqsoff\n");
        sb.Append("#\n");
        sb.Append("# irqsoff latency trace v1.1.5 on ").Append(Machine.KernelRelease).Append('\n');
        sb.Append(Rule).Append('\n');
        sb.Append(string.Create(
            CultureInfo.InvariantCulture,
            $"# latency: {(span?.DurationNs ?? 0) / 1000} us, #{events}/{events}, CPU#{span?.Cpu ?? cpu ?? 0} | (M:{model} VP:0, KP:0, SP:0 HP:0 #P:{online})\n"));
        sb.Append(TaskRule).Append('\n');
        sb.Append(string.Create(CultureInfo.InvariantCulture, $"#    | task: {Cut(comm, 16)}-{pid} (uid:0 nice:0 policy:0 rt_prio:0)\n"));
        sb.Append(TaskRule).Append('\n');
        if (span is not null)
        {
            sb.Append("#  => started at: ").Append(span.Start.Op).Append('\n');
            sb.Append("#  => ended at:   ").Append(span.End.Op).Append('\n');
            sb.Append("#\n");
        }

        sb.Append("#\n");
        foreach (var line in s_legend)
        {
            sb.Append(line).Append('\n');
        }

        if (span is not null)
        {
            var flags = span.Cause == "hardirq" ? "d.h." : "d...";
            var endUs = RoundedUsecs(span.DurationNs);
            AppendEvent(sb, comm, pid, span.Cpu, flags, 0, DelayMark(endUs * 1000), span.Start);
            AppendEvent(sb, comm, pid, span.Cpu, flags, endUs, DelayMark(0), span.End);
        }

        return sb.ToString();
    }

    /// <summary>A summary of every interrupts-off section: per CPU the count, p50, p99 and max;
    /// the time per cause (lock class, <c>hardirq</c>, <c>local_irq_disable</c> ...) with its
    /// share, largest first; and the interrupt latency (raise to handler start) per CPU.</summary>
    /// <remarks>Model: no kernel counterpart (the tracer keeps only the maximum). The first line
    /// says whether times are modelled or measured; times are microseconds with two decimals.</remarks>
    public static string FormatSummary(Machine m)
    {
        ArgumentNullException.ThrowIfNull(m);
        var t = m.IrqsOff;
        var sb = new StringBuilder();
        sb.Append(LockStatReport.Provenance(m)).Append('\n');
        sb.Append("irqsoff summary on ").Append(Machine.KernelRelease).Append('\n');
        if (!t.IsEnabled)
        {
            sb.Append("interrupts-off tracing is off (MachineOptions.IrqsOffTracing = false): nothing recorded\n");
            return sb.ToString();
        }

        sb.Append("\ninterrupts-off sections per CPU (us):\n");
        AppendHistogramHeader(sb, "sections");
        for (var i = 0; i < m.Cpus.Count; i++)
        {
            AppendHistogramRow(sb, i.ToString(CultureInfo.InvariantCulture), t.SectionsOn(i));
        }

        AppendHistogramRow(sb, "all", t.Sections);
        if (t.ThresholdNs > 0)
        {
            sb.Append(string.Create(
                CultureInfo.InvariantCulture,
                $"sections at or over tracing_thresh ({LockStatReport.Usecs(t.ThresholdNs)} us): {t.Over.Count}\n"));
        }

        var causes = t.ByCause
            .OrderByDescending(kv => kv.Value.TotalNs)
            .ThenBy(kv => kv.Key, StringComparer.Ordinal)
            .ToList();
        var totalNs = causes.Sum(kv => kv.Value.TotalNs);
        sb.Append("\ninterrupts-off time by cause (us):\n");
        sb.Append(string.Create(CultureInfo.InvariantCulture, $"  {"cause",-40} {"sections",10} {"total",12} {"max",12} {"share",7}\n"));
        foreach (var (cause, agg) in causes)
        {
            var share = totalNs == 0 ? 0.0 : 100.0 * agg.TotalNs / totalNs;
            sb.Append(string.Create(
                CultureInfo.InvariantCulture,
                $"  {cause,-40} {agg.Count,10} {LockStatReport.Usecs(agg.TotalNs),12} {LockStatReport.Usecs(agg.MaxNs),12} {share,6:0.0}%\n"));
        }

        sb.Append("\ninterrupt latency, raise to handler start, per CPU (us):\n");
        AppendHistogramHeader(sb, "irqs");
        for (var i = 0; i < m.Cpus.Count; i++)
        {
            AppendHistogramRow(sb, i.ToString(CultureInfo.InvariantCulture), t.IrqLatencyOn(i));
        }

        AppendHistogramRow(sb, "all", t.IrqLatency);
        return sb.ToString();
    }

    /// <summary>The delay mark ftrace prints after an event's time, for the gap to the next event.</summary>
    /// <remarks>Kernel: trace_find_mark() in kernel/trace/trace_output.c; each threshold is exclusive.</remarks>
    public static char DelayMark(long gapNs) => gapNs switch
    {
        > 1_000_000_000 => '$',
        > 100_000_000 => '@',
        > 10_000_000 => '*',
        > 1_000_000 => '#',
        > 100_000 => '!',
        > 10_000 => '+',
        _ => ' ',
    };

    // One latency-format event: "%8.8s-%-5d %3d" + flags + " %4dus" + mark + ": " + function <-caller,
    // the widths of the irqsoff example in ftrace.rst. Pid 0 prints as <idle>, as ftrace's comm cache does.
    private static void AppendEvent(StringBuilder sb, string comm, string pid, int cpu, string flags, long us, char mark, CodeSite site)
    {
        var shown = pid == "0" ? "<idle>" : comm;
        sb.Append(string.Create(
            CultureInfo.InvariantCulture,
            $"{Cut(shown, 8),8}-{pid,-5} {cpu,3}{flags} {us,4}us{mark}: {site.Op}"));
        if (site.Function.Length > 0 && site.Function != site.Op)
        {
            sb.Append(" <-").Append(site.Function);
        }

        sb.Append('\n');
    }

    private static void AppendHistogramHeader(StringBuilder sb, string countName) =>
        sb.Append(string.Create(CultureInfo.InvariantCulture, $"  {"CPU",4} {countName,10} {"p50",12} {"p99",12} {"max",12}\n"));

    private static void AppendHistogramRow(StringBuilder sb, string label, LatencyHistogram h) =>
        sb.Append(string.Create(
            CultureInfo.InvariantCulture,
            $"  {label,4} {h.Count,10} {LockStatReport.Usecs(h.Percentile(50)),12} {LockStatReport.Usecs(h.Percentile(99)),12} {LockStatReport.Usecs(h.Max),12}\n"));

    /// <summary>Splits the <c>comm/pid</c> a span records at its last slash (comms such as
    /// <c>swapper/0</c> hold one); a span recorded with no task prints pid <c>?</c>.</summary>
    private static (string Comm, string Pid) SplitTask(string task)
    {
        var slash = task.LastIndexOf('/');
        return slash < 0 ? (task, "?") : (task[..slash], task[(slash + 1)..]);
    }

    private static long RoundedUsecs(long ns) => (ns + 500) / 1000;

    private static string Cut(string s, int max) => s.Length <= max ? s : s[..max];
}
