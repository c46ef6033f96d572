using System.Threading;
using Writeback.Kernel;
using Writeback.Tests.Infrastructure;
using KSpinLock = Writeback.Kernel.SpinLock;

namespace Writeback.Tests.Kernel;

public class SpinLockTests
{
    [Fact]
    public void EachFlavour_SetsAndRestoresIrqBhAndPreemptState()
    {
        using var m = MachineFixture.Create();
        var l = new KSpinLock("spin_flavour_state");
        var during = new Dictionary<string, (int Count, bool IrqsOff)>(StringComparer.Ordinal);
        var after = new Dictionary<string, (int Count, bool IrqsOff)>(StringComparer.Ordinal);
        static (int, bool) State() => (Current.Cpu.PreemptCountValue, Context.IrqsDisabled);
        m.Run(() =>
        {
            l.Lock();
            during["lock"] = State();
            l.Unlock();
            after["lock"] = State();

            l.LockBh();
            during["lock_bh"] = State();
            l.UnlockBh();
            after["lock_bh"] = State();

            l.LockIrq();
            during["lock_irq"] = State();
            l.UnlockIrq();
            after["lock_irq"] = State();

            var f = l.LockIrqSave();
            during["lock_irqsave"] = State();
            l.UnlockIrqRestore(f);
            after["lock_irqsave"] = State();
            Assert.True(f.WereEnabled);

            Assert.True(l.TryLock());
            during["trylock"] = State();
            l.Unlock();
            after["trylock"] = State();

            Assert.True(l.TryLockIrqSave(out var tf));
            during["trylock_irqsave"] = State();
            l.UnlockIrqRestore(tf);
            after["trylock_irqsave"] = State();

            // _irqsave from an interrupts-off section leaves them off.
            Context.LocalIrqDisable();
            var off = l.LockIrqSave();
            during["lock_irqsave(off)"] = State();
            l.UnlockIrqRestore(off);
            after["lock_irqsave(off)"] = State();
            Assert.False(off.WereEnabled);
            Context.LocalIrqEnable();
        });
        Assert.Equal((1, false), during["lock"]);
        Assert.Equal((0x201, false), during["lock_bh"]);
        Assert.Equal((1, true), during["lock_irq"]);
        Assert.Equal((1, true), during["lock_irqsave"]);
        Assert.Equal((1, false), during["trylock"]);
        Assert.Equal((1, true), during["trylock_irqsave"]);
        Assert.Equal((1, true), during["lock_irqsave(off)"]);
        foreach (var (name, state) in after)
        {
            Assert.True(state == (name == "lock_irqsave(off)" ? (0, true) : (0, false)), $"{name} left {state}");
        }

        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void NestedLockIrqSave_InnerRestoreKeepsIrqsOff_OuterRestoreEnables()
    {
        using var m = MachineFixture.Create();
        var a = new KSpinLock("spin_nested_outer");
        var b = new KSpinLock("spin_nested_inner");
        var states = new List<(bool IrqsOff, int Count)>();
        m.Run(() =>
        {
            var fa = a.LockIrqSave();
            var fb = b.LockIrqSave();
            states.Add((Context.IrqsDisabled, Current.Cpu.PreemptCountValue));
            b.UnlockIrqRestore(fb);
            states.Add((Context.IrqsDisabled, Current.Cpu.PreemptCountValue));
            a.UnlockIrqRestore(fa);
            states.Add((Context.IrqsDisabled, Current.Cpu.PreemptCountValue));
            Assert.True(fa.WereEnabled);
            Assert.False(fb.WereEnabled);
        });
        Assert.Equal([(true, 2), (true, 1), (false, 0)], states);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void LockIrqSaveInHardirq_RestoresToIrqsOff_WithoutWarning()
    {
        using var m = MachineFixture.Create();
        var l = new KSpinLock("spin_irqsave_in_hardirq");
        (bool WereEnabled, bool OffAfter) seen = default;
        var done = false;
        m.Run(() =>
        {
            m.RaiseIrq(1, "dev", () =>
            {
                var f = l.LockIrqSave();
                l.UnlockIrqRestore(f);
                seen = (f.WereEnabled, Context.IrqsDisabled);
                Volatile.Write(ref done, true);
            });
            MachineFixture.SpinUntil(() => Volatile.Read(ref done));
            var g = l.LockIrqSave();
            l.UnlockIrqRestore(g);
        });
        Assert.Equal((false, true), seen);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void TryLock_FailsWhileHeldElsewhere_AndLeavesStateUnchanged()
    {
        using var m = MachineFixture.Create();
        var l = new KSpinLock("spin_trylock");
        var held = false;
        var release = false;
        var results = new List<(string What, bool Got, int Count, bool IrqsOff)>();
        m.Run(() =>
        {
            var holder = m.Spawn("holder", () =>
            {
                l.Lock();
                Volatile.Write(ref held, true);
                MachineFixture.SpinUntil(() => Volatile.Read(ref release));
                l.Unlock();
            }, cpu: 1);
            MachineFixture.SpinUntil(() => Volatile.Read(ref held));
            results.Add(("trylock", l.TryLock(), Current.Cpu.PreemptCountValue, Context.IrqsDisabled));
            results.Add(("trylock_irqsave", l.TryLockIrqSave(out _), Current.Cpu.PreemptCountValue, Context.IrqsDisabled));
            Assert.True(l.IsLocked);
            Volatile.Write(ref release, true);
            holder.WaitForExit();
            Assert.False(l.IsLocked);
            var got = l.TryLock();
            results.Add(("trylock-free", got, Current.Cpu.PreemptCountValue, Context.IrqsDisabled));
            // Held by this very CPU: trylock fails rather than deadlocking.
            results.Add(("trylock-self", l.TryLock(), Current.Cpu.PreemptCountValue, Context.IrqsDisabled));
            l.Unlock();
        });
        Assert.Equal(
            [("trylock", false, 0, false), ("trylock_irqsave", false, 0, false), ("trylock-free", true, 1, false), ("trylock-self", false, 1, false)],
            results);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void AssertHeld_ThrowsUnlessHeldByThisCpu()
    {
        using var m = MachineFixture.Create();
        var l = new KSpinLock("spin_assert_held");
        var held = false;
        var release = false;
        KernelBugException? notHeld = null;
        KernelBugException? otherCpu = null;
        m.Run(() =>
        {
            notHeld = Assert.Throws<KernelBugException>(l.AssertHeld);
            l.Lock();
            l.AssertHeld();
            l.Unlock();
            var holder = m.Spawn("holder", () =>
            {
                l.Lock();
                Volatile.Write(ref held, true);
                MachineFixture.SpinUntil(() => Volatile.Read(ref release));
                l.Unlock();
            }, cpu: 1);
            MachineFixture.SpinUntil(() => Volatile.Read(ref held));
            otherCpu = Assert.Throws<KernelBugException>(l.AssertHeld);
            Volatile.Write(ref release, true);
            holder.WaitForExit();
        });
        Assert.Contains("spin_assert_held is not held", notHeld!.Message, StringComparison.Ordinal);
        Assert.Contains("held by CPU#1, not this CPU#0", otherCpu!.Message, StringComparison.Ordinal);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void Unlock_ByNonOwnerCpu_IsABug()
    {
        using var m = MachineFixture.Create();
        var l = new KSpinLock("spin_non_owner");
        var held = false;
        var release = false;
        KernelBugException? wrongOwner = null;
        KernelBugException? notHeld = null;
        var countAfter = -1;
        m.Run(() =>
        {
            var holder = m.Spawn("holder", () =>
            {
                l.Lock();
                Volatile.Write(ref held, true);
                MachineFixture.SpinUntil(() => Volatile.Read(ref release));
                l.Unlock();
            }, cpu: 1);
            MachineFixture.SpinUntil(() => Volatile.Read(ref held));
            wrongOwner = Assert.Throws<KernelBugException>(() => l.Unlock());
            countAfter = Current.Cpu.PreemptCountValue;
            Assert.True(l.IsLocked, "a refused unlock must not release the owner's lock");
            Volatile.Write(ref release, true);
            holder.WaitForExit();
            notHeld = Assert.Throws<KernelBugException>(() => l.Unlock());
        });
        Assert.Contains("spin_unlock of spin_non_owner: not held by this CPU#0 (owner CPU#1)", wrongOwner!.Message, StringComparison.Ordinal);
        Assert.Contains("not held by this CPU#0", notHeld!.Message, StringComparison.Ordinal);
        Assert.Equal(0, countAfter);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void PlainLockTakenBySoftirqOnHoldingCpu_WithLockdepOff_FailsWithSpinlockRecursion()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Off);
        var l = new KSpinLock("spin_self_deadlock_softirq");
        m.OpenSoftirq(Softirq.Block, _ =>
        {
            l.Lock();
            l.Unlock();
        });
        var failure = MachineFixture.RunGuarded(m, () =>
        {
            l.Lock();
            Machine.RaiseSoftirq(Softirq.Block);
            Context.Point();
            l.Unlock();
        });
        var ex = Assert.IsType<MachineFailedException>(failure);
        Assert.Contains("BUG: spinlock recursion", ex.Message, StringComparison.Ordinal);
        Assert.Contains("*** DEADLOCK ***", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LockBhHeldInTask_DefersSoftirqOnSameCpu_NoDeadlock()
    {
        using var m = MachineFixture.Create();
        var l = new KSpinLock("spin_bh_defers");
        var events = new List<string>();
        m.OpenSoftirq(Softirq.Block, _ =>
        {
            l.Lock();
            events.Add("softirq");
            l.Unlock();
        });
        m.Run(() =>
        {
            l.LockBh();
            Machine.RaiseSoftirq(Softirq.Block);
            Context.Point();
            events.Add("task-critical");
            l.UnlockBh();
            events.Add("task-after");
        });
        Assert.Equal(["task-critical", "softirq", "task-after"], events);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void PlainLockTakenByIrqOnHoldingCpu_WithLockdepReport_WarnsFirstThenDetectsDeadlock()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        var l = new KSpinLock("spin_self_deadlock_report");
        var failure = MachineFixture.RunGuarded(m, () =>
        {
            l.Lock();
            m.RaiseIrq(0, "end_io", () =>
            {
                l.Lock();
                l.Unlock();
            });
            Context.Point();
            l.Unlock();
        });
        Assert.IsType<MachineFailedException>(failure);
        var reports = m.Reports;
        Assert.Equal([ReportKind.Lockdep, ReportKind.Deadlock], reports.Select(r => r.Kind));
        Assert.Contains("inconsistent {HARDIRQ-ON-W} -> {IN-HARDIRQ-W} usage.", reports[0].Text, StringComparison.Ordinal);
        Assert.Contains("BUG: spinlock recursion", reports[1].Text, StringComparison.Ordinal);
    }

    [Fact]
    public void AbBaOnTwoCpus_WithLockdepOff_IsDetectedAsDeadlock_NotAHang()
    {
        using var m = MachineFixture.Create(seed: 3, lockdep: LockdepMode.Off);
        var a = new KSpinLock("spin_abba_A");
        var b = new KSpinLock("spin_abba_B");
        var arrived = 0;
        var failure = MachineFixture.RunGuarded(m, () =>
        {
            var other = m.Spawn("ba", () =>
            {
                b.Lock();
                Interlocked.Increment(ref arrived);
                MachineFixture.SpinUntil(() => Volatile.Read(ref arrived) == 2);
                a.Lock();
                a.Unlock();
                b.Unlock();
            }, cpu: 1);
            a.Lock();
            Interlocked.Increment(ref arrived);
            MachineFixture.SpinUntil(() => Volatile.Read(ref arrived) == 2);
            b.Lock();
            b.Unlock();
            a.Unlock();
            other.WaitForExit();
        });
        var ex = Assert.IsType<MachineFailedException>(failure);
        Assert.Contains("deadlock", ex.Message, StringComparison.Ordinal);
        Assert.Contains("CPU#0: init/1 spinning on spin_abba_B held by CPU#1", ex.Message, StringComparison.Ordinal);
        Assert.Contains("CPU#1: ba/2 spinning on spin_abba_A held by CPU#0", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>Tests that start real threads (the real engine, or plain .NET threads), in the serial collection.</summary>
    [Collection(MachineFixture.RealEngine)]
    public class RealThreads
    {
        [Theory]
        [MemberData(nameof(MachineFixture.Engines), MemberType = typeof(MachineFixture))]
        public void EveryFlavour_ExcludesAcrossCpus(EngineKind engine)
        {
            const int Tasks = 8;
            const int Iterations = 40;
            using var m = MachineFixture.Create(seed: 21, cpus: 4, engine: engine);
            var l = new KSpinLock("spin_mutual_exclusion");
            var counter = 0;
            var inside = 0;
            var maxInside = 0;
            m.Run(() =>
            {
                var tasks = Enumerable.Range(0, Tasks).Select(i => m.Spawn($"worker{i}", () =>
                {
                    for (var k = 0; k < Iterations; k++)
                    {
                        var flavour = (k + i) % 5;
                        var flags = default(IrqFlags);
                        switch (flavour)
                        {
                            case 0: l.Lock(); break;
                            case 1: l.LockBh(); break;
                            case 2: l.LockIrq(); break;
                            case 3: flags = l.LockIrqSave(); break;
                            default:
                                while (!l.TryLock())
                                {
                                    Context.Point();
                                }

                                break;
                        }

                        var n = Interlocked.Increment(ref inside);
                        if (n > Volatile.Read(ref maxInside))
                        {
                            Volatile.Write(ref maxInside, n);
                        }

                        var v = counter;
                        Context.Point();
                        counter = v + 1;
                        Interlocked.Decrement(ref inside);
                        switch (flavour)
                        {
                            case 0: l.Unlock(); break;
                            case 1: l.UnlockBh(); break;
                            case 2: l.UnlockIrq(); break;
                            case 3: l.UnlockIrqRestore(flags); break;
                            default: l.Unlock(); break;
                        }
                    }
                }, cpu: i % 2 == 0 ? i % 4 : null)).ToList();
                foreach (var t in tasks)
                {
                    t.WaitForExit();
                }
            });
            Assert.Equal(Tasks * Iterations, counter);
            Assert.Equal(1, maxInside);
            MachineFixture.AssertClean(m);
        }

        [Fact]
        public void OutsideMachine_IsAPlainLock()
        {
            const int Threads = 4;
            const int Iterations = 20_000;
            var l = new KSpinLock("spin_outside_machine");
            var counter = 0;
            var threads = Enumerable.Range(0, Threads).Select(i => new Thread(() =>
            {
                for (var k = 0; k < Iterations; k++)
                {
                    switch (k % 4)
                    {
                        case 0:
                            l.Lock();
                            counter++;
                            l.Unlock();
                            break;
                        case 1:
                            l.LockBh();
                            counter++;
                            l.UnlockBh();
                            break;
                        case 2:
                            l.LockIrq();
                            counter++;
                            l.UnlockIrq();
                            break;
                        default:
                            var f = l.LockIrqSave();
                            counter++;
                            l.UnlockIrqRestore(f);
                            break;
                    }
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            Assert.Equal(Threads * Iterations, counter);

            Assert.False(l.IsLocked);
            Assert.True(l.TryLock());
            Assert.True(l.IsLocked);
            Assert.False(l.TryLock());
            Assert.False(l.TryLockIrqSave(out _));
            l.AssertHeld();
            l.Unlock();
            Assert.Throws<KernelBugException>(l.AssertHeld);
            Assert.Throws<KernelBugException>(() => l.Unlock());
        }

        [Theory]
        [MemberData(nameof(MachineFixture.Engines), MemberType = typeof(MachineFixture))]
        public void PlainLockTakenByIrqOnHoldingCpu_WithLockdepOff_FailsWithSpinlockRecursion(EngineKind engine)
        {
            using var m = MachineFixture.Create(cpus: 2, engine: engine, lockdep: LockdepMode.Off);
            var l = new KSpinLock("spin_self_deadlock");
            var failure = MachineFixture.RunGuarded(m, () =>
            {
                l.Lock();
                m.RaiseIrq(0, "end_io", () =>
                {
                    l.Lock();
                    l.Unlock();
                });
                for (var i = 0; i < 1000; i++)
                {
                    Context.Point();
                }

                l.Unlock();
            });
            var ex = Assert.IsType<MachineFailedException>(failure);
            Assert.Contains("BUG: spinlock recursion on CPU#0", ex.Message, StringComparison.Ordinal);
            Assert.Contains("*** DEADLOCK ***", ex.Message, StringComparison.Ordinal);
            Assert.Contains("<Interrupt>", ex.Message, StringComparison.Ordinal);
            Assert.Contains("seed 1", ex.Message, StringComparison.Ordinal);
            var r = MachineFixture.SingleReport(m, ReportKind.Deadlock);
            Assert.Contains("lock: spin_self_deadlock", r.Text, StringComparison.Ordinal);
            Assert.Contains(nameof(PlainLockTakenByIrqOnHoldingCpu_WithLockdepOff_FailsWithSpinlockRecursion), r.Text, StringComparison.Ordinal);
        }

        [Fact]
        public void ContendedFirstAcquisition_OnRealEngine_DoesNotCrashLockStat()
        {
            const int N = 2000;
            // Fresh lock objects: every acquisition below is some lock's first, racing from two CPUs.
            var locks = Enumerable.Range(0, N).Select(i => new KSpinLock("spin_first_acquisition_" + (i % 8))).ToArray();
            using var m = MachineFixture.Create(engine: EngineKind.Real, lockdep: LockdepMode.Off);
            var arrived = new int[N];
            var failure = MachineFixture.RunGuarded(m, () =>
            {
                void Side()
                {
                    for (var i = 0; i < N; i++)
                    {
                        Interlocked.Increment(ref arrived[i]);
                        while (Volatile.Read(ref arrived[i]) < 2)
                        {
                            Thread.SpinWait(1);
                        }

                        locks[i].Lock();
                        locks[i].Unlock();
                    }
                }

                var other = m.Spawn("other", Side, cpu: 1);
                Side();
                other.WaitForExit();
            });
            Assert.Null(failure);
            var stats = m.Lockdep.Classes.Where(c => c.Name.StartsWith("spin_first_acquisition_", StringComparison.Ordinal)).Select(c => c.Stats).ToList();
            Assert.Equal(2 * N, stats.Sum(s => s.Acquisitions));
            Assert.All(stats.SelectMany(s => s.ContendedPoints.Keys), k => Assert.False(string.IsNullOrEmpty(k)));
        }
    }
}
