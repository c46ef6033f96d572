using System.Globalization;
using Writeback.Lib;
using Writeback.Workloads.Running;
using static Writeback.Workloads.Reports.FioTextNumbers;

namespace Writeback.Workloads.Reports;

/// <summary>fio's latency lines: <c>clat (usec): min=…</c>, the percentile tables and the
/// <c>lat (usec)   : 4=88.38%, …</c> distribution, with fio's unit choices.</summary>
/// <remarks>fio: display_lat(), show_clat_percentiles(), show_latencies() in stat.c and
/// nsec_to_usec()/nsec_to_msec() in stat.h. Model: the percentiles and the distribution come from a
/// <see cref="LatencyHistogram"/> (about 6 % precision): a percentile is the upper bound of the
/// bucket holding it, never above the largest value (fio prints its bucket's midpoint), and each
/// histogram bucket counts in the distribution at that same value. min/max/avg/stdev are exact.</remarks>
internal static class FioTextLatency
{
    private static readonly string[] s_ranges = ["2", "4", "10", "20", "50", "100", "250", "500", "750", "1000", "2000", ">=2000"];
    private static readonly long[] s_limits = [2, 4, 10, 20, 50, 100, 250, 500, 750, 1000, 2000];

    /// <summary>fio's display_lat(): <c>    clat (usec): min=2, max=126, avg= 3.91, stdev= 5.33</c>.</summary>
    /// <remarks>The unit follows fio's rule, which looks at all three figures: msec when min &gt; 2 ms,
    /// max &gt; 99.999999 ms and stdev &gt; 1 ms; else usec when min &gt; 2 µs, max &gt; 99.999 µs and
    /// stdev &gt; 1 µs; else nsec. min and max are divided down (truncated) and printed with
    /// num2str's 6 figures ("14440k"); avg and stdev as <c>%5.02f</c>.</remarks>
    public static void DisplayLat(TextWriter w, string name, Moments m)
    {
        long min = m.Min, max = m.Max;
        double mean = m.Mean, dev = m.StdDev;
        var unit = "nsec";
        if (min > 2_000_000 && max > 99_999_999 && dev > 1_000_000.0)
        {
            (min, max, mean, dev, unit) = (min / 1_000_000, max / 1_000_000, mean / 1e6, dev / 1e6, "msec");
        }
        else if (min > 2000 && max > 99_999 && dev > 1000.0)
        {
            (min, max, mean, dev, unit) = (min / 1000, max / 1000, mean / 1e3, dev / 1e3, "usec");
        }

        Line(w, Inv($"    {name} ({unit}): min={Num2Str(min, 6, 1, false, NoUnit)}, max={Num2Str(max, 6, 1, false, NoUnit)}, avg={Fixed(mean, 2, 5)}, stdev={Fixed(dev, 2, 5)}"));
    }

    /// <summary>fio's show_clat_percentiles(): the header and the table, <paramref name="precision"/>
    /// decimals per percentile, as many entries per line as fit in 80 columns.</summary>
    /// <remarks>The table's unit is nsec unless the smallest and largest values shown are large:
    /// usec when min &gt; 2000 ns and max &gt; 99999 ns, msec when min &gt; 2 ms and max &gt; 99.999999 ms
    /// (fio's rule); values are rounded up into the unit. The value column is at least 5 wide, wider
    /// when the largest value needs it.</remarks>
    public static void Percentiles(TextWriter w, string name, LatencyHistogram h, IReadOnlyList<double> list, int precision)
    {
        var plist = list.Where(p => p > 0).Select(p => Math.Min(p, 100.0)).Order().ToArray();
        if (plist.Length == 0 || h.Count == 0)
        {
            return;
        }

        var values = plist.Select(h.Percentile).ToArray();
        long minv = values.Min(), maxv = values.Max();
        var (unit, divisor, steps) = minv > 2_000_000 && maxv > 99_999_999 ? ("msec", 1_000_000L, 2)
            : minv > 2000 && maxv > 99_999 ? ("usec", 1000L, 1)
            : ("nsec", 1L, 0);
        var width = maxv / divisor == 0 ? 5 : Math.Max(5, (int)(Math.Log10(maxv / divisor) + 1));
        var perLine = Math.Max(1, (80 - 7) / (precision + 10 + width));
        w.Write(Inv($"    {name} percentiles ({unit}):\n     |"));
        for (var j = 0; j < plist.Length; j++)
        {
            if (j != 0 && j % perLine == 0)
            {
                w.Write("     |");
            }

            var v = values[j];
            for (var i = 0; i < steps; i++)
            {
                v = (v + 999) / 1000;
            }

            var last = j == plist.Length - 1;
            w.Write(Inv($" {Fixed(plist[j], precision, precision + 3)}th=[{Padded(v, width)}]{(last ? '\n' : ',')}"));
            if (!last && j % perLine == perLine - 1)
            {
                w.Write('\n');
            }
        }
    }

    /// <summary>The decimals fio prints percentiles with: the most any entry of <c>percentile_list</c>
    /// was written with (fio's percentile_precision), or of the default list.</summary>
    public static int Precision(JobSpec spec)
    {
        if (spec.Options.TryGetValue("percentile_list", out var text))
        {
            return text.Split(':').Max(item => Decimals(item.Trim()));
        }

        return spec.Percentiles.Count == 0 ? 2 : spec.Percentiles.Max(p => Decimals(p.ToString("R", CultureInfo.InvariantCulture)));
    }

    /// <summary>fio's show_latencies(): the share of I/Os (reads and writes, by completion latency)
    /// in each of fio's buckets, nsec then usec then msec, five to a line, buckets under 0.01 % shown
    /// as 0.01 % and empty ones left out.</summary>
    /// <remarks>fio's bucket "N=" counts values below N and at least the previous bound, in whole
    /// units: "4=" under usec holds 2.000 to 3.999 µs; the msec list ends with 2000= and &gt;=2000=.</remarks>
    public static void Distribution(TextWriter w, JobResult job)
    {
        var total = job.Read.Ios + job.Write.Ios;
        var counts = new long[3][] { new long[10], new long[10], new long[12] };
        foreach (var h in new[] { job.Read.ClatHistogram, job.Write.ClatHistogram })
        {
            foreach (var (_, high, count) in h.Buckets())
            {
                var v = Math.Min(high, h.Max);
                var (unit, scaled) = v < 1000 ? (0, v) : v < 1_000_000 ? (1, v / 1000) : (2, v / 1_000_000);
                var idx = Array.FindIndex(s_limits, limit => scaled < limit);
                counts[unit][idx < 0 ? s_limits.Length : idx] += count;
            }
        }

        ShowLat(w, "nsec", counts[0], total);
        ShowLat(w, "usec", counts[1], total);
        ShowLat(w, "msec", counts[2], total);
    }

    // fio's show_lat(): "  lat (usec)   : " then up to five "N=xx.xx%" entries a line.
    private static void ShowLat(TextWriter w, string unit, long[] counts, long total)
    {
        var entries = new List<string>();
        for (var i = 0; i < counts.Length; i++)
        {
            if (counts[i] == 0 || total == 0)
            {
                continue;
            }

            var share = Math.Max(100.0 * counts[i] / total, 0.01);
            entries.Add(Inv($"{s_ranges[i]}={share:F2}%"));
        }

        for (var i = 0; i < entries.Count; i += 5)
        {
            Line(w, Inv($"  lat ({unit})   : {string.Join(", ", entries.Skip(i).Take(5))}"));
        }
    }

    private static int Decimals(string item)
    {
        var dot = item.IndexOf('.', StringComparison.Ordinal);
        if (dot < 0)
        {
            return 0;
        }

        var n = 0;
        while (dot + 1 + n < item.Length && char.IsAsciiDigit(item[dot + 1 + n]))
        {
            n++;
        }

        return n;
    }
}
