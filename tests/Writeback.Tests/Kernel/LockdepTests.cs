using System.Threading;
using Writeback.Kernel;
using Writeback.Tests.Infrastructure;
using KMutex = Writeback.Kernel.Mutex;
using KSpinLock = Writeback.Kernel.SpinLock;

namespace Writeback.Tests.Kernel;

public class LockdepTests
{
    /// <summary>Takes <paramref name="l"/> with the plain flavour in a hardirq on <paramref name="cpu"/> and waits for it.</summary>
    private static void PlainLockInHardirq(Machine m, KSpinLock l, int cpu)
    {
        var done = false;
        m.RaiseIrq(cpu, "dev_irq", () =>
        {
            l.Lock();
            l.Unlock();
            Volatile.Write(ref done, true);
        });
        MachineFixture.SpinUntil(() => Volatile.Read(ref done));
    }

    [Fact]
    public void PlainLock_HardirqOnOtherCpuThenTask_ReportsInHardirqToHardirqOn()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        var l = new KSpinLock("ld_hardirq_then_task");
        m.Run(() =>
        {
            PlainLockInHardirq(m, l, cpu: 1);
            l.Lock();
            l.Unlock();
        });
        var r = MachineFixture.SingleReport(m, ReportKind.Lockdep);
        Assert.Single(m.Reports);
        var text = r.Text;
        Assert.Contains("WARNING: inconsistent lock state", text, StringComparison.Ordinal);
        Assert.Contains("inconsistent {IN-HARDIRQ-W} -> {HARDIRQ-ON-W} usage.", text, StringComparison.Ordinal);
        Assert.Contains("init/1 [HC0[0]:SC0[0]:HE1:SE1] takes:", text, StringComparison.Ordinal);
        Assert.Contains("(ld_hardirq_then_task){?", text, StringComparison.Ordinal);
        Assert.Contains("{IN-HARDIRQ-W} state was registered at:", text, StringComparison.Ordinal);
        Assert.Contains("irq event stamp:", text, StringComparison.Ordinal);
        Assert.Contains("hardirqs last  enabled at", text, StringComparison.Ordinal);
        Assert.Contains("Possible unsafe locking scenario", text, StringComparison.Ordinal);
        Assert.Contains("  lock(ld_hardirq_then_task);\n  <Interrupt>\n    lock(ld_hardirq_then_task);\n", text, StringComparison.Ordinal);
        Assert.Contains("*** DEADLOCK ***", text, StringComparison.Ordinal);
        Assert.Contains(", at: " + nameof(PlainLock_HardirqOnOtherCpuThenTask_ReportsInHardirqToHardirqOn) + " (LockdepTests.cs:", text, StringComparison.Ordinal);
        Assert.Contains(nameof(PlainLockInHardirq) + " (LockdepTests.cs:", text, StringComparison.Ordinal);
        Assert.Contains("turning off the locking correctness validator.", text, StringComparison.Ordinal);
        Assert.False(m.Lockdep.IsValidating);
    }

    [Fact]
    public void PlainLock_TaskThenHardirqOnOtherCpu_ReportsHardirqOnToInHardirq()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        var l = new KSpinLock("ld_task_then_hardirq");
        m.Run(() =>
        {
            l.Lock();
            l.Unlock();
            PlainLockInHardirq(m, l, cpu: 1);
        });
        var r = MachineFixture.SingleReport(m, ReportKind.Lockdep);
        Assert.Contains("inconsistent {HARDIRQ-ON-W} -> {IN-HARDIRQ-W} usage.", r.Text, StringComparison.Ordinal);
        Assert.Contains("[HC1[1]:SC0[0]:HE0:SE1] takes:", r.Text, StringComparison.Ordinal);
        Assert.Contains("{HARDIRQ-ON-W} state was registered at:", r.Text, StringComparison.Ordinal);
        Assert.Contains("(ld_task_then_hardirq){?", r.Text, StringComparison.Ordinal);
        Assert.Contains("<IRQ>", r.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void IrqSafeFlavours_EverywhereOrSpinLockIrqInTask_AreClean()
    {
        using var m = MachineFixture.Create(cpus: 3, lockdep: LockdepMode.Fail);
        var irqsave = new KSpinLock("ld_irqsave_everywhere");
        var irq = new KSpinLock("ld_irq_in_task");
        var done = 0;
        m.OpenSoftirq(Softirq.Block, _ =>
        {
            var f = irqsave.LockIrqSave();
            irqsave.UnlockIrqRestore(f);
            Interlocked.Increment(ref done);
        });
        m.Run(() =>
        {
            for (var round = 0; round < 3; round++)
            {
                var f = irqsave.LockIrqSave();
                irqsave.UnlockIrqRestore(f);
                irq.LockIrq();
                irq.UnlockIrq();
                m.RaiseIrq(1 + (round % 2), "dev", () =>
                {
                    var g = irqsave.LockIrqSave();
                    irqsave.UnlockIrqRestore(g);
                    irq.Lock();
                    irq.Unlock();
                    Machine.RaiseSoftirq(Softirq.Block);
                });
            }

            MachineFixture.SpinUntil(() => Volatile.Read(ref done) >= 3);
        });
        MachineFixture.AssertClean(m);
        var cls = m.Lockdep.Classes.Single(c => c.Name == "ld_irqsave_everywhere");
        Assert.Equal("{-.-.}", cls.UsageString);
        Assert.True(cls.IsHardirqSafe);
        Assert.False(cls.IsHardirqUnsafe);
        // A hardirq nested in a softirq marks the class IN-SOFTIRQ too, as the kernel's softirq_context does.
        var irqCls = m.Lockdep.Classes.Single(c => c.Name == "ld_irq_in_task");
        Assert.StartsWith("{-.", irqCls.UsageString, StringComparison.Ordinal);
        Assert.True(irqCls.IsHardirqSafe);
        Assert.False(irqCls.IsHardirqUnsafe);
    }

    [Fact]
    public void PlainLock_SoftirqThenTask_ReportsInSoftirqToSoftirqOn()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        var l = new KSpinLock("ld_softirq_then_task");
        var done = false;
        m.OpenSoftirq(Softirq.Tasklet, _ =>
        {
            l.Lock();
            l.Unlock();
            Volatile.Write(ref done, true);
        });
        m.Run(() =>
        {
            var other = m.Spawn("raiser", () =>
            {
                Machine.RaiseSoftirq(Softirq.Tasklet);
                Context.Point();
            }, cpu: 1);
            other.WaitForExit();
            Assert.True(Volatile.Read(ref done));
            l.Lock();
            l.Unlock();
        });
        var r = MachineFixture.SingleReport(m, ReportKind.Lockdep);
        Assert.Contains("inconsistent {IN-SOFTIRQ-W} -> {SOFTIRQ-ON-W} usage.", r.Text, StringComparison.Ordinal);
        Assert.Contains("[HC0[0]:SC0[0]:HE1:SE1] takes:", r.Text, StringComparison.Ordinal);
        Assert.Contains("{IN-SOFTIRQ-W} state was registered at:", r.Text, StringComparison.Ordinal);
        Assert.Contains("(ld_softirq_then_task){+.?.}", r.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void LockBhInTaskAndPlainInSoftirq_IsClean()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Fail);
        var l = new KSpinLock("ld_bh_clean");
        var done = false;
        m.OpenSoftirq(Softirq.Tasklet, _ =>
        {
            l.Lock();
            l.Unlock();
            Volatile.Write(ref done, true);
        });
        m.Run(() =>
        {
            l.LockBh();
            l.UnlockBh();
            var other = m.Spawn("raiser", () =>
            {
                Machine.RaiseSoftirq(Softirq.Tasklet);
                Context.Point();
            }, cpu: 1);
            other.WaitForExit();
            l.LockBh();
            l.UnlockBh();
        });
        Assert.True(done);
        MachineFixture.AssertClean(m);
        Assert.Equal("{+.-.}", m.Lockdep.Classes.Single(c => c.Name == "ld_bh_clean").UsageString);
    }

    [Fact]
    public void EnablingIrqsWhileHoldingHardirqSafeLock_Reports()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        var l = new KSpinLock("ld_enable_while_holding");
        m.Run(() =>
        {
            PlainLockInHardirq(m, l, cpu: 1);
            Context.LocalIrqDisable();
            l.Lock();
            Context.LocalIrqEnable();
            l.Unlock();
        });
        var r = MachineFixture.SingleReport(m, ReportKind.Lockdep);
        Assert.Contains("inconsistent {IN-HARDIRQ-W} -> {HARDIRQ-ON-W} usage.", r.Text, StringComparison.Ordinal);
        Assert.Contains("has just enabled interrupts while holding:", r.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void FailMode_RunThrowsWithTheReportAndSeed()
    {
        using var m = MachineFixture.Create(seed: 42, lockdep: LockdepMode.Fail);
        var l = new KSpinLock("ld_fail_mode");
        var ex = Assert.Throws<MachineFailedException>(() => m.Run(() =>
        {
            PlainLockInHardirq(m, l, cpu: 1);
            l.Lock();
            l.Unlock();
        }));
        Assert.Contains("seed 42", ex.Message, StringComparison.Ordinal);
        Assert.Contains("inconsistent {IN-HARDIRQ-W} -> {HARDIRQ-ON-W} usage.", ex.Message, StringComparison.Ordinal);
        Assert.Single(m.Reports);
    }

    [Fact]
    public void AbBaOnTwoTasks_ReportsCircularDependency_WithoutRealDeadlock()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        var a = new KSpinLock("ld_lock_A");
        var b = new KSpinLock("ld_lock_B");
        m.Run(() =>
        {
            var t1 = m.Spawn("ab", () =>
            {
                a.Lock();
                b.Lock();
                b.Unlock();
                a.Unlock();
            }, cpu: 1);
            t1.WaitForExit();
            var t2 = m.Spawn("ba", () =>
            {
                b.Lock();
                a.Lock();
                a.Unlock();
                b.Unlock();
            }, cpu: 0);
            t2.WaitForExit();
        });
        var r = MachineFixture.SingleReport(m, ReportKind.Lockdep);
        Assert.Contains("WARNING: possible circular locking dependency detected", r.Text, StringComparison.Ordinal);
        Assert.Contains("ba/", r.Text, StringComparison.Ordinal);
        Assert.Contains("is trying to acquire lock:", r.Text, StringComparison.Ordinal);
        Assert.Contains("(ld_lock_A)", r.Text, StringComparison.Ordinal);
        Assert.Contains("but task is already holding lock:", r.Text, StringComparison.Ordinal);
        Assert.Contains("the existing dependency chain (in reverse order) is:", r.Text, StringComparison.Ordinal);
        Assert.Contains("ld_lock_B taken while holding ld_lock_A by ab/", r.Text, StringComparison.Ordinal);
        Assert.Contains("*** DEADLOCK ***", r.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void ConsistentOrder_AcrossManyTasks_IsClean()
    {
        using var m = MachineFixture.Create(cpus: 4, lockdep: LockdepMode.Fail);
        var a = new KSpinLock("ld_order_A");
        var b = new KSpinLock("ld_order_B");
        var c = new KSpinLock("ld_order_C");
        m.Run(() =>
        {
            var tasks = Enumerable.Range(0, 4).Select(i => m.Spawn($"t{i}", () =>
            {
                for (var k = 0; k < 8; k++)
                {
                    a.Lock();
                    if (k % 2 == 0)
                    {
                        b.Lock();
                    }

                    c.Lock();
                    c.Unlock();
                    if (k % 2 == 0)
                    {
                        b.Unlock();
                    }

                    a.Unlock();
                }
            }, cpu: i)).ToList();
            tasks.ForEach(t => t.WaitForExit());
        });
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void MutexTakenUnderSpinLock_ReportsSleepingFunctionFromInvalidContext()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        var l = new KSpinLock("ld_spin_outer");
        var mutex = new KMutex("ld_mutex_inner");
        m.Run(() =>
        {
            l.Lock();
            mutex.Lock();
            mutex.Unlock();
            l.Unlock();
        });
        var r = MachineFixture.SingleReport(m, ReportKind.SleepInAtomic);
        Assert.Contains("BUG: sleeping function called from invalid context at " + nameof(MutexTakenUnderSpinLock_ReportsSleepingFunctionFromInvalidContext), r.Text, StringComparison.Ordinal);
        Assert.Contains("in_atomic(): 1, irqs_disabled(): 0", r.Text, StringComparison.Ordinal);
        Assert.Contains("1 lock held by init/1:", r.Text, StringComparison.Ordinal);
        Assert.Contains("(ld_spin_outer)", r.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void MightSleepWithIrqsDisabled_Reports()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        m.Run(() =>
        {
            var f = Context.LocalIrqSave();
            Context.MightSleep();
            Context.LocalIrqRestore(f);
        });
        var r = MachineFixture.SingleReport(m, ReportKind.SleepInAtomic);
        Assert.Contains("in_atomic(): 0, irqs_disabled(): 1", r.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void SameClassTakenTwice_ReportsRecursiveLocking()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        var first = new KSpinLock("ld_recursive");
        var second = new KSpinLock("ld_recursive");
        m.Run(() =>
        {
            first.Lock();
            second.Lock();
            second.Unlock();
            first.Unlock();
        });
        var r = MachineFixture.SingleReport(m, ReportKind.Lockdep);
        Assert.Contains("WARNING: possible recursive locking detected", r.Text, StringComparison.Ordinal);
        Assert.Contains("May be due to missing lock nesting notation", r.Text, StringComparison.Ordinal);
        Assert.Contains("  lock(ld_recursive);\n  lock(ld_recursive);\n", r.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void HardirqSafeLockThenHardirqUnsafeLock_ReportsSafeToUnsafeOrder()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        var safe = new KSpinLock("ld_hardirq_safe");
        var unsafeLock = new KSpinLock("ld_hardirq_unsafe");
        m.Run(() =>
        {
            var done = false;
            m.RaiseIrq(1, "dev", () =>
            {
                safe.Lock();
                safe.Unlock();
                Volatile.Write(ref done, true);
            });
            MachineFixture.SpinUntil(() => Volatile.Read(ref done));

            // Irq-unsafe: taken with interrupts on.
            unsafeLock.Lock();
            unsafeLock.Unlock();

            var f = safe.LockIrqSave();
            unsafeLock.Lock();
            unsafeLock.Unlock();
            safe.UnlockIrqRestore(f);
        });
        var r = MachineFixture.SingleReport(m, ReportKind.Lockdep);
        Assert.Contains("WARNING: HARDIRQ-safe -> HARDIRQ-unsafe lock order detected", r.Text, StringComparison.Ordinal);
        Assert.Contains("which would create a new lock dependency:", r.Text, StringComparison.Ordinal);
        Assert.Contains(" (ld_hardirq_safe){-...} -> (ld_hardirq_unsafe){+.+.}", r.Text, StringComparison.Ordinal);
        Assert.Contains("Possible interrupt unsafe locking scenario", r.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void NewlyHardirqSafeLockWithUnsafeDependency_ReportsIrqInversion()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        var outer = new KSpinLock("ld_inv_outer");
        var inner = new KSpinLock("ld_inv_inner");
        m.Run(() =>
        {
            // outer -> inner recorded with irqs off; inner is irq-unsafe.
            inner.Lock();
            inner.Unlock();
            var f = outer.LockIrqSave();
            inner.Lock();
            inner.Unlock();
            outer.UnlockIrqRestore(f);

            // Now outer becomes hardirq-safe.
            var done = false;
            m.RaiseIrq(1, "dev", () =>
            {
                var g = outer.LockIrqSave();
                outer.UnlockIrqRestore(g);
                Volatile.Write(ref done, true);
            });
            MachineFixture.SpinUntil(() => Volatile.Read(ref done));
        });
        var r = MachineFixture.SingleReport(m, ReportKind.Lockdep);
        Assert.Contains("WARNING: possible irq lock inversion dependency detected", r.Text, StringComparison.Ordinal);
        Assert.Contains("but this lock took another, HARDIRQ-unsafe lock in the past:", r.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void MutexHeldAtTaskExit_Reports()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        var mutex = new KMutex("ld_mutex_leak");
        m.Run(() =>
        {
            var t = m.Spawn("leaker", () => mutex.Lock(), cpu: 1);
            t.WaitForExit();
        });
        var r = MachineFixture.SingleReport(m, ReportKind.Lockdep);
        Assert.Contains("WARNING: lock held when returning to user space!", r.Text, StringComparison.Ordinal);
        Assert.Contains("leaker/", r.Text, StringComparison.Ordinal);
        Assert.Contains("is leaving the kernel with locks still held!", r.Text, StringComparison.Ordinal);
        Assert.Contains("(ld_mutex_leak)", r.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void SpinLockHeldAtTaskExit_ReportsThenFailsOnPreemptCount()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        var l = new KSpinLock("ld_spin_leak");
        var failure = MachineFixture.RunGuarded(m, () =>
        {
            var t = m.Spawn("leaker", () => l.Lock(), cpu: 1);
            t.WaitForExit();
        });
        var ex = Assert.IsType<MachineFailedException>(failure);
        Assert.Contains("exited with preempt_count 1", ex.Message, StringComparison.Ordinal);
        var r = MachineFixture.SingleReport(m, ReportKind.Lockdep);
        Assert.Contains("WARNING: lock held when returning to user space!", r.Text, StringComparison.Ordinal);
        Assert.Contains("(ld_spin_leak)", r.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void FirstReport_TurnsValidationOff_SoASecondBugIsNotReported()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        var a = new KSpinLock("ld_off_A");
        var b = new KSpinLock("ld_off_B");
        var irqLock = new KSpinLock("ld_off_irq");
        var validatingBefore = false;
        var validatingBetween = true;
        m.Run(() =>
        {
            validatingBefore = m.Lockdep.IsValidating;
            a.Lock();
            b.Lock();
            b.Unlock();
            a.Unlock();
            b.Lock();
            a.Lock();
            a.Unlock();
            b.Unlock();
            validatingBetween = m.Lockdep.IsValidating;

            // A distinct second bug: irq-unsafe use of a lock also taken in hardirq.
            PlainLockInHardirq(m, irqLock, cpu: 1);
            irqLock.Lock();
            irqLock.Unlock();
        });
        Assert.True(validatingBefore);
        Assert.False(validatingBetween);
        Assert.False(m.Lockdep.IsValidating);
        var r = Assert.Single(m.Reports);
        Assert.Contains("possible circular locking dependency detected", r.Text, StringComparison.Ordinal);
        Assert.Contains("turning off the locking correctness validator.", m.Dmesg, StringComparison.Ordinal);
    }

    [Fact]
    public void LockdepOff_RecordsNothing()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Off);
        var l = new KSpinLock("ld_off_mode");
        m.Run(() =>
        {
            PlainLockInHardirq(m, l, cpu: 1);
            l.Lock();
            l.Unlock();
        });
        Assert.Empty(m.Reports);
        Assert.False(m.Lockdep.IsValidating);
        Assert.Equal("{....}", m.Lockdep.Classes.Single(c => c.Name == "ld_off_mode").UsageString);
    }

    [Fact]
    public void SoftirqSafeLockThenSoftirqUnsafeLock_ReportsSafeToUnsafeOrder()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        var safe = new KSpinLock("ld_softirq_safe");
        var unsafeLock = new KSpinLock("ld_softirq_unsafe");
        var done = false;
        m.OpenSoftirq(Softirq.Tasklet, _ =>
        {
            safe.Lock();
            safe.Unlock();
            done = true;
        });
        m.Run(() =>
        {
            Machine.RaiseSoftirq(Softirq.Tasklet);
            MachineFixture.SpinUntil(() => done);
            unsafeLock.Lock();
            unsafeLock.Unlock();
            safe.LockBh();
            unsafeLock.Lock();
            unsafeLock.Unlock();
            safe.UnlockBh();
        });
        var r = MachineFixture.SingleReport(m, ReportKind.Lockdep);
        Assert.Contains("WARNING: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected", r.Text, StringComparison.Ordinal);
        Assert.Contains("[HC0[0]:SC0[2]:HE1:SE0] is trying to acquire:", r.Text, StringComparison.Ordinal);
        Assert.Contains(" (ld_softirq_safe){+.-.} -> (ld_softirq_unsafe){+.+.}", r.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void LockTakenUnderHardirqSafeLock_BecomingIrqUnsafeLater_ReportsIrqInversion()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        var safe = new KSpinLock("ld_inv_safe");
        var later = new KSpinLock("ld_inv_later_unsafe");
        m.Run(() =>
        {
            PlainLockInHardirq(m, safe, cpu: 1);
            var f = safe.LockIrqSave();
            later.Lock();
            later.Unlock();
            safe.UnlockIrqRestore(f);

            // Only now does the inner lock become hardirq-unsafe.
            later.Lock();
            later.Unlock();
        });
        var r = MachineFixture.SingleReport(m, ReportKind.Lockdep);
        Assert.Contains("WARNING: possible irq lock inversion dependency detected", r.Text, StringComparison.Ordinal);
        Assert.Contains("but this lock was taken by another, HARDIRQ-safe lock in the past:", r.Text, StringComparison.Ordinal);
        Assert.Contains("(ld_inv_safe){-...}", r.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void MightSleepInHardirq_Reports()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        m.Run(() =>
        {
            var done = false;
            m.RaiseIrq(1, "dev", () =>
            {
                Context.MightSleep();
                Volatile.Write(ref done, true);
            });
            MachineFixture.SpinUntil(() => Volatile.Read(ref done));
        });
        var r = MachineFixture.SingleReport(m, ReportKind.SleepInAtomic);
        Assert.Contains("in_atomic(): 1, irqs_disabled(): 1", r.Text, StringComparison.Ordinal);
        Assert.Contains("preempt_count: 10000, expected: 0", r.Text, StringComparison.Ordinal);
    }

    /// <summary>Tests that run the real engine, in the serial collection.</summary>
    [Collection(MachineFixture.RealEngine)]
    public class OnRealEngine
    {
        [Fact]
        public void ConcurrentConflictingFirstUses_OnRealEngine_AlwaysReportInconsistentState()
        {
            const int Machines = 40;
            var missed = new List<string>();
            for (var iter = 0; iter < Machines; iter++)
            {
                using var m = MachineFixture.Create(engine: EngineKind.Real, lockdep: LockdepMode.Report);
                var name = "ld_race_" + iter.ToString(System.Globalization.CultureInfo.InvariantCulture);
                var l = new KSpinLock(name);
                var ready = false;
                var go = false;
                var done = false;
                var failure = MachineFixture.RunGuarded(m, () =>
                {
                    m.RaiseIrq(1, "racer", () =>
                    {
                        Volatile.Write(ref ready, true);
                        while (!Volatile.Read(ref go))
                        {
                            // Busy: both CPUs must reach lockdep together.
                        }

                        l.Lock();
                        l.Unlock();
                        Volatile.Write(ref done, true);
                    });
                    MachineFixture.SpinUntil(() => Volatile.Read(ref ready));
                    Volatile.Write(ref go, true);
                    l.Lock();
                    l.Unlock();
                    MachineFixture.SpinUntil(() => Volatile.Read(ref done));
                });
                Assert.Null(failure);
                var usage = m.Lockdep.Classes.Single(c => c.Name == name).UsageString;
                if (!m.Reports.Any(r => r.Text.Contains("WARNING: inconsistent lock state", StringComparison.Ordinal)))
                {
                    missed.Add($"machine {iter}: usage {usage} but no report");
                }
            }

            Assert.True(missed.Count == 0, $"{missed.Count}/{Machines} conflicting uses went unreported:\n" + string.Join("\n", missed));
        }
    }
}
