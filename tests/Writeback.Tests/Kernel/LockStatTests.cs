using System.Threading;
using Writeback.Kernel;
using Writeback.Tests.Infrastructure;
using KMutex = Writeback.Kernel.Mutex;
using KSpinLock = Writeback.Kernel.SpinLock;

namespace Writeback.Tests.Kernel;

public class LockStatTests
{
    private static LockClass ClassNamed(Machine m, string name) => m.Lockdep.Classes.Single(c => c.Name == name);

    /// <summary>Two tasks on two CPUs take <paramref name="l"/> in turn, holding it across a 4 KiB copy.</summary>
    private static void Fight(Machine m, KSpinLock l, int iterations)
    {
        var tasks = Enumerable.Range(0, 2).Select(i => m.Spawn($"fighter{i}", () =>
        {
            for (var k = 0; k < iterations; k++)
            {
                l.Lock();
                Context.Point(4096);
                l.Unlock();
                Context.Point();
            }
        }, cpu: i)).ToList();
        tasks.ForEach(t => t.WaitForExit());
    }

    [Fact]
    public void Acquisitions_AreCountedExactly_ForEveryFlavourAndTask()
    {
        using var m = MachineFixture.Create(seed: 4, cpus: 3);
        var l = new KSpinLock("ls_acquisitions");
        var mutex = new KMutex("ls_mutex_acquisitions");
        m.Run(() =>
        {
            var tasks = Enumerable.Range(0, 3).Select(i => m.Spawn($"t{i}", () =>
            {
                for (var k = 0; k < 12; k++)
                {
                    l.Lock();
                    l.Unlock();
                    l.LockBh();
                    l.UnlockBh();
                    l.LockIrq();
                    l.UnlockIrq();
                    var f = l.LockIrqSave();
                    l.UnlockIrqRestore(f);
                    while (!l.TryLock())
                    {
                        Context.Point();
                    }

                    l.Unlock();
                    mutex.Lock();
                    mutex.Unlock();
                }
            }, cpu: i)).ToList();
            tasks.ForEach(t => t.WaitForExit());
        });
        MachineFixture.AssertClean(m);
        var s = ClassNamed(m, "ls_acquisitions").Stats;
        Assert.Equal(3 * 12 * 5, s.Acquisitions);
        Assert.Equal(s.Acquisitions, s.Hold.Count);
        Assert.Equal(s.Contentions, s.Wait.Count);
        var ms = ClassNamed(m, "ls_mutex_acquisitions").Stats;
        Assert.Equal(3 * 12, ms.Acquisitions);
        Assert.Equal(ms.Acquisitions, ms.Hold.Count);
    }

    [Fact]
    public void TwoCpusFighting_RecordContentionWaitTimesAndCallSites()
    {
        using var m = MachineFixture.Create(seed: 2);
        var l = new KSpinLock("ls_contended");
        m.Run(() => Fight(m, l, 20));
        MachineFixture.AssertClean(m);
        var s = ClassNamed(m, "ls_contended").Stats;
        Assert.Equal(40, s.Acquisitions);
        Assert.True(s.Contentions > 0, "two CPUs taking the lock in a loop must contend");
        Assert.Equal(s.Contentions, s.Wait.Count);
        Assert.True(s.Wait.Min > 0 && s.Wait.Max >= s.Wait.Min);
        Assert.True(s.ConBounces > 0, "a contention on a lock held by the other CPU is a con-bounce");
        Assert.True(s.AcqBounces > 0, "taking a lock last released on the other CPU is an acq-bounce");
        Assert.True(s.ConBounces <= s.Contentions && s.AcqBounces <= s.Acquisitions);
        var point = Assert.Single(s.ContentionPoints);
        Assert.StartsWith(nameof(Fight) + " (LockStatTests.cs:", point.Key, StringComparison.Ordinal);
        Assert.Equal(s.Contentions, point.Value);
        Assert.Equal(s.Contentions, s.ContendedPoints.Values.Sum());
        Assert.All(s.ContendedPoints.Keys, k => Assert.StartsWith(nameof(Fight), k, StringComparison.Ordinal));
    }

    [Fact]
    public void HoldTimes_CoverTheWorkDoneUnderTheLock()
    {
        var costs = CostModel.Default;
        using var m = MachineFixture.Create(seed: 8);
        var l = new KSpinLock("ls_hold");
        m.Run(() =>
        {
            for (var k = 0; k < 10; k++)
            {
                var f = l.LockIrqSave();
                Context.Point(8192);
                l.UnlockIrqRestore(f);
            }
        });
        var s = ClassNamed(m, "ls_hold").Stats;
        var work = costs.PointNs + (8192 * costs.CopyPsPerByte / 1000);
        Assert.Equal(10, s.Hold.Count);
        Assert.True(s.Hold.Min >= work, $"hold min {s.Hold.Min} ns < modelled work {work} ns");
        Assert.True(s.Hold.Total >= 10 * work);
        Assert.True(s.Hold.Percentile(50) > 0);
        Assert.Equal(0, s.Contentions);
        Assert.Equal(0, s.Wait.Count);
    }

    [Fact]
    public void LockStatOff_RecordsNothing_EvenUnderContention()
    {
        using var m = MachineFixture.Create(seed: 2, configure: o => o with { LockStat = false });
        var l = new KSpinLock("ls_disabled");
        m.Run(() => Fight(m, l, 10));
        MachineFixture.AssertClean(m);
        var s = ClassNamed(m, "ls_disabled").Stats;
        Assert.Equal(0, s.Acquisitions);
        Assert.Equal(0, s.Contentions);
        Assert.Equal(0, s.ConBounces);
        Assert.Equal(0, s.AcqBounces);
        Assert.Equal(0, s.Hold.Count);
        Assert.Equal(0, s.Wait.Count);
        Assert.Empty(s.ContentionPoints);
    }

    [Fact]
    public void IrqsOffMax_IsTheLongIrqsaveSection_AttributedToItsLockClassAndSites()
    {
        using var m = MachineFixture.Create(seed: 6);
        var l = new KSpinLock("ls_irqsoff_cause");
        var other = new KSpinLock("ls_irqsoff_short");
        m.Run(() =>
        {
            for (var k = 0; k < 5; k++)
            {
                var g = other.LockIrqSave();
                Context.Point(1024);
                other.UnlockIrqRestore(g);
            }

            var f = l.LockIrqSave();
            Context.Point(1 << 20);
            l.UnlockIrqRestore(f);
        });
        MachineFixture.AssertClean(m);
        var max = m.IrqsOff.Max;
        Assert.NotNull(max);
        Assert.Equal("ls_irqsoff_cause", max.Cause);
        Assert.Equal("_raw_spin_lock_irqsave", max.Start.Op);
        Assert.Equal("_raw_spin_unlock_irqrestore", max.End.Op);
        Assert.Equal(nameof(IrqsOffMax_IsTheLongIrqsaveSection_AttributedToItsLockClassAndSites), max.Start.Function);
        Assert.Equal(nameof(IrqsOffMax_IsTheLongIrqsaveSection_AttributedToItsLockClassAndSites), max.End.Function);
        Assert.Equal(0, max.Cpu);
        Assert.StartsWith("init/", max.Task, StringComparison.Ordinal);
        Assert.True(max.DurationNs >= (1 << 20) * CostModel.Default.CopyPsPerByte / 1000);
        Assert.Same(max, m.IrqsOff.MaxOn(0));
        var byCause = m.IrqsOff.ByCause;
        Assert.Equal(1, byCause["ls_irqsoff_cause"].Count);
        Assert.Equal(5, byCause["ls_irqsoff_short"].Count);
        Assert.Equal(max.DurationNs, byCause["ls_irqsoff_cause"].MaxNs);
        Assert.True(m.IrqsOff.Sections.Count >= 6);
    }

    [Fact]
    public void IrqsOff_SpinLockIrqAndLocalIrqSave_HaveTheirOwnSitesAndCauses()
    {
        using var m = MachineFixture.Create(seed: 6);
        var l = new KSpinLock("ls_irqsoff_irq");
        IrqsOffSpan? afterIrq = null;
        m.Run(() =>
        {
            l.LockIrq();
            Context.Point(1 << 16);
            l.UnlockIrq();
            afterIrq = m.IrqsOff.Max;
            var f = Context.LocalIrqSave();
            Context.Point(1 << 20);
            Context.LocalIrqRestore(f);
        });
        Assert.NotNull(afterIrq);
        Assert.Equal(("ls_irqsoff_irq", "_raw_spin_lock_irq", "_raw_spin_unlock_irq"), (afterIrq.Cause, afterIrq.Start.Op, afterIrq.End.Op));
        var max = m.IrqsOff.Max!;
        Assert.Equal(("local_irq_save", "local_irq_save", "local_irq_restore"), (max.Cause, max.Start.Op, max.End.Op));
        Assert.Contains("local_irq_save", m.IrqsOff.ByCause.Keys);
    }

    [Fact]
    public void IrqsOff_ByCauseIncludesHardirq_AfterAnInterrupt()
    {
        using var m = MachineFixture.Create();
        var done = false;
        m.Run(() =>
        {
            m.RaiseIrq(1, "disk", () => Volatile.Write(ref done, true));
            MachineFixture.SpinUntil(() => Volatile.Read(ref done));
        });
        var byCause = m.IrqsOff.ByCause;
        Assert.True(byCause.ContainsKey("hardirq"), "causes: " + string.Join(", ", byCause.Keys));
        Assert.Equal(1, byCause["hardirq"].Count);
        Assert.True(byCause["hardirq"].MaxNs >= CostModel.Default.IrqEntryNs + CostModel.Default.IrqExitNs);
        Assert.Equal(1, m.IrqsOff.IrqLatency.Count);
        Assert.Equal(1, m.IrqsOff.SectionsOn(1).Count);
    }

    [Fact]
    public void IrqsOff_Threshold_KeepsEverySectionOverIt_AndResetForgets()
    {
        using var m = MachineFixture.Create();
        var l = new KSpinLock("ls_threshold");
        m.IrqsOff.ThresholdNs = 50_000;
        m.Run(() =>
        {
            for (var k = 0; k < 4; k++)
            {
                var f = l.LockIrqSave();
                Context.Point(k % 2 == 0 ? 1 << 20 : 64);
                l.UnlockIrqRestore(f);
            }
        });
        var over = m.IrqsOff.Over;
        Assert.Equal(2, over.Count);
        Assert.All(over, s => Assert.True(s.DurationNs >= 50_000));
        Assert.True(over[0].StartNs < over[1].StartNs);
        m.IrqsOff.Reset();
        Assert.Null(m.IrqsOff.Max);
        Assert.Empty(m.IrqsOff.Over);
        Assert.Equal(0, m.IrqsOff.Sections.Count);
        Assert.Empty(m.IrqsOff.ByCause);
    }

    [Fact]
    public void IrqsOffTracingOff_RecordsNothing()
    {
        using var m = MachineFixture.Create(configure: o => o with { IrqsOffTracing = false });
        var l = new KSpinLock("ls_irqsoff_disabled");
        var done = false;
        m.Run(() =>
        {
            var f = l.LockIrqSave();
            Context.Point(1 << 16);
            l.UnlockIrqRestore(f);
            m.RaiseIrq(1, "disk", () => Volatile.Write(ref done, true));
            MachineFixture.SpinUntil(() => Volatile.Read(ref done));
        });
        Assert.False(m.IrqsOff.IsEnabled);
        Assert.Null(m.IrqsOff.Max);
        Assert.Equal(0, m.IrqsOff.Sections.Count);
        Assert.Equal(0, m.IrqsOff.IrqLatency.Count);
        Assert.Empty(m.IrqsOff.ByCause);
        Assert.Equal(1, m.Cpus[1].Interrupts);
    }
}
