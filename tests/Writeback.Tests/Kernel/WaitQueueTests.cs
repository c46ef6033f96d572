using System.Collections.Concurrent;
using System.Threading;
using Writeback.Kernel;

namespace Writeback.Tests.Kernel;

/// <summary>Wait queues: wait_event() against conditions set on other CPUs, wake_up() and
/// wake_up_all(), spurious wake-ups, and a ping-pong that would expose a lost wake-up.</summary>
public class WaitQueueTests
{
    private static Machine NewMachine(int cpus = 4, ulong seed = 1, EngineKind engine = EngineKind.Deterministic) =>
        Machine.Create(new MachineOptions { Engine = engine, Cpus = cpus, Seed = seed, Lockdep = LockdepMode.Fail });

    [Fact]
    public void WaitEvent_WithTrueCondition_ReturnsWithoutSleeping()
    {
        using var m = NewMachine();
        m.Run(() =>
        {
            var wq = new WaitQueueHead();
            var switches = Current.Task.ContextSwitches;
            wq.WaitEvent(() => true);
            Assert.Equal(switches, Current.Task.ContextSwitches);
            Assert.False(wq.HasSleeper);
        });
    }

    [Fact]
    public void WaitEvent_ReturnsAfterAnotherCpuSetsConditionAndWakes()
    {
        using var m = NewMachine();
        var flag = false;
        var events = new ConcurrentQueue<string>();
        var wakerCpu = -1;
        m.Run(() =>
        {
            var wq = new WaitQueueHead();
            var waker = m.Spawn("waker", () =>
            {
                wakerCpu = Current.Cpu.Id;
                while (!wq.HasSleeper)
                {
                    m.Msleep(1);
                }

                events.Enqueue("set");
                Volatile.Write(ref flag, true);
                wq.WakeUp();
            }, 3);
            events.Enqueue("wait");
            wq.WaitEvent(() => Volatile.Read(ref flag));
            events.Enqueue("woken");
            Assert.False(wq.HasSleeper);
            waker.WaitForExit();
        });
        Assert.Equal(3, wakerCpu);
        Assert.Equal(["wait", "set", "woken"], events);
    }

    [Fact]
    public void WaitEvent_SpuriousWakeUp_SleepsAgainUntilConditionHolds()
    {
        using var m = NewMachine();
        var flag = false;
        var evaluations = 0;
        var returnedEarly = false;
        m.Run(() =>
        {
            var wq = new WaitQueueHead();
            var waiter = m.Spawn("waiter", () =>
            {
                wq.WaitEvent(() =>
                {
                    Interlocked.Increment(ref evaluations);
                    return Volatile.Read(ref flag);
                });
                returnedEarly = !Volatile.Read(ref flag);
            }, 1);
            while (!wq.HasSleeper)
            {
                m.Msleep(1);
            }

            var before = Volatile.Read(ref evaluations);
            wq.WakeUp();
            m.Msleep(5);
            wq.WakeUpAll();
            m.Msleep(5);
            Assert.False(waiter.HasExited);
            Assert.True(wq.HasSleeper);
            Assert.True(Volatile.Read(ref evaluations) > before);
            Volatile.Write(ref flag, true);
            wq.WakeUp();
            waiter.WaitForExit();
        });
        Assert.False(returnedEarly);
    }

    [Fact]
    public void ConditionSetWithoutWake_LeavesWaiterAsleep()
    {
        // wait_event() needs a wake-up after the condition changes; setting the condition alone
        // does not release the waiter (the run would report a deadlock without the final wake).
        using var m = NewMachine();
        var flag = false;
        m.Run(() =>
        {
            var wq = new WaitQueueHead();
            var waiter = m.Spawn("waiter", () => wq.WaitEvent(() => Volatile.Read(ref flag)), 2);
            while (!wq.HasSleeper)
            {
                m.Msleep(1);
            }

            Volatile.Write(ref flag, true);
            m.Msleep(10);
            Assert.False(waiter.HasExited);
            wq.WakeUp();
            waiter.WaitForExit();
        });
    }

    [Fact]
    public void WakeUpAll_WakesEveryWaiter()
    {
        using var m = NewMachine();
        var go = false;
        var woken = 0;
        m.Run(() =>
        {
            var wq = new WaitQueueHead();
            var waiters = Enumerable.Range(0, 4).Select(i => m.Spawn($"waiter{i}", () =>
            {
                wq.WaitEvent(() => Volatile.Read(ref go));
                Interlocked.Increment(ref woken);
            }, i)).ToList();
            m.Msleep(5);
            Assert.True(wq.HasSleeper);
            Assert.Equal(0, Volatile.Read(ref woken));
            Volatile.Write(ref go, true);
            wq.WakeUpAll();
            foreach (var w in waiters)
            {
                w.WaitForExit();
            }

            Assert.False(wq.HasSleeper);
        });
        Assert.Equal(4, woken);
    }

    [Fact]
    public void WakeUp_WakesEveryNonExclusiveWaiter()
    {
        using var m = NewMachine();
        var go = false;
        var woken = 0;
        m.Run(() =>
        {
            var wq = new WaitQueueHead();
            var waiters = Enumerable.Range(0, 3).Select(i => m.Spawn($"waiter{i}", () =>
            {
                wq.WaitEvent(() => Volatile.Read(ref go));
                Interlocked.Increment(ref woken);
            }, i + 1)).ToList();
            m.Msleep(5);
            Volatile.Write(ref go, true);
            wq.WakeUp();
            foreach (var w in waiters)
            {
                w.WaitForExit();
            }
        });
        Assert.Equal(3, woken);
    }

    [Fact]
    public void WakeUp_FromHardirqHandler_WakesWaiter()
    {
        using var m = NewMachine();
        var flag = false;
        var inHardirq = false;
        m.Run(() =>
        {
            var wq = new WaitQueueHead();
            m.Spawn("device", () =>
            {
                m.Msleep(3);
                m.RaiseIrq(1, "dev", () =>
                {
                    inHardirq = Context.InHardirq;
                    Volatile.Write(ref flag, true);
                    wq.WakeUp();
                });
            }, 2);
            wq.WaitEvent(() => Volatile.Read(ref flag));
        });
        Assert.True(inHardirq);
        Assert.Empty(m.Reports);
    }

    [Fact]
    public void WaitEvent_InAtomicContext_ReportsSleepingInAtomic()
    {
        using var m = Machine.Create(new MachineOptions { Cpus = 2, Seed = 1, Lockdep = LockdepMode.Report });
        m.Run(() =>
        {
            var wq = new WaitQueueHead();
            Context.PreemptDisable();
            wq.WaitEvent(() => true);
            Context.PreemptEnable();
        });
        var r = Assert.Single(m.Reports);
        Assert.Equal(ReportKind.SleepInAtomic, r.Kind);
        Assert.Contains("in_atomic(): 1", r.Text);
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void PingPong_ThousandRounds_NoLostWakeup(ulong seed)
    {
        using var m = NewMachine(seed: seed);
        Assert.Equal(1000, PingPong(m, 1000));
        Assert.Empty(m.Reports);
    }

    private static int PingPong(Machine m, int n)
    {
        // turn: even = ping's move, odd = pong's move; each side waits for its turn and wakes the other.
        var turn = 0;
        var outOfTurn = 0;
        m.Run(() =>
        {
            var wq = new WaitQueueHead();
            var a = m.Spawn("ping", () =>
            {
                for (var i = 0; i < n; i++)
                {
                    wq.WaitEvent(() => Volatile.Read(ref turn) == 2 * i);
                    if (Interlocked.Increment(ref turn) != (2 * i) + 1)
                    {
                        Interlocked.Increment(ref outOfTurn);
                    }

                    wq.WakeUp();
                }
            }, 1);
            var b = m.Spawn("pong", () =>
            {
                for (var i = 0; i < n; i++)
                {
                    wq.WaitEvent(() => Volatile.Read(ref turn) == (2 * i) + 1);
                    if (Interlocked.Increment(ref turn) != (2 * i) + 2)
                    {
                        Interlocked.Increment(ref outOfTurn);
                    }

                    wq.WakeUp();
                }
            }, 2);
            a.WaitForExit();
            b.WaitForExit();
        });
        Assert.Equal(0, outOfTurn);
        return turn / 2;
    }

    /// <summary>Smoke runs on both engines; real threads run in the serial collection.</summary>
    [Collection("RealEngine")]
    public class OnBothEngines
    {
        [Theory]
        [InlineData(EngineKind.Deterministic)]
        [InlineData(EngineKind.Real)]
        public void PingPong_ThousandRounds_NoLostWakeup(EngineKind engine)
        {
            using var m = NewMachine(engine: engine);
            Assert.Equal(1000, PingPong(m, 1000));
        }
    }
}
