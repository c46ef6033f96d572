using System.Diagnostics.Metrics;
using Writeback.Kernel;
using Writeback.Workloads.Running;

namespace Writeback.Tests.Workloads;

/// <summary>The <c>Writeback</c> meter reports what the run reports: its counters add up to the
/// jobs' bytes and I/Os, its histograms get one value per I/O and per sync, and its gauges read the
/// machine's lock and interrupts-off statistics.</summary>
/// <remarks>Tests run in parallel and other tests make <c>Writeback</c> meters too, so the listener
/// keeps to the meter of this test's <see cref="WritebackMetrics"/>. That class does not expose its
/// meter; instrument publication is synchronous on the creating thread, so the meter whose
/// instruments are published on this thread while the constructor runs is the one.</remarks>
public class WritebackMetricsTests
{
    [Fact]
    public void BufferedWriteJob_CountersAddUpToTheJob_AndHistogramsGetOneValuePerIoAndSync()
    {
        using var recorder = new Recorder();
        var r = Run("""
            [w]
            rw=write
            bs=4k
            size=256k
            fsync=16
            """, recorder);
        var job = Assert.Single(r.Jobs);
        Assert.Equal(64, job.Write.Ios);
        Assert.Equal(4, job.Sync.Count);

        var bytes = recorder.Of("writeback.io.bytes");
        Assert.Equal(job.Write.Bytes, bytes.Sum(m => m.Value));
        Assert.All(bytes, m => AssertTags(m, ("direction", "write"), ("design", "irq")));
        var ops = recorder.Of("writeback.io.operations");
        Assert.Equal(job.Write.Ios, ops.Sum(m => m.Value));
        Assert.All(ops, m => AssertTags(m, ("direction", "write"), ("design", "irq")));

        var latency = recorder.Of("writeback.io.latency");
        Assert.Equal(job.Write.Ios, latency.Count);
        Assert.All(latency, m => AssertTags(m, ("direction", "write"), ("design", "irq")));
        Assert.Equal(job.Write.Lat.Max / 1000.0, latency.Max(m => m.Value));
        Assert.Equal(job.Write.Lat.Min / 1000.0, latency.Min(m => m.Value));

        var sync = recorder.Of("writeback.sync.latency");
        Assert.Equal(job.Sync.Count, sync.Count);
        Assert.All(sync, m => AssertTags(m, ("design", "irq")));
        Assert.Equal(job.Sync.Lat.Max / 1000.0, sync.Max(m => m.Value));
    }

    [Fact]
    public void Gauges_AfterTheRun_ReadTheRunsPagesHoldTimes_AndLongestIrqsOffSpan()
    {
        using var recorder = new Recorder();
        var r = Run("""
            [w]
            rw=randwrite
            bs=4k
            size=256k
            end_fsync=1
            """, recorder);
        Assert.Empty(recorder.Of("writeback.irqsoff.max"));

        recorder.Listener.RecordObservableInstruments();

        var p99 = Assert.Single(recorder.Of("writeback.i_pages.hold_time.p99"));
        var max = Assert.Single(recorder.Of("writeback.i_pages.hold_time.max"));
        var irqsOff = Assert.Single(recorder.Of("writeback.irqsoff.max"));
        Assert.Single(recorder.Of("writeback.i_pages.hold_time.p50"));
        AssertTags(p99, ("design", "irq"));
        AssertTags(irqsOff, ("design", "irq"));
        Assert.True(r.Model.PagesHoldHistogram.Count > 0, "the job took i_pages");
        Assert.Equal(r.Model.PagesHoldHistogram.Percentile(99) / 1000.0, p99.Value);
        Assert.Equal(r.Model.PagesHoldHistogram.Max / 1000.0, max.Value);
        Assert.True(max.Value >= p99.Value && p99.Value > 0, $"p99 {p99.Value} us, max {max.Value} us");
        Assert.NotNull(r.Model.IrqsOff);
        Assert.Equal(r.Model.IrqsOff.DurationNs / 1000.0, irqsOff.Value);
        Assert.True(irqsOff.Value > 0, "irq completion keeps interrupts off while it holds i_pages");
    }

    [Fact]
    public void ReadJob_WithTaskCompletion_IsTaggedReadAndTask()
    {
        using var recorder = new Recorder();
        var r = Run("""
            [r]
            rw=randread
            bs=16k
            size=256k
            """, recorder, new WbsimOptions { Cpus = 2 }.With("completion", "task"));
        var job = Assert.Single(r.Jobs);
        var bytes = recorder.Of("writeback.io.bytes");
        Assert.Equal(job.Read.Bytes, bytes.Sum(m => m.Value));
        Assert.Equal(256 << 10, job.Read.Bytes);
        Assert.All(bytes, m => AssertTags(m, ("direction", "read"), ("design", "task")));
        Assert.Equal(16, recorder.Of("writeback.io.latency").Count);
        Assert.Empty(recorder.Of("writeback.sync.latency"));
    }

    [Fact]
    public void GaugesBeforeAnyRun_ReportNothing()
    {
        using var recorder = new Recorder();
        recorder.Listener.RecordObservableInstruments();
        Assert.Empty(recorder.Of("writeback.i_pages.hold_time.p99"));
        Assert.Empty(recorder.Of("writeback.i_pages.hold_time.max"));
        Assert.Empty(recorder.Of("writeback.irqsoff.max"));
    }

    /// <summary>Runs the jobs with <paramref name="recorder"/>'s metrics (on 2 CPUs unless
    /// <paramref name="options"/> say otherwise) and checks that they ran without error.</summary>
    private static RunResult Run(string text, Recorder recorder, WbsimOptions? options = null)
    {
        var r = JobRuns.Run(text, options, new RunControl { Metrics = recorder.Metrics }, "metrics.fio");
        Assert.True(r.Failure is null, r.FailureDetail);
        Assert.Empty(r.Model.Reports);
        Assert.All(r.Jobs, j => Assert.Equal(Errno.None, j.Error));
        return r;
    }

    private static void AssertTags(Recorded m, params (string Key, string Value)[] expected)
    {
        foreach (var (key, value) in expected)
        {
            Assert.True(m.Tags.TryGetValue(key, out var v), $"{m.Instrument}: no tag {key}");
            Assert.Equal(value, v);
        }

        Assert.Equal(expected.Length, m.Tags.Count);
    }

    private sealed record Recorded(string Instrument, double Value, IReadOnlyDictionary<string, string?> Tags);

    /// <summary>A <see cref="WritebackMetrics"/> and a listener that records its measurements only.</summary>
    private sealed class Recorder : IDisposable
    {
        private readonly List<Recorded> _seen = [];
        private readonly int _thread = Environment.CurrentManagedThreadId;
        private bool _constructing;
        private Meter? _meter;

        public Recorder()
        {
            Listener = new MeterListener
            {
                InstrumentPublished = (instrument, listener) =>
                {
                    // Publication runs synchronously inside Meter.Create*: on this thread, during
                    // the constructor below, it can only be that WritebackMetrics' own meter.
                    if (_constructing && Environment.CurrentManagedThreadId == _thread && instrument.Meter.Name == WritebackMetrics.MeterName)
                    {
                        _meter ??= instrument.Meter;
                        Assert.Same(_meter, instrument.Meter);
                        listener.EnableMeasurementEvents(instrument);
                    }
                },
            };
            Listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
            Listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
            Listener.Start();
            _constructing = true;
            Metrics = new WritebackMetrics();
            _constructing = false;
            Assert.NotNull(_meter);
        }

        public MeterListener Listener { get; }

        public WritebackMetrics Metrics { get; }

        public List<Recorded> Of(string instrument)
        {
            lock (_seen)
            {
                return [.. _seen.Where(m => m.Instrument == instrument)];
            }
        }

        public void Dispose()
        {
            Listener.Dispose();
            Metrics.Dispose();
        }

        private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (!ReferenceEquals(instrument.Meter, _meter))
            {
                return;
            }

            var t = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var kv in tags)
            {
                t[kv.Key] = kv.Value?.ToString();
            }

            lock (_seen)
            {
                _seen.Add(new Recorded(instrument.Name, value, t));
            }
        }
    }
}
