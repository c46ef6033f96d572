using Writeback.Lib;

namespace Writeback.Workloads.Reports;

/// <summary>Writes PNG charts that compare runs of one job file under different designs (IRQ
/// completion, task completion and its variants): one series per design, in the same colour on
/// every chart.</summary>
/// <remarks>The charts: <see cref="HoldTimeFile"/> and <see cref="CompletionLatencyFile"/> (percentile
/// against latency), <see cref="IrqsOffFile"/> (spans per length bin) and <see cref="ThroughputFile"/>
/// (MiB/s over time). Latency axes are logarithmic; ScottPlot 5 has no log axis, so the charts plot
/// log10 of the values and label the ticks in the values' units (see <see cref="PlotAxes"/>). Rendering
/// is deterministic: the same data give the same bytes.</remarks>
public static class PlotWriter
{
    /// <summary>Width of every chart, pixels.</summary>
    public const int WidthPixels = 1000;

    /// <summary>Height of every chart, pixels.</summary>
    public const int HeightPixels = 600;

    /// <summary>The i_pages lock hold-time distribution.</summary>
    public const string HoldTimeFile = "hold-time.png";

    /// <summary>The completion-latency distribution.</summary>
    public const string CompletionLatencyFile = "completion-latency.png";

    /// <summary>The interrupts-off span histogram.</summary>
    public const string IrqsOffFile = "irqsoff.png";

    /// <summary>Write (and read) throughput over time.</summary>
    public const string ThroughputFile = "throughput.png";

    /// <summary>About how many points a throughput line has: the bin is the run's length over
    /// this, rounded up to 1, 2 or 5 times a power of ten of timeline slots.</summary>
    private const int ThroughputPoints = 50;

    /// <summary>Interrupts-off histogram bins per decade of span length.</summary>
    private const int BinsPerDecade = 10;

    /// <summary>Where an empty bin sits on the log10(count) axis: below a bin of one span (at 0).</summary>
    private const double EmptyBinLevel = -0.5;

    private static readonly ScottPlot.Palettes.Category10 s_palette = new();

    /// <summary>Writes the four charts into <paramref name="directory"/> (created if needed) and returns
    /// their paths, in the order of the file-name constants. A chart with no data at all is still
    /// written, marked "no data"; a design with no data for a chart is listed in its legend as such.</summary>
    /// <exception cref="IOException">The directory cannot be created or a chart cannot be written; the
    /// message names the path. Charts written before the failure stay.</exception>
    public static IReadOnlyList<string> Write(string directory, IReadOnlyList<PlotData> runs)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(runs);
        for (var i = 0; i < runs.Count; i++)
        {
            if (runs[i] is null)
            {
                throw new ArgumentException($"runs[{i}] is null", nameof(runs));
            }
        }

        var full = Path.GetFullPath(directory);
        try
        {
            Directory.CreateDirectory(full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new IOException($"cannot create the plot directory '{full}': {e.Message}", e);
        }

        var basis = string.Join('/', runs.Select(r => r.TimeBasis).Where(b => b.Length > 0).Distinct(StringComparer.Ordinal));
        var suffix = basis.Length == 0 ? "" : $" ({basis})";
        var paths = new List<string>(4);
        using (var plot = LatencyChart(runs, r => r.HoldTime, "i_pages lock hold time: percentile vs time held" + suffix, "hold time (log scale)"))
        {
            paths.Add(Save(plot, full, HoldTimeFile));
        }

        using (var plot = LatencyChart(runs, r => r.CompletionLatency, "Completion latency, device done to completion work done: percentile vs time" + suffix, "completion latency (log scale)"))
        {
            paths.Add(Save(plot, full, CompletionLatencyFile));
        }

        using (var plot = IrqsOffChart(runs, "Interrupts-off spans: count per span length, 10 bins per decade" + suffix))
        {
            paths.Add(Save(plot, full, IrqsOffFile));
        }

        var slotsPerBin = ThroughputBin(runs);
        using (var plot = ThroughputChart(runs, slotsPerBin, $"Throughput, MiB/s in {FormatBin(slotsPerBin)} bins" + suffix))
        {
            paths.Add(Save(plot, full, ThroughputFile));
        }

        return paths;
    }

    // Percentile against latency: x = log10(ns), y on the nines scale, one curve per design.
    private static ScottPlot.Plot LatencyChart(IReadOnlyList<PlotData> runs, Func<PlotData, LatencyHistogram> select, string title, string xLabel)
    {
        var plot = NewPlot(title, xLabel, "percentile (of values recorded)");
        double lo = double.MaxValue, hi = double.MinValue, top = 1;
        for (var i = 0; i < runs.Count; i++)
        {
            var h = select(runs[i]);
            if (h.Count == 0)
            {
                AddNoDataEntry(plot, runs[i].Design, i);
                continue;
            }

            var (xs, ys) = PercentileCurve(h);
            var line = AddLine(plot, xs, ys, i);
            line.LegendText = $"{runs[i].Design}: n={PlotAxes.FormatCount(h.Count)}, p50 {PlotAxes.FormatNs(h.Percentile(50))}, " +
                $"p99 {PlotAxes.FormatNs(h.Percentile(99))}, max {PlotAxes.FormatNs(h.Max)}";
            lo = Math.Min(lo, xs[0]);
            hi = Math.Max(hi, xs[^1]);
            top = Math.Max(top, ys[^1]);
        }

        if (lo > hi)
        {
            AddNoData(plot);
            (lo, hi) = (0, 6);
        }

        var (loDecade, hiDecade) = Decades(lo, hi);
        var maxNines = (int)Math.Ceiling(top - 1e-9);
        plot.Axes.Bottom.TickGenerator = PlotAxes.Fixed(PlotAxes.LogTimeTicks(loDecade, hiDecade));
        plot.Axes.Left.TickGenerator = PlotAxes.Fixed(PlotAxes.NinesTicks(maxNines));
        plot.Axes.SetLimits(loDecade, hiDecade, -0.05, maxNines + 0.1);
        plot.ShowLegend(ScottPlot.Alignment.UpperLeft);
        return plot;
    }

    // The empirical distribution through each bucket's upper bound: the fraction of values at or
    // below it, on the nines scale. The last bucket's fraction is 1, infinitely many nines, so it
    // is drawn at the level of one value in Count (log10 Count), where the tail ends.
    private static (double[] Xs, double[] Ys) PercentileCurve(LatencyHistogram h)
    {
        var top = Math.Log10(h.Count);
        var xs = new List<double> { PlotAxes.LogNs(h.Min) };
        var ys = new List<double> { 0 };
        long seen = 0;
        foreach (var (_, high, count) in h.Buckets())
        {
            seen += count;
            xs.Add(PlotAxes.LogNs(Math.Min(high, h.Max)));
            ys.Add(seen >= h.Count ? top : Math.Min(top, PlotAxes.Nines((double)seen / h.Count)));
        }

        return ([.. xs], [.. ys]);
    }

    // Spans per length bin as a stair outline per design: x = log10(ns), y = log10(count), empty
    // bins at EmptyBinLevel so that a bin of one span (y = 0) stands out from an empty one.
    private static ScottPlot.Plot IrqsOffChart(IReadOnlyList<PlotData> runs, string title)
    {
        var plot = NewPlot(title, "interrupts-off span length (log scale)", "spans in the bin (log scale)");
        var binned = new SortedDictionary<int, long>?[runs.Count];
        int loBin = int.MaxValue, hiBin = int.MinValue;
        long most = 1;
        for (var i = 0; i < runs.Count; i++)
        {
            var h = runs[i].IrqsOff;
            if (h.Count == 0)
            {
                continue;
            }

            var bins = new SortedDictionary<int, long>();
            foreach (var (low, high, count) in h.Buckets())
            {
                // A bucket is narrower (6 %) than a bin (26 %): its midpoint places it.
                var bin = (int)Math.Floor((PlotAxes.LogNs((low + high) / 2.0) * BinsPerDecade) + 1e-9);
                bins[bin] = bins.GetValueOrDefault(bin) + count;
            }

            binned[i] = bins;
            loBin = Math.Min(loBin, bins.Keys.First());
            hiBin = Math.Max(hiBin, bins.Keys.Last());
            most = Math.Max(most, bins.Values.Max());
        }

        for (var i = 0; i < runs.Count; i++)
        {
            if (binned[i] is not { } bins)
            {
                AddNoDataEntry(plot, runs[i].Design, i);
                continue;
            }

            var xs = new List<double> { (double)loBin / BinsPerDecade };
            var ys = new List<double> { EmptyBinLevel };
            for (var b = loBin; b <= hiBin; b++)
            {
                var level = bins.TryGetValue(b, out var n) ? Math.Log10(n) : EmptyBinLevel;
                xs.Add((double)b / BinsPerDecade);
                ys.Add(level);
                xs.Add((double)(b + 1) / BinsPerDecade);
                ys.Add(level);
            }

            xs.Add((double)(hiBin + 1) / BinsPerDecade);
            ys.Add(EmptyBinLevel);
            var h = runs[i].IrqsOff;
            var line = AddLine(plot, [.. xs], [.. ys], i);
            line.LegendText = $"{runs[i].Design}: {PlotAxes.FormatCount(h.Count)} spans, total {PlotAxes.FormatNs(h.Total)}, " +
                $"p99 {PlotAxes.FormatNs(h.Percentile(99))}, max {PlotAxes.FormatNs(h.Max)}";
        }

        double lo = (double)loBin / BinsPerDecade, hi = (double)(hiBin + 1) / BinsPerDecade;
        if (loBin > hiBin)
        {
            AddNoData(plot);
            (lo, hi) = (0, 6);
        }

        var (loDecade, hiDecade) = Decades(lo, hi);
        var countDecades = Math.Max(1, (int)Math.Ceiling(Math.Log10(most) - 1e-9));
        plot.Axes.Bottom.TickGenerator = PlotAxes.Fixed(PlotAxes.LogTimeTicks(loDecade, hiDecade));
        plot.Axes.Left.TickGenerator = PlotAxes.Fixed(PlotAxes.LogCountTicks(0, countDecades));
        plot.Axes.SetLimits(loDecade, hiDecade, EmptyBinLevel - 0.1, countDecades + 0.3);
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        return plot;
    }

    // The bin: about ThroughputPoints points over the longest timeline, a 1-2-5 multiple of a slot.
    private static int ThroughputBin(IReadOnlyList<PlotData> runs)
    {
        var slots = runs.Count == 0 ? 0 : runs.Max(r => Math.Max(r.WriteTimeline.Count, r.ReadTimeline.Count));
        var bin = 1;
        for (var decade = 1; bin * ThroughputPoints < slots; decade *= 10)
        {
            bin = new[] { decade, 2 * decade, 5 * decade, 10 * decade }.First(b => b * ThroughputPoints >= slots || b == 10 * decade);
        }

        return bin;
    }

    private static string FormatBin(int slotsPerBin)
    {
        var ms = slotsPerBin * PlotData.TimelineSlotNs / 1_000_000.0;
        return ms >= 1000 ? $"{ms / 1000:0.#} s" : $"{ms:0.#} ms";
    }

    // MiB/s per bin through the bins' midpoints: writes solid, reads dashed.
    private static ScottPlot.Plot ThroughputChart(IReadOnlyList<PlotData> runs, int slotsPerBin, string title)
    {
        var plot = NewPlot(title, "time since the jobs' stats start (s)", "throughput (MiB/s)");
        double maxRate = 0, maxSeconds = 0;
        for (var i = 0; i < runs.Count; i++)
        {
            var r = runs[i];
            if (r.WriteTimeline.Count == 0 && r.ReadTimeline.Count == 0)
            {
                AddNoDataEntry(plot, r.Design, i);
                continue;
            }

            foreach (var (timeline, direction, pattern) in new[] { (r.WriteTimeline, "write", ScottPlot.LinePattern.Solid), (r.ReadTimeline, "read", ScottPlot.LinePattern.Dashed) })
            {
                if (timeline.Count == 0)
                {
                    continue;
                }

                var (xs, ys) = Throughput(timeline, slotsPerBin);
                var line = AddLine(plot, xs, ys, i);
                line.LinePattern = pattern;
                var seconds = timeline.Count * (PlotData.TimelineSlotNs / 1e9);
                line.LegendText = $"{r.Design} {direction}: mean {MiBps(timeline.Sum(), seconds):0.#} MiB/s";
                maxRate = Math.Max(maxRate, ys.Max());
                maxSeconds = Math.Max(maxSeconds, seconds);
            }
        }

        if (maxSeconds == 0)
        {
            AddNoData(plot);
        }

        // Headroom above the highest point keeps the legend off the lines.
        plot.Axes.SetLimits(0, maxSeconds > 0 ? maxSeconds : 1, 0, maxRate > 0 ? maxRate * 1.3 : 1);
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        return plot;
    }

    private static (double[] Xs, double[] Ys) Throughput(IReadOnlyList<long> timeline, int slotsPerBin)
    {
        var bins = (timeline.Count + slotsPerBin - 1) / slotsPerBin;
        var xs = new double[bins];
        var ys = new double[bins];
        for (var b = 0; b < bins; b++)
        {
            var first = b * slotsPerBin;
            var slots = Math.Min(slotsPerBin, timeline.Count - first);
            long bytes = 0;
            for (var s = first; s < first + slots; s++)
            {
                bytes += timeline[s];
            }

            var slotSeconds = PlotData.TimelineSlotNs / 1e9;
            xs[b] = (first + (slots / 2.0)) * slotSeconds;
            ys[b] = MiBps(bytes, slots * slotSeconds);
        }

        return (xs, ys);
    }

    private static double MiBps(long bytes, double seconds) => seconds <= 0 ? 0 : bytes / (1024.0 * 1024.0) / seconds;

    // Whole decades around [lo, hi] (log10 values), at least one.
    private static (int Lo, int Hi) Decades(double lo, double hi)
    {
        var loDecade = (int)Math.Floor(lo + 1e-9);
        var hiDecade = Math.Max(loDecade + 1, (int)Math.Ceiling(hi - 1e-9));
        return (loDecade, hiDecade);
    }

    private static ScottPlot.Plot NewPlot(string title, string xLabel, string yLabel)
    {
        var plot = new ScottPlot.Plot();
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);

        // Room for the last x tick's label, which is centred on the right edge of the data.
        plot.Axes.Right.MinimumSize = 30;
        return plot;
    }

    private static ScottPlot.Plottables.Scatter AddLine(ScottPlot.Plot plot, double[] xs, double[] ys, int run)
    {
        var line = plot.Add.ScatterLine(xs, ys, s_palette.GetColor(run));
        line.LineWidth = 2;
        if (xs.Length <= 2)
        {
            // One value or one bin: a line of no length would not show.
            line.MarkerShape = ScottPlot.MarkerShape.FilledCircle;
            line.MarkerSize = 7;
        }

        return line;
    }

    // A design without data for this chart keeps its colour and a legend line saying so.
    private static void AddNoDataEntry(ScottPlot.Plot plot, string design, int run)
    {
        var entry = plot.Add.ScatterLine(Array.Empty<double>(), Array.Empty<double>(), s_palette.GetColor(run));
        entry.LegendText = $"{design}: no data";
    }

    private static void AddNoData(ScottPlot.Plot plot)
    {
        var note = plot.Add.Annotation("no data", ScottPlot.Alignment.MiddleCenter);
        note.LabelFontSize = 28;
    }

    // Renders in memory, then writes beside the target and renames, so a failed write never
    // leaves a truncated chart under the final name.
    private static string Save(ScottPlot.Plot plot, string directory, string fileName)
    {
        var path = Path.Combine(directory, fileName);
        var png = plot.GetImageBytes(WidthPixels, HeightPixels, ScottPlot.ImageFormat.Png);
        var temp = path + ".tmp";
        try
        {
            File.WriteAllBytes(temp, png);
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try
            {
                File.Delete(temp);
            }
            catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
            {
                // The original failure is the one to report.
            }

            throw new IOException($"cannot write the chart '{path}': {e.Message}", e);
        }

        return path;
    }
}
