using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Writeback.Kernel;
using Writeback.Workloads.Running;

namespace Writeback.Workloads.Reports;

/// <summary>A run as fio's JSON output (<c>--output-format=json</c>, fio 3.33's keys, nesting, order
/// and units), plus a <c>"model"</c> object with what only the model can show and a <c>"host"</c>
/// object with what depends on the host.</summary>
/// <remarks>Everything outside <c>"host"</c> is a function of the <see cref="RunResult"/>: the same
/// result always gives the same bytes there, so two runs of the same job file, seed and design can be
/// compared with <c>diff</c>. fio's keys that the model has no figures for (usr_cpu, sys_cpu, ctx,
/// majf, minf, iodepth_submit, iodepth_complete, the latency-target keys, trim, disk_util) are left
/// out rather than printed as zeros; "timestamp", "timestamp_ms" and "time" move into "host".
/// Bandwidth and IOPS are computed from the nanosecond runtime where fio uses milliseconds.</remarks>
public static class JsonReport
{
    /// <summary>The value of the top-level "fio version" key (fio readers look for it).</summary>
    public const string Version = "wbsim (Writeback model, kernel " + Machine.KernelRelease + ")";

    private static readonly JsonWriterOptions s_options = new()
    {
        Indented = true,
        NewLine = "\n",
        // Lock class names such as "&mapping->i_pages" stay readable.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The JSON document of <paramref name="run"/> (without a final newline; the Write methods add one).</summary>
    /// <param name="run">The run.</param>
    /// <param name="host">The host part; this host, now, when null.</param>
    public static string Format(RunResult run, JsonReportHost? host = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        var resolved = host ?? JsonReportHost.Current(run.HostWallMs);
        return Render(w => WriteRun(w, run, resolved));
    }

    /// <summary>Several runs (the compare command's output) as <c>{"runs": [run, ...]}</c>, each run
    /// the object <see cref="Format"/> gives (without a final newline).</summary>
    /// <param name="runs">The runs, in order.</param>
    /// <param name="host">The host part of each run; this host, now, with the run's wall time, when null.</param>
    public static string FormatRuns(IReadOnlyList<RunResult> runs, Func<RunResult, JsonReportHost>? host = null)
    {
        ArgumentNullException.ThrowIfNull(runs);
        return Render(w => WriteRuns(w, runs, host));
    }

    /// <summary><see cref="FormatRuns(IReadOnlyList{RunResult}, Func{RunResult, JsonReportHost})"/> with
    /// one host part for every run (the whole comparison's wall time, say).</summary>
    public static string FormatRuns(IReadOnlyList<RunResult> runs, JsonReportHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        return FormatRuns(runs, _ => host);
    }

    /// <summary>Writes <see cref="Format"/>'s document and a newline to <paramref name="stream"/> as UTF-8.</summary>
    public static void Write(Stream stream, RunResult run, JsonReportHost? host = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(run);
        var resolved = host ?? JsonReportHost.Current(run.HostWallMs);
        WriteTo(stream, w => WriteRun(w, run, resolved));
    }

    /// <summary>Writes <see cref="Format"/>'s document and a newline to <paramref name="writer"/>.</summary>
    public static void Write(TextWriter writer, RunResult run, JsonReportHost? host = null)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(Format(run, host));
        writer.Write('\n');
    }

    /// <summary>Writes <see cref="FormatRuns(IReadOnlyList{RunResult}, Func{RunResult, JsonReportHost})"/>'s document and a newline to <paramref name="stream"/> as UTF-8.</summary>
    public static void WriteRuns(Stream stream, IReadOnlyList<RunResult> runs, Func<RunResult, JsonReportHost>? host = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(runs);
        WriteTo(stream, w => WriteRuns(w, runs, host));
    }

    /// <summary>Writes <see cref="FormatRuns(IReadOnlyList{RunResult}, Func{RunResult, JsonReportHost})"/>'s document and a newline to <paramref name="writer"/>.</summary>
    public static void WriteRuns(TextWriter writer, IReadOnlyList<RunResult> runs, Func<RunResult, JsonReportHost>? host = null)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(FormatRuns(runs, host));
        writer.Write('\n');
    }

    /// <summary>Writes one run's object (the whole of <see cref="Format"/>'s document) to
    /// <paramref name="writer"/>, for embedding in a larger document.</summary>
    public static void WriteRun(Utf8JsonWriter writer, RunResult run, JsonReportHost host)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(host);
        writer.WriteStartObject();
        writer.WriteString("fio version", Version);
        writer.WriteStartObject("global options");
        writer.WriteEndObject();
        writer.WriteStartArray("jobs");
        foreach (var job in run.Jobs)
        {
            var group = run.Groups.FirstOrDefault(g => g.GroupId == job.GroupId) ?? (run.Groups.Count > 0 ? run.Groups[0] : null);
            JsonJobWriter.WriteJob(writer, job, group);
        }

        writer.WriteEndArray();
        JsonModelWriter.WriteModel(writer, run);
        WriteHost(writer, host);
        writer.WriteEndObject();
    }

    private static void WriteRuns(Utf8JsonWriter w, IReadOnlyList<RunResult> runs, Func<RunResult, JsonReportHost>? host)
    {
        w.WriteStartObject();
        w.WriteStartArray("runs");
        foreach (var run in runs)
        {
            ArgumentNullException.ThrowIfNull(run, nameof(runs));
            WriteRun(w, run, host?.Invoke(run) ?? JsonReportHost.Current(run.HostWallMs));
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteHost(Utf8JsonWriter w, JsonReportHost host)
    {
        w.WriteStartObject("host");
        w.WriteNumber("wall_ms", host.WallMs);
        w.WriteString("host_name", host.HostName);
        w.WriteString("time", host.Time);
        w.WriteNumber("timestamp", host.Now.ToUnixTimeSeconds());
        w.WriteNumber("timestamp_ms", host.Now.ToUnixTimeMilliseconds());
        w.WriteEndObject();
    }

    private static string Render(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, s_options))
        {
            write(w);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteTo(Stream stream, Action<Utf8JsonWriter> write)
    {
        using (var w = new Utf8JsonWriter(stream, s_options))
        {
            write(w);
        }

        stream.WriteByte((byte)'\n');
        stream.Flush();
    }
}
