using System.Text.Json;
using Writeback.Diagnostics;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Workloads.Running;

namespace Writeback.Workloads.Reports;

/// <summary>The JSON report's <c>"model"</c> object: the machine and design, and what only a model
/// can show (lock statistics, interrupts-off time, completion latency, workqueue traffic, lockdep).</summary>
internal static class JsonModelWriter
{
    /// <summary>The workqueues the report always lists, in this order, even when idle.</summary>

    /// <summary>Writes <paramref name="run"/>'s "model" object.</summary>
    public static void WriteModel(Utf8JsonWriter w, RunResult run)
    {
        var o = run.Options;
        var model = run.Model;
        w.WriteStartObject("model");
        w.WriteString("engine", o.Engine == EngineKind.Deterministic ? "sim" : "real");
        w.WriteNumber("seed", o.Seed);
        w.WriteNumber("cpus", o.Cpus);
        w.WriteString("completion", o.Completion == CompletionMode.Irq ? "irq" : "task");
        w.WriteString("task_variant", WbsimOptions.VariantName(o.Variant));
        w.WriteString("i_pages_lock", o.Completion == CompletionMode.Irq && !o.PlainLock ? "irqsave" : "plain");
        w.WriteString("time_basis", model.TimeBasis);
        w.WriteString("design", o.DesignName);
        w.WriteString("latency", o.LatencyName);
        w.WriteString("job_file", run.JobFile);
        w.WriteNumber("elapsed_ns", run.ElapsedNs);
        w.WriteBoolean("interrupted", run.Interrupted);
        WriteNullableString(w, "failure", run.Failure);
        w.WriteStartObject("verify");
        w.WriteNumber("errors", run.VerifyErrors);
        w.WriteNumber("bytes", run.VerifyBytes);
        w.WriteEndObject();
        w.WriteStartObject("lockdep");
        w.WriteNumber("reports", model.Reports.Count);
        WriteNullableString(w, "first", model.Reports.Count > 0 ? model.Reports[0] : null);
        w.WriteEndObject();
        WriteLockStat(w, model);
        WriteIrqsOff(w, model);
        WriteSummary(w, "irq_latency_ns", model.IrqLatency);
        WriteSummary(w, "completion_latency_ns", model.CompletionLatency);
        WriteSummary(w, "deferral_latency_ns", model.DeferralLatency);
        WriteWorkqueues(w, model.Workqueues);
        w.WriteStartObject("dropbehind");
        w.WriteNumber("removed", model.DropbehindRemoved);
        w.WriteNumber("left", model.DropbehindLeft);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>The report's name of a lock class: the kernel's, except i_pages's.</summary>
    public static string ClassName(string kernelClassName) =>
        kernelClassName == ModelReport.PagesClassName ? "i_pages" : kernelClassName;

    private static void WriteLockStat(Utf8JsonWriter w, ModelReport model)
    {
        w.WriteStartArray("lock_stat");
        foreach (var e in model.LockStat)
        {
            w.WriteStartObject();
            w.WriteString("class", ClassName(e.ClassName));
            w.WriteString("name", e.Name);
            w.WriteNumber("acquisitions", e.Acquisitions);
            w.WriteNumber("contentions", e.Contentions);
            w.WriteStartObject("waittime_ns");
            w.WriteNumber("min", e.WaitTimeMinNs);
            w.WriteNumber("max", e.WaitTimeMaxNs);
            w.WriteNumber("total", e.WaitTimeTotalNs);
            w.WriteEndObject();
            w.WriteStartObject("holdtime_ns");
            w.WriteNumber("min", e.HoldTimeMinNs);
            w.WriteNumber("max", e.HoldTimeMaxNs);
            w.WriteNumber("total", e.HoldTimeTotalNs);
            w.WriteNumber("p50", e.Hold.P50Ns);
            w.WriteNumber("p99", e.Hold.P99Ns);
            w.WriteEndObject();
            WriteNullableString(w, "usage", model.Usage.GetValueOrDefault(e.ClassName));
            w.WriteNumber("irqsoff_ns_total", model.IrqsOffByClassNs.GetValueOrDefault(e.ClassName));
            w.WriteBoolean("read", e.IsRead);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    // With no span, the figures are 0 and the CPU, cause and sites null (CPU 0 is a real CPU).
    private static void WriteIrqsOff(Utf8JsonWriter w, ModelReport model)
    {
        var max = model.IrqsOff;
        w.WriteStartObject("irqsoff");
        w.WriteNumber("max_ns", max?.DurationNs ?? 0);
        if (max is null)
        {
            w.WriteNull("max_cpu");
        }
        else
        {
            w.WriteNumber("max_cpu", max.Cpu);
        }

        w.WriteNumber("max_start", max?.StartNs ?? 0);
        w.WriteNumber("max_end", max?.EndNs ?? 0);
        w.WriteNumber("total_ns", model.IrqsOffTotalNs);
        WriteNullableString(w, "cause", max?.Cause);
        WriteNullableString(w, "start_site", max?.StartSite);
        WriteNullableString(w, "end_site", max?.EndSite);
        w.WriteEndObject();
    }

    private static void WriteSummary(Utf8JsonWriter w, string name, LatencySummary s)
    {
        w.WriteStartObject(name);
        w.WriteNumber("p50", s.P50Ns);
        w.WriteNumber("p99", s.P99Ns);
        w.WriteNumber("max", s.MaxNs);
        w.WriteNumber("count", s.Count);
        w.WriteEndObject();
    }

    // The fixed queues first, in a fixed order, then the others by name: the order never depends
    // on how the dictionary was filled.
    private static void WriteWorkqueues(Utf8JsonWriter w, IReadOnlyDictionary<string, (long Queued, long Executed)> workqueues)
    {
        w.WriteStartObject("workqueues");
        var others = workqueues.Keys.Where(k => !ModelReport.DeferralWorkqueues.Contains(k, StringComparer.Ordinal)).Order(StringComparer.Ordinal);
        foreach (var name in ModelReport.DeferralWorkqueues.Concat(others))
        {
            var (queued, executed) = workqueues.GetValueOrDefault(name);
            w.WriteStartObject(name);
            w.WriteNumber("queued", queued);
            w.WriteNumber("executed", executed);
            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    private static void WriteNullableString(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }
}
