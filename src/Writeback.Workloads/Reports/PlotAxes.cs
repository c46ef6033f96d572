using System.Globalization;
using ScottPlot;
using ScottPlot.TickGenerators;

namespace Writeback.Workloads.Reports;

/// <summary>Axis scales for <see cref="PlotWriter"/>: ScottPlot 5 has no logarithmic axis, so values
/// are plotted as logarithms and these tick generators label them in the values' own units.</summary>
internal static class PlotAxes
{
    /// <summary>Latencies below 1 ns are plotted at 1 ns, where the log scale starts.</summary>
    public const double MinPlottedNs = 1;

    private static readonly CultureInfo s_inv = CultureInfo.InvariantCulture;

    /// <summary>log10 of a latency, 0 ns and below plotted at <see cref="MinPlottedNs"/>.</summary>
    public static double LogNs(double ns) => Math.Log10(Math.Max(ns, MinPlottedNs));

    /// <summary>Percentile <paramref name="fraction"/> (0 to 1) on a "nines" scale: 0 at 0 %,
    /// 1 at 90 %, 2 at 99 %, 3 at 99.9 %, so the tail gets as much room as the body.</summary>
    public static double Nines(double fraction) => -Math.Log10(1 - fraction);

    /// <summary>A duration in the unit that suits it: 850ns, 3.2us, 12ms, 1.5s.</summary>
    public static string FormatNs(double ns)
    {
        var (value, unit) = Math.Abs(ns) switch
        {
            < 1e3 => (ns, "ns"),
            < 1e6 => (ns / 1e3, "us"),
            < 1e9 => (ns / 1e6, "ms"),
            _ => (ns / 1e9, "s"),
        };
        var format = Math.Abs(value) >= 100 ? "0" : Math.Abs(value) >= 10 ? "0.#" : "0.##";
        return value.ToString(format, s_inv) + unit;
    }

    /// <summary>A count with an SI suffix: 950, 12k, 3.4M.</summary>
    public static string FormatCount(double count)
    {
        var (value, suffix) = count switch
        {
            < 1e3 => (count, ""),
            < 1e6 => (count / 1e3, "k"),
            < 1e9 => (count / 1e6, "M"),
            _ => (count / 1e9, "G"),
        };
        return value.ToString(value >= 10 ? "0" : "0.#", s_inv) + suffix;
    }

    /// <summary>Decade ticks (1ns 10ns ... 1us ... 1s) from 10^<paramref name="loDecade"/> ns to
    /// 10^<paramref name="hiDecade"/> ns on a log10(ns) axis, with minor ticks at 2..9 of each decade.</summary>
    public static Tick[] LogTimeTicks(int loDecade, int hiDecade) =>
        DecadeTicks(loDecade, hiDecade, d => FormatNs(Math.Pow(10, d)));

    /// <summary>Decade ticks (1 10 100 1k ...) on a log10(count) axis.</summary>
    public static Tick[] LogCountTicks(int loDecade, int hiDecade) =>
        DecadeTicks(loDecade, hiDecade, d => FormatCount(Math.Pow(10, d)));

    /// <summary>Percentile ticks on a <see cref="Nines"/> axis: 0%, 50%, 90%, 99% ... up to
    /// <paramref name="maxNines"/> nines.</summary>
    public static Tick[] NinesTicks(int maxNines)
    {
        var ticks = new List<Tick> { Tick.Major(0, "0%"), Tick.Major(Nines(0.5), "50%"), Tick.Minor(Nines(0.75)) };
        for (var k = 1; k <= maxNines; k++)
        {
            var percent = 100 * (1 - Math.Pow(10, -k));
            ticks.Add(Tick.Major(k, percent.ToString("0.#########", s_inv) + "%"));
            if (k < maxNines)
            {
                // The point halfway to the next nine (95 %, 99.5 %, ...).
                ticks.Add(Tick.Minor(Nines(1 - (Math.Pow(10, -k) / 2))));
            }
        }

        return [.. ticks];
    }

    /// <summary>A tick generator that draws exactly <paramref name="ticks"/>.</summary>
    public static NumericManual Fixed(Tick[] ticks) => new(ticks);

    private static Tick[] DecadeTicks(int loDecade, int hiDecade, Func<int, string> label)
    {
        var ticks = new List<Tick>();
        for (var d = loDecade; d <= hiDecade; d++)
        {
            ticks.Add(Tick.Major(d, label(d)));
            if (d == hiDecade)
            {
                break;
            }

            for (var m = 2; m <= 9; m++)
            {
                ticks.Add(Tick.Minor(d + Math.Log10(m)));
            }
        }

        return [.. ticks];
    }
}
