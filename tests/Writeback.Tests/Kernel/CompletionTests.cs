using System.Collections.Concurrent;
using System.Threading;
using Writeback.Kernel;

namespace Writeback.Tests.Kernel;

/// <summary>Completions: wait then complete (from a task or an interrupt), complete before wait,
/// complete versus complete_all, and a ping-pong that would expose a lost wake-up.</summary>
public class CompletionTests
{
    private static Machine NewMachine(int cpus = 4, ulong seed = 1, EngineKind engine = EngineKind.Deterministic) =>
        Machine.Create(new MachineOptions { Engine = engine, Cpus = cpus, Seed = seed, Lockdep = LockdepMode.Fail });

    [Fact]
    public void WaitForCompletion_SleepsUntilAnotherTaskCompletes()
    {
        using var m = NewMachine();
        var events = new ConcurrentQueue<string>();
        m.Run(() =>
        {
            var done = new Completion();
            var waiter = m.Spawn("waiter", () =>
            {
                events.Enqueue("wait");
                done.WaitForCompletion();
                events.Enqueue("woken");
            }, 1);
            m.Msleep(10);
            events.Enqueue("complete");
            done.Complete();
            waiter.WaitForExit();
            Assert.False(done.IsDone);
        });
        Assert.Equal(["wait", "complete", "woken"], events);
        Assert.Empty(m.Reports);
    }

    [Fact]
    public void WaitForCompletion_IsWokenByCompleteFromHardirqHandler()
    {
        using var m = NewMachine();
        var inHardirq = false;
        var handlerCpu = -1;
        ulong waitedUntil = 0;
        ulong raisedAt = 0;
        m.Run(() =>
        {
            var done = new Completion();
            var device = m.Spawn("device", () =>
            {
                m.Msleep(8);
                raisedAt = m.Jiffies;
                m.RaiseIrq(2, "dev", () =>
                {
                    inHardirq = Context.InHardirq;
                    handlerCpu = Current.Cpu.Id;
                    done.Complete();
                });
            }, 3);
            done.WaitForCompletion();
            waitedUntil = m.Jiffies;
            device.WaitForExit();
        });
        Assert.True(inHardirq);
        Assert.Equal(2, handlerCpu);
        Assert.True(waitedUntil >= raisedAt);
        Assert.Empty(m.Reports);
    }

    [Fact]
    public void CompleteBeforeWait_WaitReturnsAtOnce_AndCompletionsAreCounted()
    {
        using var m = NewMachine();
        m.Run(() =>
        {
            var done = new Completion();
            Assert.False(done.IsDone);
            Assert.False(done.TryWaitForCompletion());
            done.Complete();
            done.Complete();
            Assert.True(done.IsDone);
            var switches = Current.Task.ContextSwitches;
            done.WaitForCompletion();
            Assert.Equal(switches, Current.Task.ContextSwitches);
            Assert.True(done.IsDone);
            Assert.True(done.TryWaitForCompletion());
            Assert.False(done.IsDone);
            Assert.False(done.TryWaitForCompletion());
        });
    }

    [Fact]
    public void Complete_WakesOneWaiterPerCall()
    {
        using var m = NewMachine();
        var woken = 0;
        m.Run(() =>
        {
            var done = new Completion();
            var waiters = Enumerable.Range(0, 3).Select(i => m.Spawn($"waiter{i}", () =>
            {
                done.WaitForCompletion();
                Interlocked.Increment(ref woken);
            }, i + 1)).ToList();
            m.Msleep(4);
            done.Complete();
            m.Msleep(10);
            Assert.Equal(1, Volatile.Read(ref woken));
            done.Complete();
            m.Msleep(10);
            Assert.Equal(2, Volatile.Read(ref woken));
            done.Complete();
            foreach (var w in waiters)
            {
                w.WaitForExit();
            }

            Assert.False(done.IsDone);
        });
        Assert.Equal(3, woken);
    }

    [Fact]
    public void CompleteAll_ReleasesEveryWaiterAndFutureWaits_UntilReinit()
    {
        using var m = NewMachine();
        var woken = 0;
        m.Run(() =>
        {
            var done = new Completion();
            var waiters = Enumerable.Range(0, 4).Select(i => m.Spawn($"waiter{i}", () =>
            {
                done.WaitForCompletion();
                Interlocked.Increment(ref woken);
            }, i)).ToList();
            m.Msleep(4);
            Assert.Equal(0, Volatile.Read(ref woken));
            done.CompleteAll();
            foreach (var w in waiters)
            {
                w.WaitForExit();
            }

            // complete_all() stays done for later waiters.
            done.WaitForCompletion();
            Assert.True(done.TryWaitForCompletion());
            Assert.True(done.IsDone);

            done.Reinit();
            Assert.False(done.IsDone);
            Assert.False(done.TryWaitForCompletion());
        });
        Assert.Equal(4, woken);
    }

    [Fact]
    public void Complete_FromSoftirqTimerCallback_WakesWaiter()
    {
        using var m = NewMachine();
        var inSoftirq = false;
        m.Run(() =>
        {
            var done = new Completion();
            var t = new TimerList(_ =>
            {
                inSoftirq = Context.InServingSoftirq;
                done.Complete();
            });
            m.AddTimerOn(t, m.Jiffies + 3, 1);
            done.WaitForCompletion();
        });
        Assert.True(inSoftirq);
    }

    [Fact]
    public void WaitForCompletion_WithInterruptsDisabled_ReportsSleepingInAtomic()
    {
        using var m = Machine.Create(new MachineOptions { Cpus = 2, Seed = 1, Lockdep = LockdepMode.Report });
        m.Run(() =>
        {
            var done = new Completion();
            done.Complete();
            var flags = Context.LocalIrqSave();
            done.WaitForCompletion();
            Context.LocalIrqRestore(flags);
        });
        var r = Assert.Single(m.Reports);
        Assert.Equal(ReportKind.SleepInAtomic, r.Kind);
        Assert.Contains("irqs_disabled(): 1", r.Text);
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    public void PingPong_ThousandRounds_NoLostWakeup(ulong seed)
    {
        using var m = NewMachine(seed: seed);
        var rounds = PingPong(m, 1000);
        Assert.Equal(1000, rounds);
        Assert.Empty(m.Reports);
    }

    private static int PingPong(Machine m, int n)
    {
        var pings = 0;
        var pongs = 0;
        var outOfTurn = 0;
        m.Run(() =>
        {
            var ping = new Completion();
            var pong = new Completion();
            var a = m.Spawn("ping", () =>
            {
                for (var i = 0; i < n; i++)
                {
                    Interlocked.Increment(ref pings);
                    ping.Complete();
                    pong.WaitForCompletion();
                    if (Volatile.Read(ref pongs) != i + 1)
                    {
                        Interlocked.Increment(ref outOfTurn);
                    }
                }
            }, 1);
            var b = m.Spawn("pong", () =>
            {
                for (var i = 0; i < n; i++)
                {
                    ping.WaitForCompletion();
                    if (Volatile.Read(ref pings) != i + 1)
                    {
                        Interlocked.Increment(ref outOfTurn);
                    }

                    Interlocked.Increment(ref pongs);
                    pong.Complete();
                }
            }, 2);
            a.WaitForExit();
            b.WaitForExit();
            Assert.False(ping.IsDone);
            Assert.False(pong.IsDone);
        });
        Assert.Equal(0, outOfTurn);
        Assert.Equal(pings, pongs);
        return pongs;
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

        [Theory]
        [InlineData(EngineKind.Deterministic)]
        [InlineData(EngineKind.Real)]
        public void CompleteFromIrq_WakesWaiter(EngineKind engine)
        {
            using var m = NewMachine(engine: engine);
            var inHardirq = false;
            m.Run(() =>
            {
                var done = new Completion();
                m.Spawn("device", () =>
                {
                    m.Msleep(2);
                    m.RaiseIrq(1, "dev", () =>
                    {
                        inHardirq = Context.InHardirq;
                        done.Complete();
                    });
                }, 2);
                done.WaitForCompletion();
            });
            Assert.True(inHardirq);
        }
    }
}
