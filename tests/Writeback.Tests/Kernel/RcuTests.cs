using Writeback.Kernel;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Kernel;

/// <summary>The RCU read-side depth the context checks need (preemptible RCU).</summary>
public class RcuTests
{
    [Fact]
    public void BioInAtomic_IsTrueInsideRcuReadSide_EvenWhenPreemptible()
    {
        using var m = MachineFixture.Create();
        bool? inside = null, preemptibleInside = null, after = null;
        m.Run(() =>
        {
            Context.RcuReadLock();
            inside = Context.BioInAtomic;
            preemptibleInside = Context.Preemptible;
            Context.RcuReadUnlock();
            after = Context.BioInAtomic;
        });
        Assert.True(inside);
        Assert.True(preemptibleInside);
        Assert.False(after);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void MightSleep_InsideRcuReadSide_ReportsTheNestDepth()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        m.Run(() =>
        {
            Context.RcuReadLock();
            Context.MightSleep();
            Context.RcuReadUnlock();
        });
        var r = MachineFixture.SingleReport(m, ReportKind.SleepInAtomic);
        Assert.Contains("RCU nest depth: 1, expected: 0", r.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Sleeping_InsideRcuReadSide_IsSuspiciousRcuUsage()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        m.Run(() =>
        {
            Context.RcuReadLock();
            m.Msleep(1);
            Context.RcuReadUnlock();
        });
        Assert.Contains(m.Reports, r => r.Text.Contains("Voluntary context switch within RCU read-side critical section!", StringComparison.Ordinal));
    }

    [Fact]
    public void RcuReadUnlock_WithoutLock_IsABug()
    {
        using var m = MachineFixture.Create();
        var ex = Assert.Throws<MachineFailedException>(() => m.Run(Context.RcuReadUnlock));
        Assert.Contains("rcu_read_unlock() without rcu_read_lock()", ex.Message, StringComparison.Ordinal);
    }
}
