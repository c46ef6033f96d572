using System.Globalization;
using System.Text;
using Writeback.Kernel;

namespace Writeback.Diagnostics;

/// <summary>The machine's lock statistics as /proc/lock_stat prints them, as entries for JSON,
/// and as a percentile table (the model's addition).</summary>
/// <remarks>Kernel: /proc/lock_stat, seq_header() and seq_stats() in kernel/locking/lockdep_proc.c;
/// Documentation/locking/lockstat.rst. Model: a class with readers gets a <c>-W</c> and a
/// <c>-R</c> row as in the kernel, but its contention points are kept per side and printed merged
/// under the class, as the kernel keeps them per class. The sites are <c>Function (File.cs:Line)</c>
/// strings, printed where the kernel prints <c>%pS</c>, behind an address that is always
/// zero (as the kernel shows hashed pointers to an unprivileged reader). Read the figures after
/// the run: the per-CPU statistics are not locked against a running machine.</remarks>
public static class LockStatReport
{
    /// <summary>Contention points and contended points printed per class.</summary>
    /// <remarks>Kernel: LOCKSTAT_POINTS in include/linux/lockdep.h.</remarks>
    public const int PointsPerClass = 4;

    /// <summary>The first line of the kernel's file.</summary>
    public const string VersionLine = "lock_stat version 0.4";

    /// <summary>The longest class name printed before it is cut, as the kernel's 38-byte buffer cuts it.</summary>
    public const int MaxPrintedNameLength = 37;

    private const int NameWidth = 40;
    private const int ColumnWidth = 14;
    private const int ColumnCount = 12;
    private const int LineWidth = NameWidth + 1 + (ColumnCount * (ColumnWidth + 1));
    private const int AddressWidth = 29;
    private const string HiddenAddress = "[<0000000000000000>]";

    private static readonly string[] s_columns =
    [
        "con-bounces", "contentions", "waittime-min", "waittime-max", "waittime-total", "waittime-avg",
        "acq-bounces", "acquisitions", "holdtime-min", "holdtime-max", "holdtime-total", "holdtime-avg",
    ];

    /// <summary>Every lock class acquired at least once, one entry per side (write, then read
    /// when the class has read acquisitions), classes sorted by contentions and then
    /// acquisitions, most first, then by name.</summary>
    /// <remarks>Kernel: lock_stat_open() collects and sorts by contentions (lock_stat_cmp()).</remarks>
    public static IReadOnlyList<LockStatEntry> Collect(Machine m)
    {
        ArgumentNullException.ThrowIfNull(m);
        var entries = new List<LockStatEntry>();
        foreach (var c in Snapshot(m))
        {
            var hasRead = c.Read.Acquisitions > 0;
            if (c.Write.Acquisitions > 0)
            {
                entries.Add(ToEntry(c.Class.Name, c.PrintedName, c.Write, isRead: false, hasRead));
            }

            if (hasRead)
            {
                entries.Add(ToEntry(c.Class.Name, c.PrintedName, c.Read, isRead: true, hasRead));
            }
        }

        return entries;
    }

    /// <summary>The machine's lock statistics in the layout of /proc/lock_stat.</summary>
    /// <remarks>Kernel: reading /proc/lock_stat (seq_header(), seq_stats()). Times are printed in
    /// microseconds with two decimals, rounded to the nearest 10 ns as the kernel rounds them.
    /// With <paramref name="includeProvenance"/> (the default) the text starts with one extra line
    /// before <see cref="VersionLine"/> (see <see cref="Provenance"/>) that says whether the times
    /// were modelled by the deterministic engine or measured by the real one; pass false for text
    /// that begins, as the kernel's file does, with <see cref="VersionLine"/>. Either way only class
    /// rows hold a colon, so <c>grep :</c> lists the classes, as lockstat.rst reads the file: the
    /// provenance line has none, and a point's site prints <c>Function (File.cs line N)</c>.</remarks>
    public static string Format(Machine m, bool includeProvenance = true)
    {
        ArgumentNullException.ThrowIfNull(m);
        var sb = new StringBuilder();
        if (includeProvenance)
        {
            sb.Append(Provenance(m)).Append('\n');
        }

        AppendHeader(sb, m);
        foreach (var c in Snapshot(m))
        {
            AppendClass(sb, c);
        }

        return sb.ToString();
    }

    /// <summary>A table of hold and wait percentiles per class and side: what lock_stat's
    /// min/avg/max cannot show (a long tail behind a small average).</summary>
    /// <remarks>Model: no kernel counterpart; rows follow <see cref="Collect"/>'s order and times
    /// are microseconds with two decimals. The first line says whether times are modelled or
    /// measured when <paramref name="includeProvenance"/> is set.</remarks>
    public static string FormatPercentiles(Machine m, bool includeProvenance = true)
    {
        ArgumentNullException.ThrowIfNull(m);
        var sb = new StringBuilder();
        if (includeProvenance)
        {
            sb.Append(Provenance(m)).Append('\n');
        }

        sb.Append("lock_stat percentiles (model addition; times in us)\n");
        var header = string.Create(
            CultureInfo.InvariantCulture,
            $"{"class name",NameWidth} {"acquisitions",ColumnWidth} {"hold-p50",ColumnWidth} {"hold-p99",ColumnWidth} {"hold-max",ColumnWidth} {"contentions",ColumnWidth} {"wait-p50",ColumnWidth} {"wait-p99",ColumnWidth} {"wait-max",ColumnWidth}");
        sb.Append('-', header.Length).Append('\n');
        sb.Append(header).Append('\n');
        sb.Append('-', header.Length).Append('\n');
        foreach (var e in Collect(m))
        {
            sb.Append(string.Create(
                CultureInfo.InvariantCulture,
                $"{Cut(e.Name, NameWidth),NameWidth}:{e.Acquisitions,ColumnWidth} {Usecs(e.Hold.P50Ns),ColumnWidth} {Usecs(e.Hold.P99Ns),ColumnWidth} {Usecs(e.Hold.MaxNs),ColumnWidth} {e.Contentions,ColumnWidth} {Usecs(e.Wait.P50Ns),ColumnWidth} {Usecs(e.Wait.P99Ns),ColumnWidth} {Usecs(e.Wait.MaxNs),ColumnWidth}"))
                .Append('\n');
        }

        return sb.ToString();
    }

    /// <summary>The provenance line the model's reports start with: <c># writeback times modelled
    /// ...</c> (deterministic engine, with its seed) or <c># writeback times measured ...</c> (real
    /// engine). It holds no colon, so that <c>grep :</c> on a lock_stat text still finds only class rows.</summary>
    public static string Provenance(Machine m)
    {
        ArgumentNullException.ThrowIfNull(m);
        var o = m.Options;
        return m.TimesAreModelled
            ? string.Create(CultureInfo.InvariantCulture, $"# writeback times modelled by the deterministic engine (cost model, seed {o.Seed}, {o.Cpus} CPUs), not measured")
            : string.Create(CultureInfo.InvariantCulture, $"# writeback times measured by the real engine ({o.Cpus} CPUs on host threads)");
    }

    /// <summary>Nanoseconds as microseconds with two decimals, rounded to the nearest 10 ns.</summary>
    /// <remarks>Kernel: snprint_time() in kernel/locking/lockdep_proc.c.</remarks>
    internal static string Usecs(long ns)
    {
        var negative = ns < 0;
        var rounded = Math.Abs(ns) + 5;
        var text = string.Create(CultureInfo.InvariantCulture, $"{rounded / 1000}.{rounded % 1000 / 10:D2}");
        return negative ? "-" + text : text;
    }

    private static void AppendHeader(StringBuilder sb, Machine m)
    {
        sb.Append(VersionLine).Append('\n');
        if (m.Options.Lockdep != LockdepMode.Off && !m.Lockdep.IsValidating)
        {
            sb.Append("*WARNING* lock debugging disabled!! - possibly due to a lockdep warning\n");
        }

        sb.Append('-', LineWidth).Append('\n');
        sb.Append(string.Create(CultureInfo.InvariantCulture, $"{"class name",NameWidth}"));
        foreach (var col in s_columns)
        {
            sb.Append(' ').Append(col.PadLeft(ColumnWidth));
        }

        sb.Append('\n');
        sb.Append('-', LineWidth).Append('\n');
        sb.Append('\n');
    }

    private static void AppendClass(StringBuilder sb, ClassSnapshot c)
    {
        var hasRead = c.Read.Acquisitions > 0;
        if (c.Write.Acquisitions > 0)
        {
            AppendRow(sb, ToEntry(c.Class.Name, c.PrintedName, c.Write, isRead: false, hasRead), hasRead);
        }

        if (hasRead)
        {
            AppendRow(sb, ToEntry(c.Class.Name, c.PrintedName, c.Read, isRead: true, hasRead), hasRead);
        }

        if (c.Write.Contentions + c.Read.Contentions == 0)
        {
            return;
        }

        // The kernel underlines the name (and its -W/-R suffix width) before each block of points.
        var underline = c.PrintedName.Length + (hasRead ? 2 : 0);
        var printed = AppendPoints(sb, c.PrintedName, underline, Merge(c.Write.ContentionPoints, c.Read.ContentionPoints));
        printed |= AppendPoints(sb, c.PrintedName, underline, Merge(c.Write.ContendedPoints, c.Read.ContendedPoints));

        // The kernel closes a class with a dotted line after its contended points; sleeping locks
        // record no contended points here, so close after any block of points.
        if (printed)
        {
            sb.Append('\n');
            sb.Append('.', LineWidth).Append('\n');
            sb.Append('\n');
        }
    }

    private static void AppendRow(StringBuilder sb, LockStatEntry e, bool suffixed)
    {
        // "%40s:" for a plain class; "%38s-W:" / "%38s-R:" keep the colon in the same column.
        sb.Append(suffixed
            ? string.Create(CultureInfo.InvariantCulture, $"{e.Name[..^2],NameWidth - 2}{e.Name[^2..]}:")
            : string.Create(CultureInfo.InvariantCulture, $"{e.Name,NameWidth}:"));
        sb.Append(string.Create(
            CultureInfo.InvariantCulture,
            $"{e.ConBounces,ColumnWidth} {e.Contentions,ColumnWidth} {Usecs(e.WaitTimeMinNs),ColumnWidth} {Usecs(e.WaitTimeMaxNs),ColumnWidth} {Usecs(e.WaitTimeTotalNs),ColumnWidth} {Usecs(e.WaitTimeAvgNs),ColumnWidth}"));
        sb.Append(string.Create(
            CultureInfo.InvariantCulture,
            $" {e.AcqBounces,ColumnWidth} {e.Acquisitions,ColumnWidth} {Usecs(e.HoldTimeMinNs),ColumnWidth} {Usecs(e.HoldTimeMaxNs),ColumnWidth} {Usecs(e.HoldTimeTotalNs),ColumnWidth} {Usecs(e.HoldTimeAvgNs),ColumnWidth}"));
        sb.Append('\n');
    }

    private static bool AppendPoints(StringBuilder sb, string name, int underline, IReadOnlyList<LockStatPoint> points)
    {
        if (points.Count == 0)
        {
            return false;
        }

        sb.Append(' ', Math.Max(0, NameWidth - underline)).Append('-', underline).Append('\n');
        foreach (var p in points)
        {
            sb.Append(string.Create(
                CultureInfo.InvariantCulture,
                $"{name,NameWidth} {p.Count,ColumnWidth} {HiddenAddress,AddressWidth} {PrintedSite(p.Site)}\n"));
        }

        return true;
    }

    private static LockStatEntry ToEntry(string className, string printedName, LockClassStats s, bool isRead, bool hasRead) => new()
    {
        ClassName = className,
        Name = !hasRead ? printedName : printedName + (isRead ? "-R" : "-W"),
        IsRead = isRead,
        ConBounces = s.ConBounces,
        Contentions = s.Contentions,
        WaitTimeMinNs = s.Wait.Min,
        WaitTimeMaxNs = s.Wait.Max,
        WaitTimeTotalNs = s.Wait.Total,
        WaitTimeAvgNs = s.Wait.Count == 0 ? 0 : s.Wait.Total / s.Wait.Count,
        AcqBounces = s.AcqBounces,
        Acquisitions = s.Acquisitions,
        HoldTimeMinNs = s.Hold.Min,
        HoldTimeMaxNs = s.Hold.Max,
        HoldTimeTotalNs = s.Hold.Total,
        HoldTimeAvgNs = s.Hold.Count == 0 ? 0 : s.Hold.Total / s.Hold.Count,
        Wait = LatencySummary.From(s.Wait),
        Hold = LatencySummary.From(s.Hold),
        ContentionPoints = Top(s.ContentionPoints),
        ContendedPoints = Top(s.ContendedPoints),
    };

    private static List<LockStatPoint> Top(IEnumerable<KeyValuePair<string, long>> points) =>
        [.. points
            .Where(p => p.Value > 0)
            .OrderByDescending(p => p.Value)
            .ThenBy(p => p.Key, StringComparer.Ordinal)
            .Take(PointsPerClass)
            .Select(p => new LockStatPoint(p.Key, p.Value))];

    private static List<LockStatPoint> Merge(Dictionary<string, long> a, Dictionary<string, long> b)
    {
        if (b.Count == 0)
        {
            return Top(a);
        }

        var sum = new Dictionary<string, long>(a, StringComparer.Ordinal);
        foreach (var (k, v) in b)
        {
            sum[k] = sum.GetValueOrDefault(k) + v;
        }

        return Top(sum);
    }

    /// <summary>Merges each class's per-CPU figures once, numbers classes that share a name
    /// (<c>name#2</c>, as the kernel's name_version), drops classes never acquired, and sorts.</summary>
    private static List<ClassSnapshot> Snapshot(Machine m)
    {
        var classes = m.Lockdep.Classes.OrderBy(c => c.Key.Id).ToList();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var list = new List<ClassSnapshot>(classes.Count);
        foreach (var cls in classes)
        {
            var version = seen[cls.Name] = seen.GetValueOrDefault(cls.Name) + 1;
            var write = cls.Stats;
            var read = cls.ReadStats;
            if (write.Acquisitions + read.Acquisitions == 0)
            {
                continue;
            }

            var name = Cut(cls.Name, version > 1 ? MaxPrintedNameLength - 2 : MaxPrintedNameLength);
            if (version > 1)
            {
                name += string.Create(CultureInfo.InvariantCulture, $"#{version}");
            }

            list.Add(new ClassSnapshot(cls, name, write, read));
        }

        list.Sort(static (x, y) =>
        {
            var byContentions = (y.Write.Contentions + y.Read.Contentions).CompareTo(x.Write.Contentions + x.Read.Contentions);
            if (byContentions != 0)
            {
                return byContentions;
            }

            var byAcquisitions = (y.Write.Acquisitions + y.Read.Acquisitions).CompareTo(x.Write.Acquisitions + x.Read.Acquisitions);
            return byAcquisitions != 0 ? byAcquisitions : string.CompareOrdinal(x.PrintedName, y.PrintedName);
        });
        return list;
    }

    /// <summary>A site as a point line prints it: <c>Function (File.cs:N)</c> becomes
    /// <c>Function (File.cs line N)</c>, and any other colon a dot, so that only class rows hold one.</summary>
    internal static string PrintedSite(string site)
    {
        var open = site.LastIndexOf('(');
        var colon = site.LastIndexOf(':');
        if (open >= 0 && colon > open && site.EndsWith(')'))
        {
            site = string.Concat(site.AsSpan(0, colon), " line ", site.AsSpan(colon + 1));
        }

        return site.Replace(':', '.');
    }

    private static string Cut(string s, int max) => s.Length <= max ? s : s[..max];

    private sealed record ClassSnapshot(LockClass Class, string PrintedName, LockClassStats Write, LockClassStats Read);
}
