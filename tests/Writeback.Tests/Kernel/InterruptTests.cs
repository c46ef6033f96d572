using System.Threading;
using Writeback.Kernel;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Kernel;

public class InterruptTests
{
    [Fact]
    public void Irq_RaisedWhileIrqsDisabled_RunsOnlyAfterRestore_AndLatencyCoversTheWait()
    {
        using var m = MachineFixture.Create(seed: 7);
        var ran = false;
        var ranBeforeRestore = false;
        long raisedAt = 0, restoredAt = 0;
        m.Run(() =>
        {
            var f = Context.LocalIrqSave();
            raisedAt = m.NowNs;
            m.RaiseIrq(0, "late", () => ran = true);
            for (var i = 0; i < 20; i++)
            {
                Context.Point(64 * 1024);
                ranBeforeRestore |= ran;
            }

            restoredAt = m.NowNs;
            Context.LocalIrqRestore(f);
            Assert.True(ran, "the pending interrupt is taken as soon as interrupts are restored");
        });
        Assert.False(ranBeforeRestore);
        Assert.True(ran);
        var waited = restoredAt - raisedAt;
        Assert.True(waited > 100_000, $"the scenario keeps interrupts off for a while ({waited} ns)");
        Assert.True(m.IrqsOff.IrqLatencyOn(0).Max >= waited, $"latency {m.IrqsOff.IrqLatencyOn(0).Max} ns must cover the {waited} ns interrupts were off");
        Assert.Equal(1, m.IrqsOff.IrqLatencyOn(0).Count);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void Irq_RaisedToCpuWithIrqsDisabledByLocalIrqDisable_RunsOnlyAfterEnable()
    {
        using var m = MachineFixture.Create(seed: 3);
        var irqRan = false;
        var irqRanWhileOff = false;
        var off = false;
        var raised = false;
        long enabledAt = 0, raisedAt = 0;
        m.Run(() =>
        {
            var worker = m.Spawn("irqs-off", () =>
            {
                Context.LocalIrqDisable();
                Volatile.Write(ref off, true);
                MachineFixture.SpinUntil(() => Volatile.Read(ref raised));
                for (var i = 0; i < 10; i++)
                {
                    Context.Point(64 * 1024);
                    irqRanWhileOff |= Volatile.Read(ref irqRan);
                }

                enabledAt = m.NowNs;
                Context.LocalIrqEnable();
            }, cpu: 1);
            MachineFixture.SpinUntil(() => Volatile.Read(ref off));
            raisedAt = m.NowNs;
            m.RaiseIrq(1, "dev", () => Volatile.Write(ref irqRan, true));
            Volatile.Write(ref raised, true);
            worker.WaitForExit();
        });
        Assert.True(irqRan);
        Assert.False(irqRanWhileOff);
        Assert.True(m.IrqsOff.IrqLatencyOn(1).Max >= enabledAt - raisedAt);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void Irq_RaisedToIdleCpu_RunsPromptly()
    {
        var costs = CostModel.Default;
        using var m = MachineFixture.Create(seed: 11);
        var done = false;
        var cpuSeen = -1;
        m.Run(() =>
        {
            // Let CPU 0's clock run ahead so that CPU 1 is idle well before the raise.
            Context.Point(1 << 20);
            m.RaiseIrq(1, "to-idle", () =>
            {
                cpuSeen = Current.Cpu.Id;
                Volatile.Write(ref done, true);
            });
            MachineFixture.SpinUntil(() => Volatile.Read(ref done));
        });
        Assert.Equal(1, cpuSeen);
        var lat = m.IrqsOff.IrqLatencyOn(1);
        Assert.Equal(1, lat.Count);
        Assert.True(lat.Max <= costs.IrqEntryNs + costs.JitterNs, $"an idle CPU takes the interrupt at once: latency {lat.Max} ns");
        Assert.Equal(1, m.Cpus[1].Interrupts);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void Irq_NestsOnTheInterruptedTask_AndReturnsWithItsStateIntact()
    {
        using var m = MachineFixture.Create();
        string? interrupted = null;
        var before = -1;
        var after = -1;
        m.Run(() =>
        {
            var self = Current.Task;
            Context.PreemptDisable();
            before = Current.Cpu.PreemptCountValue;
            m.RaiseIrq(0, "nest", () => interrupted = Current.Task == self ? "init" : Current.Task.ToString());
            Context.Point();
            after = Current.Cpu.PreemptCountValue;
            Context.PreemptEnable();
            Assert.False(Context.IrqsDisabled);
        });
        Assert.Equal("init", interrupted);
        Assert.Equal(1, before);
        Assert.Equal(1, after);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void IrqRaisedDuringHardirq_RunsAfterTheHandlerReturns_NeverNested()
    {
        using var m = MachineFixture.Create();
        var events = new List<string>();
        var maxHardirqCount = 0;
        m.Run(() =>
        {
            m.RaiseIrq(0, "first", () =>
            {
                events.Add("first-start");
                m.RaiseIrq(0, "second", () =>
                {
                    events.Add("second");
                    maxHardirqCount = Math.Max(maxHardirqCount, Current.Cpu.PreemptCountValue >> 16);
                });
                for (var i = 0; i < 5; i++)
                {
                    Context.Point(4096);
                }

                events.Add("first-end");
            });
            Context.Point();
            events.Add("task");
        });
        Assert.Equal(["first-start", "first-end", "second", "task"], events);
        Assert.Equal(1, maxHardirqCount);
        Assert.Equal(2, m.Cpus[0].Interrupts);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void SoftirqRaisedInHardirq_RunsAtIrqExit_ServingSoftirqWithIrqsOn()
    {
        using var m = MachineFixture.Create();
        var events = new List<string>();
        (bool Serving, bool Hardirq, bool IrqsOff, int Cpu, int Count) seen = default;
        m.OpenSoftirq(Softirq.Block, cpu =>
        {
            events.Add("softirq");
            seen = (Context.InServingSoftirq, Context.InHardirq, Context.IrqsDisabled, cpu.Id, Current.Cpu.PreemptCountValue);
        });
        m.Run(() =>
        {
            m.RaiseIrq(0, "blk", () =>
            {
                events.Add("hardirq-start");
                Machine.RaiseSoftirq(Softirq.Block);
                Context.Point();
                events.Add("hardirq-end");
            });
            events.Add("task-before");
            Context.Point();
            events.Add("task-after");
        });
        Assert.Equal(["task-before", "hardirq-start", "hardirq-end", "softirq", "task-after"], events);
        Assert.Equal((true, false, false, 0, 0x100), seen);
        Assert.Equal(1, m.Cpus[0].SoftirqsRun);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void SoftirqRaisedWhileBhDisabled_IsDeferredUntilLocalBhEnable()
    {
        using var m = MachineFixture.Create();
        var events = new List<string>();
        var servingInHandler = false;
        var bhDisabledInHandler = true;
        m.OpenSoftirq(Softirq.Tasklet, _ =>
        {
            events.Add("softirq");
            servingInHandler = Context.InServingSoftirq;
            bhDisabledInHandler = (Current.Cpu.PreemptCountValue & 0x200) != 0;
        });
        m.Run(() =>
        {
            Context.LocalBhDisable();
            Machine.RaiseSoftirq(Softirq.Tasklet);
            for (var i = 0; i < 10; i++)
            {
                Context.Point();
            }

            // An interrupt's exit does not run softirqs inside a BH-disabled section either.
            var irqDone = false;
            m.RaiseIrq(0, "dev", () => irqDone = true);
            MachineFixture.SpinUntil(() => irqDone);
            events.Add("before-enable");
            Context.LocalBhEnable();
            events.Add("after-enable");
        });
        Assert.Equal(["before-enable", "softirq", "after-enable"], events);
        Assert.True(servingInHandler);
        Assert.False(bhDisabledInHandler);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void SoftirqRaisedInTask_RunsAtNextPrimitive()
    {
        using var m = MachineFixture.Create();
        var events = new List<string>();
        m.OpenSoftirq(Softirq.Hi, _ => events.Add("softirq"));
        m.Run(() =>
        {
            Machine.RaiseSoftirq(Softirq.Hi);
            events.Add("raised");
            Context.Point();
            events.Add("after-point");
        });
        Assert.Equal(["raised", "softirq", "after-point"], events);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void Hardirq_NestsInsideSoftirqHandler()
    {
        using var m = MachineFixture.Create();
        var events = new List<string>();
        (bool Hardirq, bool Serving, int Count) inner = default;
        var softirqRan = false;
        m.OpenSoftirq(Softirq.NetRx, _ =>
        {
            events.Add("softirq-start");
            m.RaiseIrq(0, "nested", () =>
            {
                events.Add("hardirq");
                inner = (Context.InHardirq, Context.InServingSoftirq, Current.Cpu.PreemptCountValue);
            });
            Context.Point();
            events.Add("softirq-end");
            softirqRan = true;
        });
        m.Run(() =>
        {
            Machine.RaiseSoftirq(Softirq.NetRx);
            MachineFixture.SpinUntil(() => softirqRan);
        });
        Assert.Equal(["softirq-start", "hardirq", "softirq-end"], events);
        Assert.Equal((true, true, 0x10100), inner);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void SoftirqRaisedByHardirqNestedInSoftirq_RunsInTheSameSoftirqPass_NotNested()
    {
        using var m = MachineFixture.Create();
        var depth = 0;
        var maxDepth = 0;
        var taskletRuns = 0;
        var done = false;
        m.OpenSoftirq(Softirq.NetRx, _ =>
        {
            depth++;
            maxDepth = Math.Max(maxDepth, depth);
            m.RaiseIrq(0, "nested", () => Machine.RaiseSoftirq(Softirq.Tasklet));
            Context.Point();
            depth--;
        });
        m.OpenSoftirq(Softirq.Tasklet, _ =>
        {
            depth++;
            maxDepth = Math.Max(maxDepth, depth);
            taskletRuns++;
            depth--;
            done = true;
        });
        m.Run(() =>
        {
            Machine.RaiseSoftirq(Softirq.NetRx);
            MachineFixture.SpinUntil(() => done);
        });
        Assert.Equal(1, maxDepth);
        Assert.Equal(1, taskletRuns);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void Irq_IsNotTakenWhileSpinningWithIrqsOff_OnlyAfterUnlockIrqRestore()
    {
        using var m = MachineFixture.Create(seed: 9);
        var l = new Writeback.Kernel.SpinLock("irq_spin_irqsoff");
        var held = false;
        var aboutToLock = false;
        var released = false;
        var handlerRan = false;
        var handlerRanBeforeRestore = false;
        m.Run(() =>
        {
            var holder = m.Spawn("holder", () =>
            {
                var f = l.LockIrqSave();
                Volatile.Write(ref held, true);
                MachineFixture.SpinUntil(() => Volatile.Read(ref aboutToLock));
                Context.Point(4096);
                m.RaiseIrq(0, "while-spinning-irqs-off", () => Volatile.Write(ref handlerRan, true));
                for (var i = 0; i < 10; i++)
                {
                    Context.Point(4096);
                }

                Volatile.Write(ref released, true);
                l.UnlockIrqRestore(f);
            }, cpu: 1);
            MachineFixture.SpinUntil(() => Volatile.Read(ref held));
            Volatile.Write(ref aboutToLock, true);
            var flags = l.LockIrqSave();
            handlerRanBeforeRestore = Volatile.Read(ref handlerRan);
            l.UnlockIrqRestore(flags);
            holder.WaitForExit();
        });
        Assert.False(handlerRanBeforeRestore);
        Assert.True(handlerRan);
        Assert.True(released);
        MachineFixture.AssertClean(m);
    }

    /// <summary>Theories over both engines: the real engine runs only in the serial collection.</summary>
    [Collection(MachineFixture.RealEngine)]
    public class BothEngines
    {
        [Theory]
        [MemberData(nameof(MachineFixture.Engines), MemberType = typeof(MachineFixture))]
        public void Handler_RunsOnTargetCpu_InHardirqWithIrqsDisabled(EngineKind engine)
        {
            using var m = MachineFixture.Create(cpus: 4, engine: engine);
            var results = new (int Cpu, bool Hardirq, bool IrqsOff, bool InTask)[4];
            var done = 0;
            m.Run(() =>
            {
                for (var cpu = 0; cpu < 4; cpu++)
                {
                    var target = cpu;
                    m.RaiseIrq(target, "irq" + target, () =>
                    {
                        results[target] = (Current.Cpu.Id, Context.InHardirq, Context.IrqsDisabled, Context.InTask);
                        Interlocked.Increment(ref done);
                    });
                }

                MachineFixture.SpinUntil(() => Volatile.Read(ref done) == 4);
            });
            for (var cpu = 0; cpu < 4; cpu++)
            {
                Assert.Equal((cpu, true, true, false), results[cpu]);
                Assert.Equal(1, m.Cpus[cpu].Interrupts);
            }

            MachineFixture.AssertClean(m);
        }

        [Theory]
        [MemberData(nameof(MachineFixture.Engines), MemberType = typeof(MachineFixture))]
        public void DelayedIrqs_RaisedFromManyCpusAtOnce_EachRunExactlyOnce(EngineKind engine)
        {
            // The real engine's timer thread once peeked at the earliest event, let go of its lock
            // and then took whatever was first, so an earlier event added meanwhile was lost and
            // the peeked one ran twice (seen as a bio completed twice in the MemDisk benchmark with
            // 8 CPUs). This test keeps many CPUs adding events at once; the window is too narrow
            // for it to catch that race reliably, so it guards the contract rather than the race.
            const int perCpu = 400;
            using var m = MachineFixture.Create(cpus: 8, engine: engine);
            var runs = new int[8 * perCpu];
            var done = 0;
            m.Run(() =>
            {
                var raisers = Enumerable.Range(0, 8).Select(cpu => m.Spawn($"raiser{cpu}", () =>
                {
                    for (var i = 0; i < perCpu; i++)
                    {
                        var id = (cpu * perCpu) + i;
                        m.RaiseIrqIn((id * 7919) % 3 * 200, (cpu + 1) % 8, "delayed", () =>
                        {
                            Interlocked.Increment(ref runs[id]);
                            Interlocked.Increment(ref done);
                        });
                        Context.Point();
                    }
                }, cpu)).ToList();
                foreach (var r in raisers)
                {
                    r.WaitForExit();
                }

                MachineFixture.SpinUntil(() => Volatile.Read(ref done) >= runs.Length);
            });
            Assert.All(runs, n => Assert.Equal(1, n));
            MachineFixture.AssertClean(m);
        }

        [Theory]
        [MemberData(nameof(MachineFixture.Engines), MemberType = typeof(MachineFixture))]
        public void Irq_IsTakenWhileSpinningOnContendedLockWithIrqsOn(EngineKind engine)
        {
            using var m = MachineFixture.Create(engine: engine, seed: 5);
            var l = new Writeback.Kernel.SpinLock("irq_spin_contended");
            var held = false;
            var aboutToLock = false;
            var acquired = false;
            var handlerRan = false;
            (int Cpu, bool Waiting, bool LockHeld) inHandler = default;
            m.Run(() =>
            {
                var holder = m.Spawn("holder", () =>
                {
                    l.Lock();
                    Volatile.Write(ref held, true);
                    MachineFixture.SpinUntil(() => Volatile.Read(ref aboutToLock));
                    for (var i = 0; i < 5; i++)
                    {
                        Context.Point(4096);
                    }

                    // On the real engine CPU 0 may still be on its way into lock(): raise the
                    // interrupt only once it waits for the lock.
                    MachineFixture.SpinUntil(() => l.IsContended);
                    m.RaiseIrq(0, "while-spinning", () =>
                    {
                        inHandler = (Current.Cpu.Id, Volatile.Read(ref aboutToLock) && !Volatile.Read(ref acquired), l.IsLocked);
                        Volatile.Write(ref handlerRan, true);
                    });

                    // The lock stays held until CPU 0 has taken the interrupt: it must take it while spinning.
                    MachineFixture.SpinUntil(() => Volatile.Read(ref handlerRan));
                    l.Unlock();
                }, cpu: 1);
                MachineFixture.SpinUntil(() => Volatile.Read(ref held));
                Volatile.Write(ref aboutToLock, true);
                l.Lock();
                Volatile.Write(ref acquired, true);
                l.Unlock();
                holder.WaitForExit();
            });
            Assert.Equal((0, true, true), inHandler);
            var stats = m.Lockdep.Classes.Single(c => c.Name == "irq_spin_contended").Stats;
            Assert.Equal(1, stats.Contentions);
            MachineFixture.AssertClean(m);
        }
    }
}
