using System.Globalization;
using System.Text.RegularExpressions;
using System.Threading;
using Writeback.Diagnostics;
using Writeback.Kernel;

namespace Writeback.Tests.Diagnostics;

// One test runs the real engine (real threads): the class joins the serial collection.
[Collection("RealEngine")]
public class LockStatReportTests
{
    private const int Rounds = 40;
    private const int LineWidth = 221;
    private const string ColumnHeader =
        "class name    con-bounces    contentions   waittime-min   waittime-max waittime-total   waittime-avg    acq-bounces   acquisitions   holdtime-min   holdtime-max holdtime-total   holdtime-avg";

    private static readonly Regex s_timeField = new(@"^\d+\.\d{2}$", RegexOptions.CultureInvariant);

    [Fact]
    public void Format_Seed7_HasTheKernelHeader()
    {
        using var m = RunContended(seed: 7);

        var lines = Lines(LockStatReport.Format(m, includeProvenance: false));

        Assert.Equal("lock_stat version 0.4", lines[0]);
        Assert.Equal(new string('-', LineWidth), lines[1]);
        Assert.Equal(ColumnHeader, lines[2].TrimStart());
        Assert.Equal(40 + (12 * 15), lines[2].Length);
        Assert.Equal(new string('-', LineWidth), lines[3]);
        Assert.Equal(string.Empty, lines[4]);
    }

    [Fact]
    public void Format_Seed7_StartsWithTheProvenanceLineOnlyWhenAsked()
    {
        using var m = RunContended(seed: 7);

        var with = Lines(LockStatReport.Format(m));
        var without = LockStatReport.Format(m, includeProvenance: false);

        Assert.StartsWith("# writeback times modelled by the deterministic engine", with[0], StringComparison.Ordinal);
        Assert.Contains("seed 7", with[0], StringComparison.Ordinal);
        Assert.Equal("lock_stat version 0.4", with[1]);
        Assert.Equal(without, string.Join('\n', with.Skip(1)));
    }

    [Fact]
    public void Format_Seed7_PrintsARowForTheLockWithTheAcquisitionsMade()
    {
        using var m = RunContended(seed: 7);
        var stats = Class(m, "demo_lock").Stats;

        var row = Row(LockStatReport.Format(m), "demo_lock");

        Assert.Equal("demo_lock".PadLeft(40) + ":", row[..41]);
        var fields = row[41..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(12, fields.Length);
        Assert.Equal(stats.ConBounces.ToString(CultureInfo.InvariantCulture), fields[0]);
        Assert.Equal(stats.Contentions.ToString(CultureInfo.InvariantCulture), fields[1]);
        Assert.Equal(stats.AcqBounces.ToString(CultureInfo.InvariantCulture), fields[6]);
        Assert.Equal((2 * Rounds).ToString(CultureInfo.InvariantCulture), fields[7]);
        Assert.True(stats.Contentions > 0, "two CPUs hammering one lock contend at least once");
        Assert.All(new[] { 2, 3, 4, 5, 8, 9, 10, 11 }, i => Assert.Matches(s_timeField, fields[i]));
    }

    [Fact]
    public void Format_Seed7_PrintsTimesInMicrosecondsWithTwoDecimals()
    {
        using var m = RunContended(seed: 7);
        var stats = Class(m, "demo_lock").Stats;

        var fields = Row(LockStatReport.Format(m), "demo_lock")[41..].Split(' ', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal(Usec(stats.Wait.Min), fields[2]);
        Assert.Equal(Usec(stats.Wait.Max), fields[3]);
        Assert.Equal(Usec(stats.Wait.Total), fields[4]);
        Assert.Equal(Usec(stats.Wait.Total / stats.Wait.Count), fields[5]);
        Assert.Equal(Usec(stats.Hold.Min), fields[8]);
        Assert.Equal(Usec(stats.Hold.Max), fields[9]);
        Assert.Equal(Usec(stats.Hold.Total), fields[10]);
        Assert.Equal(Usec(stats.Hold.Total / stats.Hold.Count), fields[11]);
    }

    [Theory]
    [InlineData(0, "0.00")]
    [InlineData(4, "0.00")]
    [InlineData(5, "0.01")]
    [InlineData(994, "0.99")]
    [InlineData(995, "1.00")]
    [InlineData(1234, "1.23")]
    [InlineData(1235, "1.24")]
    [InlineData(12_345_678, "12345.68")]
    public void Usecs_RoundsToTheNearestTenNanoseconds(long ns, string expected)
    {
        Assert.Equal(expected, LockStatReport.Usecs(ns));
    }

    [Fact]
    public void Format_Seed7_ListsContentionAndContendedPointsUnderTheClass()
    {
        using var m = RunContended(seed: 7);
        var stats = Class(m, "demo_lock").Stats;
        var lines = Lines(LockStatReport.Format(m, includeProvenance: false));
        var row = lines.FindIndex(l => l.StartsWith("demo_lock".PadLeft(40) + ":", StringComparison.Ordinal));
        var point = new Regex(@"^ {31}demo_lock +(\d+) +\[<0000000000000000>\] (.+)$", RegexOptions.CultureInvariant);
        var underline = new string(' ', 31) + new string('-', 9);

        // The kernel's layout: an underline, the contention points, an underline, the contended
        // points, then a blank line, a dotted line and a blank line.
        Assert.Equal(underline, lines[row + 1]);
        var contention = lines.Skip(row + 2).TakeWhile(l => point.IsMatch(l)).ToList();
        var next = row + 2 + contention.Count;
        Assert.Equal(underline, lines[next]);
        var contended = lines.Skip(next + 1).TakeWhile(l => point.IsMatch(l)).ToList();
        next += 1 + contended.Count;
        Assert.Equal(string.Empty, lines[next]);
        Assert.Equal(new string('.', LineWidth), lines[next + 1]);
        Assert.Equal(string.Empty, lines[next + 2]);

        Assert.InRange(contention.Count, 1, 4);
        Assert.InRange(contended.Count, 1, 4);
        Assert.Equal(Math.Min(4, stats.ContentionPoints.Count), contention.Count);
        var contentionBySite = stats.ContentionPoints.ToDictionary(kv => Printed(kv.Key), kv => kv.Value);
        var contendedBySite = stats.ContendedPoints.ToDictionary(kv => Printed(kv.Key), kv => kv.Value);
        foreach (var l in contention)
        {
            var match = point.Match(l);
            Assert.Equal(contentionBySite[match.Groups[2].Value], long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture));
        }

        foreach (var l in contended)
        {
            var match = point.Match(l);
            Assert.Equal(contendedBySite[match.Groups[2].Value], long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture));
        }

        Assert.All(contention, l => Assert.Matches(@" RunContended \(LockStatReportTests\.cs line \d+\)$", l));
    }

    [Fact]
    public void Format_Seed7_OnlyClassRowsHoldAColon_SoGrepListsTheClasses()
    {
        using var m = RunContended(seed: 7, alsoQuiet: true);

        var withColon = Lines(LockStatReport.Format(m)).Where(l => l.Contains(':', StringComparison.Ordinal)).ToList();

        // lockstat.rst: "grep : /proc/lock_stat | head" lists the classes, most contended first.
        Assert.Equal(LockStatReport.Collect(m).Select(e => e.Name.PadLeft(40) + ":"), withColon.Select(l => l[..41]));
        Assert.Equal("demo_lock".PadLeft(40) + ":", withColon[0][..41]);
    }

    [Theory]
    [InlineData("Flush (Workqueue.cs:120)", "Flush (Workqueue.cs line 120)")]
    [InlineData("irq_enter", "irq_enter")]
    [InlineData("odd:name", "odd.name")]
    public void PrintedSite_HasNoColon(string site, string expected)
    {
        Assert.Equal(expected, LockStatReport.PrintedSite(site));
    }

    [Fact]
    public void Collect_Seed7_MatchesTheClassStatistics()
    {
        using var m = RunContended(seed: 7);
        var stats = Class(m, "demo_lock").Stats;

        var e = Assert.Single(LockStatReport.Collect(m), x => x.ClassName == "demo_lock");

        Assert.Equal("demo_lock", e.Name);
        Assert.False(e.IsRead);
        Assert.Equal(2 * Rounds, e.Acquisitions);
        Assert.Equal(stats.Acquisitions, e.Acquisitions);
        Assert.Equal(stats.Contentions, e.Contentions);
        Assert.Equal(stats.ConBounces, e.ConBounces);
        Assert.Equal(stats.AcqBounces, e.AcqBounces);
        Assert.Equal(stats.Wait.Min, e.WaitTimeMinNs);
        Assert.Equal(stats.Wait.Max, e.WaitTimeMaxNs);
        Assert.Equal(stats.Wait.Total, e.WaitTimeTotalNs);
        Assert.Equal(stats.Wait.Total / stats.Wait.Count, e.WaitTimeAvgNs);
        Assert.Equal(stats.Hold.Min, e.HoldTimeMinNs);
        Assert.Equal(stats.Hold.Max, e.HoldTimeMaxNs);
        Assert.Equal(stats.Hold.Total, e.HoldTimeTotalNs);
        Assert.Equal(stats.Hold.Total / stats.Hold.Count, e.HoldTimeAvgNs);
        Assert.Equal(LatencySummary.From(stats.Hold), e.Hold);
        Assert.Equal(LatencySummary.From(stats.Wait), e.Wait);
        Assert.Equal(2 * Rounds, e.Hold.Count);
        Assert.Equal(stats.Contentions, e.Wait.Count);
        Assert.Equal(stats.ContentionPoints.Values.Sum(), e.ContentionPoints.Sum(p => p.Count));
        Assert.True(e.ContentionPoints.Count <= LockStatReport.PointsPerClass);
        Assert.Equal(e.ContentionPoints.OrderByDescending(p => p.Count).ToList(), e.ContentionPoints);
    }

    [Fact]
    public void Collect_Seed7_SortsByContentionsThenAcquisitions_AndSkipsUnusedClasses()
    {
        using var m = RunContended(seed: 7, alsoQuiet: true);

        var names = LockStatReport.Collect(m).Select(e => e.ClassName).ToList();

        Assert.Equal(["demo_lock", "quiet_lock_many", "quiet_lock_few"], names.Where(n => n is "demo_lock" or "quiet_lock_many" or "quiet_lock_few"));
        Assert.DoesNotContain("never_taken_lock", names);
        Assert.DoesNotContain("never_taken_lock", LockStatReport.Format(m), StringComparison.Ordinal);
    }

    [Fact]
    public void Format_RwSemaphoreWithReaders_PrintsWriteAndReadRows()
    {
        using var m = Machine.Create(new MachineOptions { Cpus = 2, Seed = 7 });
        var sem = new RwSemaphore("demo_rwsem");
        m.Run(() =>
        {
            var reader = m.Spawn("reader", () =>
            {
                for (var i = 0; i < 3; i++)
                {
                    sem.DownRead();
                    Context.Point(4096);
                    sem.UpRead();
                }
            }, 1);
            sem.DownWrite();
            Context.Point(4096);
            sem.UpWrite();
            reader.WaitForExit();
        });
        Assert.Empty(m.Reports);

        var text = LockStatReport.Format(m);
        var entries = LockStatReport.Collect(m).Where(e => e.ClassName == "demo_rwsem").ToList();

        Assert.Contains("demo_rwsem".PadLeft(38) + "-W:", text, StringComparison.Ordinal);
        Assert.Contains("demo_rwsem".PadLeft(38) + "-R:", text, StringComparison.Ordinal);
        Assert.Equal(["demo_rwsem-W", "demo_rwsem-R"], entries.Select(e => e.Name));
        Assert.Equal([false, true], entries.Select(e => e.IsRead));
        Assert.Equal(1, entries[0].Acquisitions);
        Assert.Equal(3, entries[1].Acquisitions);
    }

    [Fact]
    public void FormatPercentiles_Seed7_HasARowPerClassWithHoldAndWaitPercentiles()
    {
        using var m = RunContended(seed: 7);
        var e = Assert.Single(LockStatReport.Collect(m), x => x.ClassName == "demo_lock");

        var text = LockStatReport.FormatPercentiles(m);
        var lines = Lines(text);

        Assert.StartsWith("# writeback times modelled", lines[0], StringComparison.Ordinal);
        Assert.Contains(lines, l => l.Contains("hold-p50", StringComparison.Ordinal) && l.Contains("wait-p99", StringComparison.Ordinal));
        var fields = Row(text, "demo_lock")[41..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(
            [
                e.Acquisitions.ToString(CultureInfo.InvariantCulture), Usec(e.Hold.P50Ns), Usec(e.Hold.P99Ns), Usec(e.Hold.MaxNs),
                e.Contentions.ToString(CultureInfo.InvariantCulture), Usec(e.Wait.P50Ns), Usec(e.Wait.P99Ns), Usec(e.Wait.MaxNs),
            ],
            fields);
    }

    [Fact]
    public void Format_AfterALockdepReport_WarnsThatLockDebuggingIsOff()
    {
        using var m = Machine.Create(new MachineOptions { Cpus = 2, Seed = 1, Lockdep = LockdepMode.Report });
        var l = new Writeback.Kernel.SpinLock("stat_inconsistent_lock");
        m.Run(() =>
        {
            var done = 0;
            m.RaiseIrq(1, "dev", () =>
            {
                l.Lock();
                l.Unlock();
                Volatile.Write(ref done, 1);
            });
            while (Volatile.Read(ref done) == 0)
            {
                Context.Point();
            }

            l.Lock();
            l.Unlock();
        });
        Assert.Single(m.Reports);

        var lines = Lines(LockStatReport.Format(m, includeProvenance: false));

        Assert.Equal("lock_stat version 0.4", lines[0]);
        Assert.Equal("*WARNING* lock debugging disabled!! - possibly due to a lockdep warning", lines[1]);
        Assert.Equal(new string('-', LineWidth), lines[2]);
        Assert.Contains("stat_inconsistent_lock".PadLeft(40) + ":", lines.Skip(5).Select(line => line.Length >= 41 ? line[..41] : line));
    }

    [Fact]
    public void Provenance_OnTheRealEngine_SaysTimesAreMeasured()
    {
        using var m = Machine.Create(new MachineOptions { Engine = EngineKind.Real, Cpus = 2, Seed = 7 });
        var l = new Writeback.Kernel.SpinLock("real_demo_lock");
        m.Run(() =>
        {
            l.Lock();
            l.Unlock();
        });

        var first = Lines(LockStatReport.Format(m))[0];

        Assert.False(m.TimesAreModelled);
        Assert.StartsWith("# writeback times measured by the real engine", first, StringComparison.Ordinal);
        Assert.Equal(first, Lines(LockStatReport.FormatPercentiles(m))[0]);
        Assert.Equal(first, Lines(IrqsOffReport.FormatSummary(m))[0]);
        Assert.Single(LockStatReport.Collect(m), e => e.ClassName == "real_demo_lock" && e.Acquisitions == 1);
    }

    [Fact]
    public void Format_SameSeed_IsIdentical()
    {
        using var a = RunContended(seed: 7);
        using var b = RunContended(seed: 7);

        Assert.Equal(LockStatReport.Format(a), LockStatReport.Format(b));
        Assert.Equal(LockStatReport.FormatPercentiles(a), LockStatReport.FormatPercentiles(b));
    }

    /// <summary>Two tasks on two CPUs take demo_lock <see cref="Rounds"/> times each, holding it
    /// across a page copy, so that they contend.</summary>
    private static Machine RunContended(ulong seed, bool alsoQuiet = false)
    {
        var m = Machine.Create(new MachineOptions { Cpus = 2, Seed = seed });
        var l = new Writeback.Kernel.SpinLock("demo_lock");
        var many = new Writeback.Kernel.SpinLock("quiet_lock_many");
        var few = new Writeback.Kernel.SpinLock("quiet_lock_few");
        var never = new Writeback.Kernel.SpinLock("never_taken_lock");
        m.Run(() =>
        {
            _ = never.Class;
            var t1 = m.Spawn("t1", () =>
            {
                for (var i = 0; i < Rounds; i++)
                {
                    l.Lock();
                    Context.Point(4096);
                    l.Unlock();
                    Context.Point();
                }
            }, 1);
            for (var i = 0; i < Rounds; i++)
            {
                l.Lock();
                Context.Point(4096);
                l.Unlock();
                Context.Point();
            }

            if (alsoQuiet)
            {
                for (var i = 0; i < 3; i++)
                {
                    many.Lock();
                    many.Unlock();
                }

                few.Lock();
                few.Unlock();
            }

            t1.WaitForExit();
        });
        Assert.Empty(m.Reports);
        return m;
    }

    private static LockClass Class(Machine m, string name) => m.Lockdep.Classes.Single(c => c.Name == name);

    private static List<string> Lines(string text) => [.. text.Split('\n')];

    private static string Row(string text, string name) =>
        Assert.Single(Lines(text), l => l.StartsWith(name.PadLeft(40) + ":", StringComparison.Ordinal));

    private static string Printed(string site) => Regex.Replace(site, @"\.cs:(\d+)\)$", ".cs line $1)");

    private static string Usec(long ns) =>
        string.Create(CultureInfo.InvariantCulture, $"{(ns + 5) / 1000}.{(ns + 5) % 1000 / 10:00}");
}
