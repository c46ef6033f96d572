using System.Collections.Concurrent;
using System.Threading;
using Writeback.Kernel;

namespace Writeback.Tests.Kernel;

/// <summary>Timers: expiry, softirq context, mod_timer re-arming, del_timer(_sync), add_timer_on.</summary>
public class TimerTests
{
    private static Machine NewMachine(int cpus = 4, ulong seed = 1, EngineKind engine = EngineKind.Deterministic) =>
        Machine.Create(new MachineOptions { Engine = engine, Cpus = cpus, Seed = seed, Lockdep = LockdepMode.Fail });

    private static void SleepUntil(Machine m, Func<bool> condition)
    {
        while (!condition())
        {
            m.Msleep(1);
        }
    }

    private sealed record Firing(ulong Jiffies, int Cpu, bool InServingSoftirq, bool InTask, bool InHardirq, bool PendingInside);

    [Theory]
    [InlineData(1UL, 1UL)]
    [InlineData(5UL, 2UL)]
    [InlineData(30UL, 3UL)]
    public void ModTimer_FiresOnceAtOrAfterExpiry_InSoftirqContextOnArmingCpu(ulong delay, ulong seed)
    {
        using var m = NewMachine(seed: seed);
        var firings = new ConcurrentQueue<Firing>();
        ulong expires = 0;
        var armedOn = -1;
        m.Run(() =>
        {
            TimerList? t = null;
            t = new TimerList(_ => firings.Enqueue(new Firing(m.Jiffies, Current.Cpu.Id, Context.InServingSoftirq, Context.InTask, Context.InHardirq, t!.IsPending)));
            armedOn = Current.Cpu.Id;
            expires = m.Jiffies + delay;
            Assert.False(m.ModTimer(t, expires));
            Assert.True(t.IsPending);
            Assert.Equal(expires, t.Expires);
            SleepUntil(m, () => !firings.IsEmpty);
            Assert.False(t.IsPending);
            m.Msleep(40);
        });
        var f = Assert.Single(firings);
        Assert.True(f.Jiffies >= expires, $"fired at jiffy {f.Jiffies}, expiry {expires}");
        Assert.Equal(armedOn, f.Cpu);
        Assert.True(f.InServingSoftirq);
        Assert.False(f.InTask);
        Assert.False(f.InHardirq);
        Assert.False(f.PendingInside);
    }

    [Fact]
    public void ModTimer_WithPastExpiry_FiresPromptly()
    {
        using var m = NewMachine();
        var fired = false;
        m.Run(() =>
        {
            m.Msleep(20);
            var t = new TimerList(_ => fired = true);
            m.ModTimer(t, m.Jiffies - 2);
            SleepUntil(m, () => fired);
        });
        Assert.True(fired);
    }

    [Fact]
    public void DelTimer_PreventsFiringAndReportsWhetherPending()
    {
        using var m = NewMachine();
        var fired = false;
        m.Run(() =>
        {
            var t = new TimerList(_ => fired = true);
            Assert.False(m.DelTimer(t));
            m.ModTimer(t, m.Jiffies + 5);
            m.Msleep(4);
            Assert.True(m.DelTimer(t));
            Assert.False(t.IsPending);
            Assert.False(m.DelTimer(t));
            m.Msleep(60);
        });
        Assert.False(fired);
    }

    [Fact]
    public void ModTimer_ReArmingLater_FiresOnceAtTheNewTime()
    {
        using var m = NewMachine();
        var firings = new ConcurrentQueue<ulong>();
        ulong start = 0;
        m.Run(() =>
        {
            var t = new TimerList(_ => firings.Enqueue(m.Jiffies));
            start = m.Jiffies;
            Assert.False(m.ModTimer(t, start + 5));
            Assert.True(m.ModTimer(t, start + 20));
            Assert.Equal(start + 20, t.Expires);
            m.Msleep(200);
        });
        var at = Assert.Single(firings);
        Assert.True(at >= start + 20, $"fired at {at}, start {start}");
    }

    [Fact]
    public void ModTimer_ReArmingEarlier_FiresOnceAtTheNewTime()
    {
        using var m = NewMachine();
        var firings = new ConcurrentQueue<ulong>();
        ulong start = 0;
        m.Run(() =>
        {
            var t = new TimerList(_ => firings.Enqueue(m.Jiffies));
            start = m.Jiffies;
            m.ModTimer(t, start + 100);
            Assert.True(m.ModTimer(t, start + 3));
            m.Msleep(600);
        });
        var at = Assert.Single(firings);
        Assert.InRange(at, start + 3, start + 99);
    }

    [Fact]
    public void ModTimer_FromItsOwnCallback_MakesAPeriodicTimer()
    {
        using var m = NewMachine();
        var firings = new ConcurrentQueue<ulong>();
        m.Run(() =>
        {
            var t = new TimerList(self =>
            {
                firings.Enqueue(m.Jiffies);
                if (firings.Count < 5)
                {
                    m.ModTimer(self, m.Jiffies + 4);
                }
            });
            m.ModTimer(t, m.Jiffies + 4);
            SleepUntil(m, () => firings.Count == 5);
            m.Msleep(40);
        });
        var list = firings.ToList();
        Assert.Equal(5, list.Count);
        for (var i = 1; i < list.Count; i++)
        {
            Assert.True(list[i] >= list[i - 1] + 4, string.Join(",", list));
        }
    }

    [Fact]
    public void DelTimerSync_WaitsForARunningCallbackOnAnotherCpu()
    {
        using var m = NewMachine();
        var started = false;
        var finished = false;
        var finishedWhenDelReturned = false;
        var runs = 0;
        m.Run(() =>
        {
            var t = new TimerList(_ =>
            {
                Interlocked.Increment(ref runs);
                Volatile.Write(ref started, true);
                for (var i = 0; i < 300; i++)
                {
                    Context.Point();
                }

                Volatile.Write(ref finished, true);
            });
            m.AddTimerOn(t, m.Jiffies + 2, 1);
            while (!Volatile.Read(ref started))
            {
                Context.Point();
            }

            Assert.False(Volatile.Read(ref finished));
            Assert.False(m.DelTimerSync(t));
            finishedWhenDelReturned = Volatile.Read(ref finished);
        });
        Assert.True(finishedWhenDelReturned);
        Assert.Equal(1, runs);
    }

    [Fact]
    public void DelTimerSync_OnPendingTimer_CancelsIt()
    {
        using var m = NewMachine();
        var fired = false;
        m.Run(() =>
        {
            var t = new TimerList(_ => fired = true);
            m.AddTimerOn(t, m.Jiffies + 10, 3);
            Assert.True(m.DelTimerSync(t));
            Assert.False(t.IsPending);
            m.Msleep(80);
        });
        Assert.False(fired);
    }

    [Fact]
    public void AddTimerOn_RunsOnTheChosenCpu()
    {
        using var m = NewMachine();
        var ranOn = new int[4];
        var softirq = new bool[4];
        m.Run(() =>
        {
            var timers = Enumerable.Range(0, 4).Select(cpu => new TimerList(t =>
            {
                ranOn[cpu] = Current.Cpu.Id;
                softirq[cpu] = Context.InServingSoftirq;
            })).ToArray();
            for (var cpu = 0; cpu < 4; cpu++)
            {
                m.AddTimerOn(timers[cpu], m.Jiffies + 3 + (ulong)cpu, cpu);
                Assert.Equal(cpu, timers[cpu].Cpu);
            }

            SleepUntil(m, () => timers.All(t => !t.IsPending));
            m.Msleep(4);
        });
        Assert.Equal([0, 1, 2, 3], ranOn);
        Assert.All(softirq, Assert.True);
    }

    [Fact]
    public void ModTimer_AfterAddTimerOn_StaysOnThePinnedCpu()
    {
        using var m = NewMachine();
        var ranOn = -1;
        m.Run(() =>
        {
            var t = new TimerList(_ => ranOn = Current.Cpu.Id);
            m.AddTimerOn(t, m.Jiffies + 50, 2);
            m.ModTimer(t, m.Jiffies + 2);
            Assert.Equal(2, t.Cpu);
            SleepUntil(m, () => ranOn >= 0);
        });
        Assert.Equal(2, ranOn);
    }

    [Fact]
    public void ManyTimers_FireInExpiryOrder()
    {
        using var m = NewMachine();
        var order = new ConcurrentQueue<int>();
        m.Run(() =>
        {
            var timers = Enumerable.Range(0, 10).Select(i => new TimerList(_ => order.Enqueue(i))).ToArray();
            var now = m.Jiffies;

            // Armed in reverse, with distinct expiries, all on this CPU.
            for (var i = 9; i >= 0; i--)
            {
                m.ModTimer(timers[i], now + 2 + ((ulong)i * 2));
            }

            SleepUntil(m, () => order.Count == 10);
        });
        Assert.Equal(Enumerable.Range(0, 10), order);
    }

    /// <summary>Smoke runs on both engines; real threads run in the serial collection.</summary>
    [Collection("RealEngine")]
    public class OnBothEngines
    {
        [Theory]
        [InlineData(EngineKind.Deterministic)]
        [InlineData(EngineKind.Real)]
        public void Timer_FiresOnceInSoftirq_AndDeletedOneNever(EngineKind engine)
        {
            using var m = NewMachine(engine: engine);
            var firings = 0;
            var inSoftirq = false;
            var deletedFired = false;
            ulong expires = 0;
            ulong firedAt = 0;
            m.Run(() =>
            {
                var t = new TimerList(_ =>
                {
                    firedAt = m.Jiffies;
                    inSoftirq = Context.InServingSoftirq;
                    Interlocked.Increment(ref firings);
                });
                var deleted = new TimerList(_ => deletedFired = true);
                expires = m.Jiffies + 3;
                m.ModTimer(t, expires);
                // Far enough out that a stalled host thread cannot let it fire before the delete.
                m.ModTimer(deleted, m.Jiffies + 500);
                Assert.True(m.DelTimerSync(deleted));
                SleepUntil(m, () => Volatile.Read(ref firings) > 0);
                m.Msleep(30);
            });
            Assert.Equal(1, firings);
            Assert.True(inSoftirq);
            Assert.True(firedAt >= expires);
            Assert.False(deletedFired);
        }
    }
}
