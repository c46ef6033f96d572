using System.Collections.Concurrent;
using System.Threading;
using Writeback.Kernel;

namespace Writeback.Tests.Kernel;

/// <summary>Delayed work: the timer that queues it, mod_delayed_work, cancel and flush.</summary>
public class DelayedWorkTests
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

    [Theory]
    [InlineData(1UL, 1UL)]
    [InlineData(5UL, 2UL)]
    [InlineData(25UL, 3UL)]
    public void QueueDelayedWorkOn_RunsAfterAtLeastTheDelay_OnThatCpu_InTaskContext(ulong delay, ulong seed)
    {
        using var m = NewMachine(seed: seed);
        ulong queuedAt = 0;
        ulong ranAt = 0;
        var ranOn = -1;
        var inTask = false;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("dwork_wq", WqFlags.None);
            var dw = new DelayedWork(_ =>
            {
                ranAt = m.Jiffies;
                ranOn = Current.Cpu.Id;
                inTask = Context.InTask && !Context.InAtomic;
            });
            queuedAt = m.Jiffies;
            Assert.True(wq.QueueDelayedWorkOn(2, dw, delay));
            SleepUntil(m, () => dw.Executions == 1);
            Assert.Equal(1, wq.Executed);
        });
        Assert.True(ranAt >= queuedAt + delay, $"ran at jiffy {ranAt}, queued at {queuedAt} with delay {delay}");
        Assert.Equal(2, ranOn);
        Assert.True(inTask);
    }

    [Fact]
    public void QueueDelayedWork_RunsOnTheQueueingCpu()
    {
        using var m = NewMachine();
        var ranOn = new int[4];
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("dwork_local_wq", WqFlags.None);
            var tasks = Enumerable.Range(0, 4).Select(cpu => m.Spawn($"q{cpu}", () =>
            {
                var dw = new DelayedWork(_ => ranOn[cpu] = Current.Cpu.Id);
                Assert.True(wq.QueueDelayedWork(dw, 3));
                SleepUntil(m, () => dw.Executions == 1);
            }, cpu)).ToArray();
            foreach (var t in tasks)
            {
                t.WaitForExit();
            }
        });
        Assert.Equal([0, 1, 2, 3], ranOn);
    }

    [Fact]
    public void QueueDelayedWork_OnUnboundWorkqueue_RunsInUnboundKworker()
    {
        using var m = NewMachine();
        string? comm = null;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("dwork_unbound_wq", WqFlags.Unbound);
            var dw = new DelayedWork(_ => comm = Current.Task.Comm);
            Assert.True(wq.QueueDelayedWork(dw, 2));
            SleepUntil(m, () => dw.Executions == 1);
        });
        Assert.StartsWith("kworker/u", comm, StringComparison.Ordinal);
    }

    [Fact]
    public void ZeroDelay_QueuesAtOnceWithoutArmingTheTimer()
    {
        using var m = NewMachine();
        ulong queuedAt = 0;
        ulong ranAt = ulong.MaxValue;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("dwork_zero_wq", WqFlags.None);
            var dw = new DelayedWork(_ => ranAt = m.Jiffies);
            var flags = Context.LocalIrqSave();
            queuedAt = m.Jiffies;
            Assert.True(wq.QueueDelayedWorkOn(0, dw, 0));
            Assert.True(dw.IsPending);
            Assert.False(dw.Timer.IsPending);
            Assert.Equal(1, wq.Queued);
            Context.LocalIrqRestore(flags);
            wq.Flush();
            Assert.Equal(1, dw.Executions);
        });
        Assert.True(ranAt <= queuedAt + 1, $"ran at jiffy {ranAt}, queued at {queuedAt}");
    }

    [Fact]
    public void IsPending_TrueWhileTimerArmed_AndSecondQueueingFails()
    {
        using var m = NewMachine();
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("dwork_pending_wq", WqFlags.None);
            var dw = new DelayedWork(_ => { });
            Assert.False(dw.IsPending);
            Assert.True(wq.QueueDelayedWorkOn(1, dw, 10));
            Assert.True(dw.IsPending);
            Assert.True(dw.IsBusy);
            Assert.True(dw.Timer.IsPending);
            Assert.Equal(0, wq.Queued);
            Assert.False(wq.QueueDelayedWorkOn(1, dw, 1));
            Assert.False(wq.QueueWork(dw));
            m.Msleep(4);
            Assert.True(dw.IsPending);
            SleepUntil(m, () => dw.Executions == 1);
            Assert.False(dw.IsPending);
            Assert.False(dw.Timer.IsPending);
            Assert.Equal(1, wq.Queued);
        });
    }

    [Fact]
    public void ModDelayedWorkOn_ExtendsTheDelay()
    {
        using var m = NewMachine();
        ulong start = 0;
        ulong ranAt = 0;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("dwork_extend_wq", WqFlags.None);
            var dw = new DelayedWork(_ => ranAt = m.Jiffies);
            start = m.Jiffies;
            Assert.True(wq.QueueDelayedWorkOn(1, dw, 5));
            Assert.True(wq.ModDelayedWorkOn(1, dw, 40));
            Assert.True(dw.IsPending);
            SleepUntil(m, () => dw.Executions >= 1);
            m.Msleep(20);
            Assert.Equal(1, dw.Executions);
        });
        Assert.True(ranAt >= start + 40, $"ran at jiffy {ranAt}, start {start}");
    }

    [Fact]
    public void ModDelayedWorkOn_ShortensTheDelay()
    {
        using var m = NewMachine();
        ulong start = 0;
        ulong ranAt = 0;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("dwork_shorten_wq", WqFlags.None);
            var dw = new DelayedWork(_ => ranAt = m.Jiffies);
            start = m.Jiffies;
            Assert.True(wq.QueueDelayedWorkOn(1, dw, 500));
            Assert.True(wq.ModDelayedWorkOn(1, dw, 3));
            SleepUntil(m, () => dw.Executions >= 1);

            // The first arming must not fire as well.
            m.Msleep(2100);
            Assert.Equal(1, dw.Executions);
            Assert.Equal(1, wq.Queued);
        });
        Assert.InRange(ranAt, start + 3, start + 499);
    }

    [Fact]
    public void ModDelayedWorkOn_IdleItem_QueuesItAndReturnsFalse()
    {
        using var m = NewMachine();
        ulong start = 0;
        ulong ranAt = 0;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("dwork_mod_idle_wq", WqFlags.None);
            var dw = new DelayedWork(_ => ranAt = m.Jiffies);
            start = m.Jiffies;
            Assert.False(wq.ModDelayedWorkOn(3, dw, 4));
            Assert.True(dw.IsPending);
            SleepUntil(m, () => dw.Executions == 1);
        });
        Assert.True(ranAt >= start + 4);
    }

    [Fact]
    public void ModDelayedWorkOn_ZeroDelay_RunsPendingItemNow()
    {
        using var m = NewMachine();
        ulong start = 0;
        ulong ranAt = 0;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("dwork_mod_zero_wq", WqFlags.None);
            var dw = new DelayedWork(_ => ranAt = m.Jiffies);
            start = m.Jiffies;
            Assert.True(wq.QueueDelayedWorkOn(2, dw, 1000));
            Assert.True(wq.ModDelayedWorkOn(2, dw, 0));
            Assert.False(dw.Timer.IsPending);
            wq.Flush();
            Assert.Equal(1, dw.Executions);
        });
        Assert.True(ranAt < start + 1000);
    }

    [Fact]
    public void CancelSync_BeforeExpiry_PreventsRunAndReturnsTrue()
    {
        using var m = NewMachine();
        var ran = false;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("dwork_cancel_wq", WqFlags.None);
            var dw = new DelayedWork(_ => ran = true);
            Assert.True(wq.QueueDelayedWorkOn(1, dw, 10));
            m.Msleep(8);
            Assert.True(dw.CancelSync());
            Assert.False(dw.IsPending);
            Assert.False(dw.Timer.IsPending);
            m.Msleep(100);
            Assert.Equal(0, dw.Executions);
            Assert.Equal(0, wq.Queued);
            Assert.False(dw.CancelSync());

            // Cancelled delayed work can be queued again.
            Assert.True(wq.QueueDelayedWorkOn(1, dw, 1));
            SleepUntil(m, () => dw.Executions == 1);
        });
        Assert.True(ran);
    }

    [Fact]
    public void CancelSync_OfRunningDelayedWork_WaitsForIt()
    {
        using var m = NewMachine();
        var started = false;
        var finished = false;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("dwork_cancel_running_wq", WqFlags.None);
            var dw = new DelayedWork(_ =>
            {
                Volatile.Write(ref started, true);
                m.Msleep(10);
                Volatile.Write(ref finished, true);
            });
            Assert.True(wq.QueueDelayedWorkOn(1, dw, 2));
            SleepUntil(m, () => Volatile.Read(ref started));
            Assert.False(dw.CancelSync());
            Assert.True(Volatile.Read(ref finished));
        });
    }

    [Fact]
    public void Flush_RunsArmedDelayedWorkImmediately()
    {
        using var m = NewMachine();
        ulong start = 0;
        ulong ranAt = 0;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("dwork_flush_wq", WqFlags.None);
            var dw = new DelayedWork(_ => ranAt = m.Jiffies);
            start = m.Jiffies;
            Assert.True(wq.QueueDelayedWorkOn(3, dw, 1000));

            // flush_delayed_work() queues the item now and waits for it; the return value is racy
            // as in the kernel (CPU 3 may finish the item before the flush looks), so only the
            // effect is checked.
            dw.Flush();
            Assert.Equal(1, dw.Executions);
            Assert.False(dw.IsPending);
            Assert.False(dw.Timer.IsPending);

            // The timer is gone: nothing runs a second time when the old expiry passes.
            m.Msleep(4100);
            Assert.Equal(1, dw.Executions);
            Assert.False(dw.Flush());
        });
        Assert.True(ranAt < start + 10, $"ran at jiffy {ranAt}, start {start}");
    }

    [Fact]
    public void DisabledDelayedWork_CannotBeQueued()
    {
        using var m = NewMachine();
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("dwork_disable_wq", WqFlags.None);
            var dw = new DelayedWork(_ => { });
            Assert.True(wq.QueueDelayedWorkOn(1, dw, 50));
            Assert.True(dw.DisableSync());
            Assert.False(dw.Timer.IsPending);
            Assert.False(wq.QueueDelayedWorkOn(1, dw, 1));
            Assert.False(wq.ModDelayedWorkOn(1, dw, 1));
            m.Msleep(250);
            Assert.Equal(0, dw.Executions);
            Assert.True(dw.Enable());
            Assert.True(wq.QueueDelayedWorkOn(1, dw, 1));
            SleepUntil(m, () => dw.Executions == 1);
        });
    }

    [Fact]
    public void RequeueFromInside_GivesPeriodicWorkSpacedByTheDelay()
    {
        using var m = NewMachine();
        var times = new ConcurrentQueue<ulong>();
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("dwork_periodic_wq", WqFlags.None);
            DelayedWork? dw = null;
            dw = new DelayedWork(_ =>
            {
                times.Enqueue(m.Jiffies);
                if (times.Count < 5)
                {
                    Assert.True(wq.QueueDelayedWorkOn(2, dw!, 3));
                }
            });
            Assert.True(wq.QueueDelayedWorkOn(2, dw, 3));
            SleepUntil(m, () => dw.Executions == 5 && !dw.IsBusy);
        });
        var list = times.ToList();
        Assert.Equal(5, list.Count);
        for (var i = 1; i < list.Count; i++)
        {
            Assert.True(list[i] >= list[i - 1] + 3, $"runs at {string.Join(",", list)}");
        }
    }

    /// <summary>Smoke runs on both engines; real threads run in the serial collection.</summary>
    [Collection("RealEngine")]
    public class OnBothEngines
    {
        [Theory]
        [InlineData(EngineKind.Deterministic)]
        [InlineData(EngineKind.Real)]
        public void DelayedWork_RunsOnceAfterDelay_AndCancelledOneNever(EngineKind engine)
        {
            using var m = NewMachine(engine: engine);
            ulong start = 0;
            ulong ranAt = 0;
            var cancelledRan = false;
            m.Run(() =>
            {
                var wq = m.AllocWorkqueue("dwork_smoke_wq", WqFlags.None);
                var dw = new DelayedWork(_ => ranAt = m.Jiffies);
                var victim = new DelayedWork(_ => cancelledRan = true);
                start = m.Jiffies;
                Assert.True(wq.QueueDelayedWorkOn(1, dw, 3));
                Assert.True(wq.QueueDelayedWorkOn(1, victim, 500));
                Assert.True(victim.CancelSync());
                SleepUntil(m, () => dw.Executions == 1);
            });
            Assert.True(ranAt >= start + 3);
            Assert.False(cancelledRan);
        }
    }
}
