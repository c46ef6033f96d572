using System.Globalization;
using System.Text.RegularExpressions;
using System.Threading;
using Writeback.Diagnostics;
using Writeback.Lib;
using Writeback.Kernel;

namespace Writeback.Tests.Diagnostics;

public class IrqsOffReportTests
{
    private static readonly Regex s_latency = new(
        @"^# latency: (\d+) us, #2/2, CPU#(\d+) \| \(M:preempt VP:0, KP:0, SP:0 HP:0 #P:2\)$", RegexOptions.CultureInvariant);

    private static readonly Regex s_event = new(
        @"^(.{8})-(\d+) +(\d+)(d\.\.\.) +(\d+)us(.): (\S+)(?: <-(\S+))?$", RegexOptions.CultureInvariant);

    [Fact]
    public void Format_Seed7_HasTheLatencyHeader()
    {
        using var m = RunLongIrqSave(seed: 7, copyBytes: 100_000);
        var max = m.IrqsOff.Max!;

        var lines = Lines(IrqsOffReport.Format(m));

        Assert.Equal("# tracer: irqsoff", lines[0]);
        Assert.Equal("#", lines[1]);
        Assert.Equal("# irqsoff latency trace v1.1.5 on 7.3.0-writeback", lines[2]);
        Assert.Equal("# " + new string('-', 68), lines[3]);
        var latency = s_latency.Match(lines[4]);
        Assert.True(latency.Success, lines[4]);
        Assert.Equal(max.DurationNs / 1000, long.Parse(latency.Groups[1].Value, CultureInfo.InvariantCulture));
        Assert.Equal(max.Cpu, int.Parse(latency.Groups[2].Value, CultureInfo.InvariantCulture));
        Assert.Equal("#    -----------------", lines[5]);
        Assert.Matches(@"^#    \| task: t1-\d+ \(uid:0 nice:0 policy:0 rt_prio:0\)$", lines[6]);
        Assert.Equal("#    -----------------", lines[7]);
        Assert.Equal("#  => started at: _raw_spin_lock_irqsave", lines[8]);
        Assert.Equal("#  => ended at:   _raw_spin_unlock_irqrestore", lines[9]);
        Assert.Equal("#", lines[10]);
        Assert.Equal("#", lines[11]);
        Assert.Equal("#                  _------=> CPU#", lines[12].TrimEnd());
        Assert.Equal("#     \\   /      |||||  \\    |   /", lines[19].TrimEnd());
    }

    [Fact]
    public void Format_Seed7_TheMaxSectionIsTheLockHeldAcrossTheCopy()
    {
        using var m = RunLongIrqSave(seed: 7, copyBytes: 100_000);

        var max = m.IrqsOff.Max!;

        Assert.Equal("irq_demo_lock", max.Cause);
        Assert.Equal("_raw_spin_lock_irqsave", max.Start.Op);
        Assert.Equal("_raw_spin_unlock_irqrestore", max.End.Op);

        // 100 000 bytes at the default 100 ps/B is 10 us of copying inside the section.
        Assert.True(max.DurationNs >= 10_000, $"section of {max.DurationNs} ns");
    }

    [Fact]
    public void Format_Seed7_PrintsTheStartAndEndEventsWithTheirDelayMark()
    {
        using var m = RunLongIrqSave(seed: 7, copyBytes: 100_000);
        var max = m.IrqsOff.Max!;
        var endUs = (max.DurationNs + 500) / 1000;

        var events = Lines(IrqsOffReport.Format(m)).Where(l => !l.StartsWith('#') && l.Length > 0).ToList();

        Assert.Equal(2, events.Count);
        var start = s_event.Match(events[0]);
        var end = s_event.Match(events[1]);
        Assert.True(start.Success, events[0]);
        Assert.True(end.Success, events[1]);
        Assert.Equal("      t1", start.Groups[1].Value);
        Assert.Equal(max.Cpu.ToString(CultureInfo.InvariantCulture), start.Groups[3].Value);
        Assert.Equal("0", start.Groups[5].Value);
        Assert.Equal(ExpectedMark(endUs).ToString(), start.Groups[6].Value);
        Assert.Equal("_raw_spin_lock_irqsave", start.Groups[7].Value);
        Assert.Equal(nameof(RunLongIrqSave), start.Groups[8].Value);
        Assert.Equal(endUs.ToString(CultureInfo.InvariantCulture), end.Groups[5].Value);
        Assert.Equal(" ", end.Groups[6].Value);
        Assert.Equal("_raw_spin_unlock_irqrestore", end.Groups[7].Value);
    }

    [Fact]
    public void Format_Seed7_SectionOverAHundredMicroseconds_IsMarkedWithBang()
    {
        using var m = RunLongIrqSave(seed: 7, copyBytes: 1_500_000);

        var events = Lines(IrqsOffReport.Format(m)).Where(l => !l.StartsWith('#') && l.Length > 0).ToList();

        Assert.Matches(@"^      t1-\d+ +\dd\.\.\.    0us!: _raw_spin_lock_irqsave <-RunLongIrqSave$", events[0]);
    }

    [Theory]
    [InlineData(0, ' ')]
    [InlineData(10_000, ' ')]
    [InlineData(10_001, '+')]
    [InlineData(100_000, '+')]
    [InlineData(100_001, '!')]
    [InlineData(1_000_001, '#')]
    [InlineData(10_000_001, '*')]
    [InlineData(100_000_001, '@')]
    [InlineData(1_000_000_001, '$')]
    public void DelayMark_FollowsFtraceThresholds(long gapNs, char expected)
    {
        Assert.Equal(expected, IrqsOffReport.DelayMark(gapNs));
    }

    [Fact]
    public void Format_ForACpu_UsesThatCpusMaximum()
    {
        using var m = RunLongIrqSave(seed: 7, copyBytes: 100_000);
        var max = m.IrqsOff.Max!;

        var same = IrqsOffReport.Format(m, max.Cpu);

        Assert.Equal(IrqsOffReport.Format(m), same);
        Assert.Throws<ArgumentOutOfRangeException>(() => IrqsOffReport.Format(m, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => IrqsOffReport.Format(m, -1));
    }

    [Fact]
    public void Format_WithNothingRecorded_PrintsAZeroLatencyHeaderAndNoEvents()
    {
        using var m = Machine.Create(new MachineOptions { Cpus = 2, Seed = 7, IrqsOffTracing = false });
        m.Run(() => Context.Point());

        var lines = Lines(IrqsOffReport.Format(m));

        Assert.Equal("# latency: 0 us, #0/0, CPU#0 | (M:preempt VP:0, KP:0, SP:0 HP:0 #P:2)", lines[4]);
        Assert.DoesNotContain(lines, l => l.StartsWith("#  => started at:", StringComparison.Ordinal));
        Assert.All(lines, l => Assert.True(l.Length == 0 || l.StartsWith('#'), l));
    }

    [Fact]
    public void FormatSummary_Seed7_SharesTheTimeBetweenTheLockAndHardirq()
    {
        using var m = RunLongIrqSave(seed: 7, copyBytes: 100_000, raiseIrq: true);

        var text = IrqsOffReport.FormatSummary(m);
        var lines = Lines(text);

        Assert.StartsWith("# writeback times modelled by the deterministic engine", lines[0], StringComparison.Ordinal);
        var cause = new Regex(@"^  (\S+) +(\d+) +(\d+\.\d\d) +(\d+\.\d\d) +(\d+\.\d)%$", RegexOptions.CultureInvariant);
        var causes = lines.Select(l => cause.Match(l)).Where(x => x.Success).ToDictionary(x => x.Groups[1].Value, x => x);
        Assert.Contains("irq_demo_lock", causes.Keys);
        Assert.Contains("hardirq", causes.Keys);
        var byCause = m.IrqsOff.ByCause;
        Assert.Equal(byCause["irq_demo_lock"].Count.ToString(CultureInfo.InvariantCulture), causes["irq_demo_lock"].Groups[2].Value);
        Assert.Equal(byCause["hardirq"].Count.ToString(CultureInfo.InvariantCulture), causes["hardirq"].Groups[2].Value);
        var shares = causes.Values.Sum(x => double.Parse(x.Groups[5].Value, CultureInfo.InvariantCulture));
        Assert.InRange(shares, 99.5, 100.5);

        // Largest total first: the lock's 10 us section outweighs one handler.
        Assert.Equal("irq_demo_lock", causes.Values.OrderBy(x => x.Index).First().Groups[1].Value);
        var order = causes.Keys.ToList();
        Assert.Equal(order.OrderByDescending(k => byCause[k].TotalNs).ThenBy(k => k, StringComparer.Ordinal), order);
    }

    [Fact]
    public void FormatSummary_Seed7_HasPerCpuSectionsAndInterruptLatency()
    {
        using var m = RunLongIrqSave(seed: 7, copyBytes: 100_000, raiseIrq: true);
        var t = m.IrqsOff;

        var text = IrqsOffReport.FormatSummary(m);
        var lines = Lines(text);

        var sectionsAt = lines.FindIndex(l => l.StartsWith("interrupts-off sections per CPU", StringComparison.Ordinal));
        var latencyAt = lines.FindIndex(l => l.StartsWith("interrupt latency", StringComparison.Ordinal));
        Assert.True(sectionsAt > 0 && latencyAt > sectionsAt);
        Assert.Equal(Row("0", t.SectionsOn(0)), lines[sectionsAt + 2]);
        Assert.Equal(Row("1", t.SectionsOn(1)), lines[sectionsAt + 3]);
        Assert.Equal(Row("all", t.Sections), lines[sectionsAt + 4]);
        Assert.Equal(Row("0", t.IrqLatencyOn(0)), lines[latencyAt + 2]);
        Assert.Equal(Row("1", t.IrqLatencyOn(1)), lines[latencyAt + 3]);
        Assert.Equal(Row("all", t.IrqLatency), lines[latencyAt + 4]);
        Assert.Equal(1, t.IrqLatency.Count);
    }

    /// <summary>t1 on CPU 0 holds irq_demo_lock with interrupts off across a copy of
    /// <paramref name="copyBytes"/> bytes; optionally an interrupt is raised on CPU 0 while it does.</summary>
    private static Machine RunLongIrqSave(ulong seed, long copyBytes, bool raiseIrq = false)
    {
        var m = Machine.Create(new MachineOptions { Cpus = 2, Seed = seed });
        var l = new Writeback.Kernel.SpinLock("irq_demo_lock");
        var handled = 0;
        m.Run(() =>
        {
            var t = m.Spawn("t1", () =>
            {
                var flags = l.LockIrqSave();
                if (raiseIrq)
                {
                    m.RaiseIrq(0, "demo_irq", () => Interlocked.Increment(ref handled));
                }

                Context.Point(copyBytes);
                l.UnlockIrqRestore(flags);
                while (raiseIrq && Volatile.Read(ref handled) == 0)
                {
                    Context.Point();
                }
            }, 0);
            t.WaitForExit();
        });
        Assert.Empty(m.Reports);
        Assert.Equal(raiseIrq ? 1 : 0, handled);
        return m;
    }

    private static char ExpectedMark(long us) =>
        us > 1_000_000 ? '$' : us > 100_000 ? '@' : us > 10_000 ? '*' : us > 1_000 ? '#' : us > 100 ? '!' : us > 10 ? '+' : ' ';

    private static string Row(string label, LatencyHistogram h) =>
        string.Create(CultureInfo.InvariantCulture, $"  {label,4} {h.Count,10} {Usec(h.Percentile(50)),12} {Usec(h.Percentile(99)),12} {Usec(h.Max),12}");

    private static string Usec(long ns) =>
        string.Create(CultureInfo.InvariantCulture, $"{(ns + 5) / 1000}.{(ns + 5) % 1000 / 10:00}");

    private static List<string> Lines(string text) => [.. text.Split('\n')];
}
