using System.Diagnostics.Metrics;
using System.Threading;
using Writeback.Diagnostics;

namespace Writeback.Workloads.Running;

/// <summary>The <c>Writeback</c> meter: what a long run is doing, for <c>dotnet-counters monitor
/// -n wbsim --counters Writeback</c>. I/O bytes and operations are counters and I/O latency a
/// histogram, tagged by direction and design; the i_pages lock's hold time and the longest
/// interrupts-off span are observable gauges read from the running machine's statistics.</summary>
/// <remarks>The gauges read per-CPU statistics that are not locked against the machine: a reading
/// may be a moment stale. Times are modelled on the deterministic engine and measured on the real one.</remarks>
public sealed class WritebackMetrics : IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Writeback";

    private readonly Meter _meter;
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _operations;
    private readonly Histogram<double> _latency;
    private readonly Histogram<double> _syncLatency;
    private Func<LatencySummary?>? _hold;
    private Func<long>? _irqsOffMax;
    private string _design = "";

    /// <summary>Creates the meter and its instruments.</summary>
    public WritebackMetrics()
    {
        _meter = new Meter(MeterName);
        _bytes = _meter.CreateCounter<long>("writeback.io.bytes", "By", "bytes moved by job I/O");
        _operations = _meter.CreateCounter<long>("writeback.io.operations", "{operation}", "job I/Os completed");
        _latency = _meter.CreateHistogram<double>("writeback.io.latency", "us", "job I/O completion latency");
        _syncLatency = _meter.CreateHistogram<double>("writeback.sync.latency", "us", "fsync/fdatasync latency");
        _meter.CreateObservableGauge("writeback.i_pages.hold_time.p50", () => Hold(h => h.P50Ns), "us", "i_pages lock hold time, median so far");
        _meter.CreateObservableGauge("writeback.i_pages.hold_time.p99", () => Hold(h => h.P99Ns), "us", "i_pages lock hold time, 99th percentile so far");
        _meter.CreateObservableGauge("writeback.i_pages.hold_time.max", () => Hold(h => h.MaxNs), "us", "i_pages lock hold time, longest so far");
        _meter.CreateObservableGauge("writeback.irqsoff.max", IrqsOffMax, "us", "longest interrupts-off span so far");
    }

    /// <summary>Points the gauges at a run's machine (the runner calls this).</summary>
    internal void Attach(string design, Func<LatencySummary?> hold, Func<long> irqsOffMax)
    {
        Volatile.Write(ref _design, design);
        Volatile.Write(ref _hold, hold);
        Volatile.Write(ref _irqsOffMax, irqsOffMax);
    }

    /// <summary>Records one completed job I/O.</summary>
    internal void RecordIo(bool write, long bytes, long latencyNs)
    {
        var tags = new KeyValuePair<string, object?>[] { new("direction", write ? "write" : "read"), new("design", Volatile.Read(ref _design)) };
        _bytes.Add(bytes, tags);
        _operations.Add(1, tags);
        _latency.Record(latencyNs / 1000.0, tags);
    }

    /// <summary>Records one fsync or fdatasync.</summary>
    internal void RecordSync(long latencyNs) =>
        _syncLatency.Record(latencyNs / 1000.0, new KeyValuePair<string, object?>("design", Volatile.Read(ref _design)));

    /// <summary>Disposes the meter.</summary>
    public void Dispose() => _meter.Dispose();

    private Measurement<double>[] Hold(Func<LatencySummary, long> pick) =>
        Volatile.Read(ref _hold)?.Invoke() is { } h
            ? [new Measurement<double>(pick(h) / 1000.0, new KeyValuePair<string, object?>("design", Volatile.Read(ref _design)))]
            : [];

    private Measurement<double>[] IrqsOffMax() =>
        Volatile.Read(ref _irqsOffMax) is { } f
            ? [new Measurement<double>(f() / 1000.0, new KeyValuePair<string, object?>("design", Volatile.Read(ref _design)))]
            : [];
}
