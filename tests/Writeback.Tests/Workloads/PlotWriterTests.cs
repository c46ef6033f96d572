using System.Buffers.Binary;
using Writeback.Block;
using Writeback.Lib;
using Writeback.Mm;
using Writeback.Workloads.Reports;
using Writeback.Workloads.Running;

namespace Writeback.Tests.Workloads;

/// <summary>PlotWriter: four 1000x600 PNGs per call, one series per design, written even when a chart
/// has no data, and errors that name the path; PlotData.From's sums over a run's jobs.</summary>
public sealed class PlotWriterTests : IDisposable
{
    private static readonly byte[] s_pngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    private readonly string _root = Path.Combine(Path.GetTempPath(), "plotwriter-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public void Write_CreatesTheDirectory_AndWritesFour1000x600Pngs()
    {
        var dir = Path.Combine(_root, "nested", "plots");
        var paths = PlotWriter.Write(dir, [Data("irq", scale: 1), Data("task", scale: 3)]);

        Assert.Equal(
            [PlotWriter.HoldTimeFile, PlotWriter.CompletionLatencyFile, PlotWriter.IrqsOffFile, PlotWriter.ThroughputFile],
            paths.Select(Path.GetFileName));
        Assert.Equal(["completion-latency.png", "hold-time.png", "irqsoff.png", "throughput.png"],
            Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (var path in paths)
        {
            Assert.Equal(Path.GetFullPath(dir), Path.GetDirectoryName(path));
            AssertPng(path);
        }
    }

    [Fact]
    public void Write_DifferentData_GivesDifferentCharts_AndTheSameDataTheSameBytes()
    {
        var first = PlotWriter.Write(Path.Combine(_root, "a"), [Data("irq", scale: 1), Data("task", scale: 3)]);
        var again = PlotWriter.Write(Path.Combine(_root, "b"), [Data("irq", scale: 1), Data("task", scale: 3)]);
        var other = PlotWriter.Write(Path.Combine(_root, "c"), [Data("irq", scale: 1), Data("task", scale: 5)]);

        for (var i = 0; i < first.Count; i++)
        {
            Assert.Equal(File.ReadAllBytes(first[i]), File.ReadAllBytes(again[i]));
            Assert.NotEqual(File.ReadAllBytes(first[i]), File.ReadAllBytes(other[i]));
        }
    }

    [Fact]
    public void Write_DesignWithoutData_StillWritesEveryChart_AndDiffersFromTheChartWithout()
    {
        var withEmpty = PlotWriter.Write(Path.Combine(_root, "a"), [Data("irq", scale: 1), Empty("task")]);
        var alone = PlotWriter.Write(Path.Combine(_root, "b"), [Data("irq", scale: 1)]);

        for (var i = 0; i < withEmpty.Count; i++)
        {
            AssertPng(withEmpty[i]);
            // The empty design still has its legend line.
            Assert.NotEqual(File.ReadAllBytes(alone[i]), File.ReadAllBytes(withEmpty[i]));
        }
    }

    [Fact]
    public void Write_AllEmpty_WritesEveryChartMarkedNoData()
    {
        var empty = PlotWriter.Write(Path.Combine(_root, "empty"), [Empty("irq"), Empty("task")]);
        var none = PlotWriter.Write(Path.Combine(_root, "none"), []);

        Assert.Equal(4, empty.Count);
        Assert.Equal(4, none.Count);
        foreach (var path in empty.Concat(none))
        {
            AssertPng(path);
        }
    }

    [Fact]
    public void Write_DirectoryIsAFile_ThrowsIOExceptionNamingIt()
    {
        Directory.CreateDirectory(_root);
        var file = Path.Combine(_root, "not-a-directory");
        File.WriteAllText(file, "x");

        var e = Assert.ThrowsAny<IOException>(() => PlotWriter.Write(file, [Data("irq", scale: 1)]));
        Assert.Contains(file, e.Message, StringComparison.Ordinal);
        var below = Path.Combine(file, "plots");
        e = Assert.ThrowsAny<IOException>(() => PlotWriter.Write(below, [Data("irq", scale: 1)]));
        Assert.Contains(below, e.Message, StringComparison.Ordinal);
        Assert.Equal("x", File.ReadAllText(file));
    }

    [Fact]
    public void Write_ChartPathTaken_ThrowsIOExceptionNamingTheChart_AndKeepsTheChartsBefore()
    {
        var dir = Path.Combine(_root, "plots");
        var blocked = Path.Combine(dir, PlotWriter.IrqsOffFile);
        Directory.CreateDirectory(blocked);

        var e = Assert.ThrowsAny<IOException>(() => PlotWriter.Write(dir, [Data("irq", scale: 1)]));
        Assert.Contains(blocked, e.Message, StringComparison.Ordinal);
        AssertPng(Path.Combine(dir, PlotWriter.HoldTimeFile));
        AssertPng(Path.Combine(dir, PlotWriter.CompletionLatencyFile));
        Assert.False(File.Exists(Path.Combine(dir, PlotWriter.ThroughputFile)));
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }

    [Fact]
    public void Write_NullRun_ThrowsArgumentException()
    {
        Assert.Throws<ArgumentException>(() => PlotWriter.Write(Path.Combine(_root, "x"), [Data("irq", scale: 1), null!]));
        Assert.Throws<ArgumentNullException>(() => PlotWriter.Write(Path.Combine(_root, "x"), null!));
        Assert.False(Directory.Exists(Path.Combine(_root, "x")));
    }

    [Fact]
    public void From_TakesDesignAndBasis_AndSumsTimelinesAndClatOverJobs()
    {
        var a = Job("a");
        var b = Job("b");
        a.Write.Record(4096, 4096, -1, 1_000, 500_000);
        a.Write.Record(4096, 4096, -1, 2_000, 2_500_000);
        b.Write.Record(8192, 8192, -1, 3_000, 600_000);
        b.Read.Record(512, 512, -1, 4_000, 1_500_000);
        var hold = new LatencyHistogram();
        var completion = new LatencyHistogram();
        var irqsOff = new LatencyHistogram();

        var data = PlotData.From(Run(new WbsimOptions { Completion = CompletionMode.Task, Variant = TaskCompletionVariant.Merged }, "modelled", a, b), hold, completion, irqsOff);

        Assert.Equal("task", data.Design);
        Assert.Equal("modelled", data.TimeBasis);
        Assert.Equal([4096L + 8192, 0, 4096], data.WriteTimeline);
        Assert.Equal([0L, 512], data.ReadTimeline);
        Assert.Equal(4, data.Clat.Count);
        Assert.Equal(4_000, data.Clat.Max);
        Assert.Same(hold, data.HoldTime);
        Assert.Same(completion, data.CompletionLatency);
        Assert.Same(irqsOff, data.IrqsOff);
    }

    [Fact]
    public void LogTimeTicks_LabelEachDecadeInTimeUnits()
    {
        var ticks = PlotAxes.LogTimeTicks(0, 9);

        Assert.Equal(
            ["1ns", "10ns", "100ns", "1us", "10us", "100us", "1ms", "10ms", "100ms", "1s"],
            ticks.Where(t => t.IsMajor).Select(t => t.Label));
        Assert.Equal(9 * 8, ticks.Count(t => !t.IsMajor));
    }

    [Fact]
    public void NinesTicks_LabelPercentiles()
    {
        var majors = PlotAxes.NinesTicks(4).Where(t => t.IsMajor).ToArray();

        Assert.Equal(["0%", "50%", "90%", "99%", "99.9%", "99.99%"], majors.Select(t => t.Label));
        Assert.Equal(3, majors.Single(t => t.Label == "99.9%").Position, precision: 9);
    }

    private static void AssertPng(string path)
    {
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 33, $"{path} is too short for a PNG");
        Assert.Equal(s_pngSignature, bytes[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        Assert.Equal(PlotWriter.WidthPixels, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
        Assert.Equal(PlotWriter.HeightPixels, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
        Assert.Equal(1000, PlotWriter.WidthPixels);
        Assert.Equal(600, PlotWriter.HeightPixels);
    }

    // A design's data with latencies over three decades and 2 s of writes (and reads); `scale`
    // stretches the latencies and the write rate, so two scales give different charts.
    private static PlotData Data(string design, int scale)
    {
        var job = Job("job");
        for (var ms = 0; ms < 2_000; ms++)
        {
            var bytes = 4096L * scale * (1 + (ms / 500));
            job.Write.Record(bytes, bytes, -1, 20_000 * scale, ms * 1_000_000L);
            if (ms % 3 == 0)
            {
                job.Read.Record(4096, 4096, -1, 80_000, ms * 1_000_000L);
            }
        }

        var hold = new LatencyHistogram();
        var completion = new LatencyHistogram();
        var irqsOff = new LatencyHistogram();
        for (var i = 0; i < 5_000; i++)
        {
            var tail = i % 997 == 0 ? 1_000 : i % 31 == 0 ? 30 : 1;
            hold.Record(scale * (200 + (i % 400)) * tail);
            completion.Record(scale * (5_000 + (i % 7_000)) * tail);
            irqsOff.Record(scale * (300 + (i % 1_500)) * tail);
        }

        var options = design == "irq"
            ? new WbsimOptions { Completion = CompletionMode.Irq }
            : new WbsimOptions { Completion = CompletionMode.Task, Variant = TaskCompletionVariant.Merged };
        var data = PlotData.From(Run(options, "modelled", job), hold, completion, irqsOff);
        Assert.Equal(design, data.Design);
        return data;
    }

    private static PlotData Empty(string design) =>
        new(design, "modelled", new LatencyHistogram(), new LatencyHistogram(), new LatencyHistogram(), [], [], new LatencyHistogram());

    private static JobResult Job(string name) => new(new JobSpec { Name = name, Where = "test" }, groupId: 0);

    private static RunResult Run(WbsimOptions options, string timeBasis, params JobResult[] jobs) =>
        FakeRuns.Run(jobs, FakeRuns.Model(timeBasis), options, groups: []);
}
