using System.Collections.Concurrent;
using System.Threading;
using Writeback.Kernel;

namespace Writeback.Tests.Kernel;

/// <summary>Workqueues: queueing, non-reentrancy, bound and unbound pools, flush, cancel,
/// disable/enable, freezing, max_active and concurrency management.</summary>
public class WorkqueueTests
{
    private static Machine NewMachine(int cpus = 4, ulong seed = 1, EngineKind engine = EngineKind.Deterministic) =>
        Machine.Create(new MachineOptions { Engine = engine, Cpus = cpus, Seed = seed, Lockdep = LockdepMode.Fail });

    /// <summary>Tracks how many instances of something run at once.</summary>
    private sealed class ConcurrencyMeter
    {
        private int _inside;
        private int _max;

        public int Max => Volatile.Read(ref _max);

        public void Enter()
        {
            var n = Interlocked.Increment(ref _inside);
            int seen;
            while (n > (seen = Volatile.Read(ref _max)) && Interlocked.CompareExchange(ref _max, n, seen) != seen)
            {
            }
        }

        public void Exit() => Interlocked.Decrement(ref _inside);
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void QueueWork_RunsEveryItemExactlyOnceInTaskContext(ulong seed)
    {
        using var m = NewMachine(seed: seed);
        const int PerCpu = 16;
        var runs = new int[4 * PerCpu];
        var notInTask = 0;
        var notKworker = 0;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("test_wq", WqFlags.None);
            var producers = Enumerable.Range(0, 4).Select(cpu => m.Spawn($"producer{cpu}", () =>
            {
                for (var i = 0; i < PerCpu; i++)
                {
                    var id = (cpu * PerCpu) + i;
                    Assert.True(wq.QueueWork(new WorkStruct(_ =>
                    {
                        Interlocked.Increment(ref runs[id]);
                        if (!Context.InTask || Context.InAtomic)
                        {
                            Interlocked.Increment(ref notInTask);
                        }

                        if (!Current.Task.Comm.StartsWith("kworker/", StringComparison.Ordinal))
                        {
                            Interlocked.Increment(ref notKworker);
                        }

                        Context.Point();
                    })));
                    Context.Point();
                }
            }, cpu)).ToArray();
            foreach (var p in producers)
            {
                p.WaitForExit();
            }

            wq.Flush();
            Assert.Equal(4 * PerCpu, wq.Queued);
            Assert.Equal(4 * PerCpu, wq.Executed);
        });
        Assert.All(runs, r => Assert.Equal(1, r));
        Assert.Equal(0, notInTask);
        Assert.Equal(0, notKworker);
        Assert.Empty(m.Reports);
    }

    [Fact]
    public void QueueWork_WhilePending_ReturnsFalseAndRunsOnce()
    {
        using var m = NewMachine();
        var runs = 0;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("pending_wq", WqFlags.None);
            var w = new WorkStruct(_ => Interlocked.Increment(ref runs));

            // With interrupts off the init task cannot be preempted, so CPU 0's worker cannot take
            // the item between the two queueings.
            var flags = Context.LocalIrqSave();
            Assert.True(wq.QueueWork(w));
            Assert.True(w.IsPending);
            Assert.False(wq.QueueWork(w));
            Assert.False(wq.QueueWorkOn(1, w));
            Context.LocalIrqRestore(flags);

            w.Flush();
            Assert.False(w.IsPending);
            Assert.False(w.IsBusy);
            Assert.Equal(1, w.Executions);
            Assert.Equal(1, wq.Queued);
            Assert.Equal(1, wq.Executed);
        });
        Assert.Equal(1, runs);
    }

    [Fact]
    public void RequeueFromInsideItem_RunsAgainOncePerQueueing()
    {
        using var m = NewMachine();
        var meter = new ConcurrencyMeter();
        var runs = 0;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("requeue_nosleep_wq", WqFlags.None);
            var w = new WorkStruct(self =>
            {
                meter.Enter();
                if (Interlocked.Increment(ref runs) < 5)
                {
                    // PENDING was cleared before the function started: the re-queue succeeds, and
                    // a second queueing while it is pending again does not.
                    Assert.True(wq.QueueWork(self));
                    Assert.False(wq.QueueWork(self));
                }

                Context.Point();
                meter.Exit();
            });
            Assert.True(wq.QueueWorkOn(1, w));
            while (Volatile.Read(ref runs) < 5 || w.IsBusy)
            {
                m.Msleep(1);
            }

            Assert.Equal(5, w.Executions);
            Assert.Equal(5, wq.Queued);
        });
        Assert.Equal(5, runs);
        Assert.Equal(1, meter.Max);
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(7UL)]
    public void RequeueFromInsideItem_RunsAgainButNeverConcurrentlyWithItself(ulong seed)
    {
        using var m = NewMachine(seed: seed);
        var meter = new ConcurrencyMeter();
        var runs = 0;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("requeue_wq", WqFlags.None);
            var w = new WorkStruct(self =>
            {
                meter.Enter();
                var n = Interlocked.Increment(ref runs);
                if (n < 5)
                {
                    // PENDING was cleared before the function started: the re-queue succeeds.
                    Assert.True(wq.QueueWork(self));
                }

                // Sleeping lets the pool wake another worker, which must not take this item.
                m.Msleep(1);
                meter.Exit();
            });
            Assert.True(wq.QueueWorkOn(1, w));
            while (Volatile.Read(ref runs) < 5 || w.IsBusy)
            {
                m.Msleep(1);
            }
        });
        Assert.Equal(5, runs);
        Assert.Equal(1, meter.Max);
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(7UL)]
    public void RequeueOnOtherCpuWhileRunning_RunsAgainButNeverConcurrentlyWithItself(ulong seed)
    {
        using var m = NewMachine(seed: seed);
        var meter = new ConcurrencyMeter();
        var runs = 0;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("requeue_cpu_wq", WqFlags.None);
            var w = new WorkStruct(self =>
            {
                meter.Enter();
                var n = Interlocked.Increment(ref runs);
                if (n < 6)
                {
                    // Ask for a different CPU each time: the item is still running here, so the
                    // queueing must go behind the running instance.
                    Assert.True(wq.QueueWorkOn(n % 4, self));
                }

                m.Msleep(1);
                meter.Exit();
            });
            Assert.True(wq.QueueWorkOn(0, w));
            while (Volatile.Read(ref runs) < 6 || w.IsBusy)
            {
                m.Msleep(1);
            }
        });
        Assert.Equal(6, runs);
        Assert.Equal(1, meter.Max);
    }

    [Fact]
    public void RequeueFromOtherTaskWhileRunning_NeverRunsConcurrentlyWithItself()
    {
        using var m = NewMachine();
        var meter = new ConcurrencyMeter();
        var runs = 0;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("requeue_ext_wq", WqFlags.None);
            var w = new WorkStruct(_ =>
            {
                meter.Enter();
                Interlocked.Increment(ref runs);
                m.Msleep(3);
                meter.Exit();
            });
            var queuers = Enumerable.Range(0, 4).Select(cpu => m.Spawn($"queuer{cpu}", () =>
            {
                for (var i = 0; i < 10; i++)
                {
                    wq.QueueWork(w);
                    m.Msleep(1);
                }
            }, cpu)).ToArray();
            foreach (var q in queuers)
            {
                q.WaitForExit();
            }

            w.Flush();
        });
        Assert.InRange(runs, 2, 40);
        Assert.Equal(1, meter.Max);
    }

    [Fact]
    public void QueueWorkOn_BoundWorkqueue_RunsOnRequestedCpuInItsKworker()
    {
        using var m = NewMachine();
        var ranOn = new int[4];
        var comms = new string[4];
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("bound_wq", WqFlags.PerCpu);
            var works = Enumerable.Range(0, 4).Select(cpu => new WorkStruct(_ =>
            {
                ranOn[cpu] = Current.Cpu.Id;
                comms[cpu] = Current.Task.Comm;
            })).ToArray();
            for (var cpu = 3; cpu >= 0; cpu--)
            {
                Assert.True(wq.QueueWorkOn(cpu, works[cpu]));
            }

            wq.Flush();
        });
        for (var cpu = 0; cpu < 4; cpu++)
        {
            Assert.Equal(cpu, ranOn[cpu]);
            Assert.StartsWith($"kworker/{cpu}:", comms[cpu], StringComparison.Ordinal);
        }
    }

    [Fact]
    public void QueueWork_BoundWorkqueue_RunsOnQueueingCpu()
    {
        using var m = NewMachine();
        var ranOn = new int[4];
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("local_wq", WqFlags.None);
            var tasks = Enumerable.Range(0, 4).Select(cpu => m.Spawn($"q{cpu}", () =>
            {
                var w = new WorkStruct(_ => ranOn[cpu] = Current.Cpu.Id);
                Assert.True(wq.QueueWork(w));
                w.Flush();
            }, cpu)).ToArray();
            foreach (var t in tasks)
            {
                t.WaitForExit();
            }
        });
        Assert.Equal([0, 1, 2, 3], ranOn);
    }

    [Fact]
    public void QueueWork_UnboundWorkqueue_RunsInUnboundKworkerOnSomeOnlineCpu()
    {
        using var m = NewMachine();
        var cpus = new ConcurrentBag<int>();
        var comms = new ConcurrentBag<string>();
        var bound = new ConcurrentBag<int?>();
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("unbound_wq", WqFlags.Unbound);
            for (var i = 0; i < 12; i++)
            {
                Assert.True(wq.QueueWork(new WorkStruct(_ =>
                {
                    cpus.Add(Current.Cpu.Id);
                    comms.Add(Current.Task.Comm);
                    bound.Add(Current.Task.BoundCpu);
                    Assert.True(Context.InTask);
                    m.Msleep(1);
                })));
            }

            wq.Flush();
        });
        Assert.Equal(12, cpus.Count);
        Assert.All(cpus, c => Assert.InRange(c, 0, 3));
        Assert.All(comms, c => Assert.StartsWith("kworker/u", c, StringComparison.Ordinal));
        Assert.All(bound, b => Assert.Null(b));
    }

    [Fact]
    public void SystemWorkqueues_AreBoundAndUnbound()
    {
        using var m = NewMachine();
        string? boundComm = null;
        string? unboundComm = null;
        m.Run(() =>
        {
            var a = new WorkStruct(_ => boundComm = Current.Task.Comm);
            var b = new WorkStruct(_ => unboundComm = Current.Task.Comm);
            Assert.True(a.Schedule());
            Assert.True(m.SystemUnboundWq.QueueWork(b));
            a.Flush();
            b.Flush();
            Assert.Equal("events", m.SystemWq.Name);
            Assert.Equal("events_unbound", m.SystemUnboundWq.Name);
        });
        Assert.StartsWith("kworker/0:", boundComm, StringComparison.Ordinal);
        Assert.StartsWith("kworker/u", unboundComm, StringComparison.Ordinal);
        Assert.Contains(m.Workqueues, w => w.Name == "events");
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(5UL)]
    public void FlushWorkqueue_WaitsForEverythingQueuedBeforeIt(ulong seed)
    {
        using var m = NewMachine(seed: seed);
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("flush_wq", WqFlags.None);
            var works = Enumerable.Range(0, 20).Select(i => new WorkStruct(_ => m.Msleep(i % 5))).ToArray();
            for (var i = 0; i < works.Length; i++)
            {
                Assert.True(wq.QueueWorkOn(i % 4, works[i]));
            }

            wq.Flush();
            Assert.All(works, w => Assert.Equal(1, w.Executions));
            Assert.All(works, w => Assert.False(w.IsBusy));
            Assert.Equal(20, wq.Executed);
        });
    }

    [Fact]
    public void FlushWorkqueue_DoesNotWaitForItemsQueuedAfterIt()
    {
        using var m = NewMachine();
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("flush_later_wq", WqFlags.None);
            var gate = new Completion();
            var first = new WorkStruct(_ => m.Msleep(2));
            var late = new WorkStruct(_ => gate.WaitForCompletion());
            Assert.True(wq.QueueWorkOn(1, first));
            var flusher = m.Spawn("flusher", wq.Flush, 2);

            // Queued after the flush began: it blocks until the gate opens, yet the flush returns.
            m.Msleep(1);
            Assert.True(wq.QueueWorkOn(3, late));
            flusher.WaitForExit();
            Assert.Equal(1, first.Executions);
            Assert.True(late.IsBusy);
            gate.Complete();
            wq.Flush();
            Assert.Equal(1, late.Executions);
        });
    }

    [Fact]
    public void FlushWork_WaitsForThatItem_AndReturnsFalseWhenIdle()
    {
        using var m = NewMachine();
        var finished = false;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("flush_work_wq", WqFlags.None);
            var w = new WorkStruct(_ =>
            {
                m.Msleep(5);
                Volatile.Write(ref finished, true);
            });
            Assert.False(w.Flush());
            Assert.True(wq.QueueWorkOn(2, w));
            Assert.True(w.Flush());
            Assert.True(Volatile.Read(ref finished));
            Assert.False(w.IsBusy);
            Assert.False(w.Flush());
        });
        Assert.True(finished);
    }

    [Fact]
    public void FlushWork_WaitsForLatestQueueingAtCallTime_ThenForTheRequeue()
    {
        using var m = NewMachine();
        var runs = 0;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("flush_requeue_wq", WqFlags.None);
            var w = new WorkStruct(self =>
            {
                if (Interlocked.Increment(ref runs) == 1)
                {
                    m.Msleep(2);
                    wq.QueueWork(self);
                }
            });
            Assert.True(wq.QueueWorkOn(1, w));
            while (Volatile.Read(ref runs) == 0)
            {
                Context.Point();
            }

            // The first flush waits for the instance running now (it is asleep inside), which
            // re-queues itself before it returns; the second waits for that re-queued instance,
            // unless CPU 1 has already run it (then it returns false, as flush_work() of an idle
            // item does).
            Assert.True(w.Flush());
            Assert.True(Volatile.Read(ref runs) >= 1);
            w.Flush();
            Assert.Equal(2, Volatile.Read(ref runs));
            Assert.False(w.IsBusy);
            Assert.Equal(2, w.Executions);
        });
    }

    [Fact]
    public void CancelWorkSync_OnPendingItem_PreventsRunAndReturnsTrue()
    {
        using var m = NewMachine();
        var ran = false;
        m.Run(() =>
        {
            // max_active 1: the victim waits behind a blocker on the same pool.
            var wq = m.AllocWorkqueue("cancel_wq", WqFlags.None, 1);
            var gate = new Completion();
            var blocker = new WorkStruct(_ => gate.WaitForCompletion());
            var victim = new WorkStruct(_ => ran = true);
            Assert.True(wq.QueueWorkOn(1, blocker));
            Assert.True(wq.QueueWorkOn(1, victim));
            m.Msleep(2);
            Assert.True(victim.IsPending);
            Assert.True(victim.CancelSync());
            Assert.False(victim.IsPending);
            Assert.False(victim.IsDisabled);
            gate.Complete();
            wq.Flush();
            Assert.False(victim.CancelSync());

            // A cancelled item can be queued again.
            Assert.True(wq.QueueWorkOn(1, victim));
            victim.Flush();
            Assert.Equal(1, victim.Executions);
        });
        Assert.True(ran);
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    public void CancelWorkSync_OfRequeueWaitingBehindItsRunningInstance_CancelsItAndReturnsTrue(ulong seed)
    {
        // The running instance sleeps, so the pool wakes another worker, which finds the re-queued
        // item still running and hands it to the running worker (find_worker_executing_work()). It
        // is still pending: cancel_work_sync() must take it back rather than let it run.
        using var m = NewMachine(seed: seed);
        var runs = 0;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("cancel_handover_wq", WqFlags.None);
            var started = new Completion();
            var w = new WorkStruct(_ =>
            {
                if (Interlocked.Increment(ref runs) == 1)
                {
                    started.Complete();
                    m.Msleep(20);
                }
            });
            Assert.True(wq.QueueWorkOn(1, w));
            started.WaitForCompletion();
            Assert.True(wq.QueueWorkOn(1, w));
            m.Msleep(4);
            Assert.True(w.IsPending);
            Assert.Equal(1, Volatile.Read(ref runs));
            Assert.True(w.CancelSync());
            Assert.False(w.IsBusy);
            Assert.Equal(1, w.Executions);
            m.Msleep(40);
            wq.Flush();
        });
        Assert.Equal(1, runs);
    }

    [Fact]
    public void DisableWorkSync_OfRequeueWaitingBehindItsRunningInstance_KeepsItFromRunning()
    {
        using var m = NewMachine();
        var runs = 0;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("disable_handover_wq", WqFlags.None);
            var started = new Completion();
            var w = new WorkStruct(_ =>
            {
                if (Interlocked.Increment(ref runs) == 1)
                {
                    started.Complete();
                    m.Msleep(20);
                }
            });
            Assert.True(wq.QueueWorkOn(2, w));
            started.WaitForCompletion();
            Assert.True(wq.QueueWorkOn(2, w));
            m.Msleep(4);
            Assert.True(w.DisableSync());
            m.Msleep(40);
            Assert.Equal(1, Volatile.Read(ref runs));
            Assert.True(w.Enable());
        });
        Assert.Equal(1, runs);
    }

    [Fact]
    public void CancelWorkSync_OnRunningItem_WaitsUntilItFinishes()
    {
        using var m = NewMachine();
        var started = false;
        var finished = false;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("cancel_running_wq", WqFlags.None);
            var w = new WorkStruct(_ =>
            {
                Volatile.Write(ref started, true);
                m.Msleep(10);
                Volatile.Write(ref finished, true);
            });
            Assert.True(wq.QueueWorkOn(3, w));
            while (!Volatile.Read(ref started))
            {
                m.Msleep(1);
            }

            Assert.False(Volatile.Read(ref finished));
            Assert.False(w.CancelSync());
            Assert.True(Volatile.Read(ref finished));
            Assert.False(w.IsBusy);
        });
    }

    [Fact]
    public void DisableWorkSync_BlocksQueueingUntilEnabled()
    {
        using var m = NewMachine();
        var runs = 0;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("disable_wq", WqFlags.None);
            var w = new WorkStruct(_ => Interlocked.Increment(ref runs));
            Assert.False(w.DisableSync());
            Assert.True(w.IsDisabled);
            Assert.False(wq.QueueWork(w));
            Assert.False(wq.QueueWorkOn(2, w));
            Assert.False(w.IsPending);
            m.Msleep(2);
            Assert.Equal(0, Volatile.Read(ref runs));

            Assert.True(w.Enable());
            Assert.False(w.IsDisabled);
            Assert.True(wq.QueueWorkOn(2, w));
            w.Flush();
        });
        Assert.Equal(1, runs);
    }

    [Fact]
    public void DisableWorkSync_CancelsPendingAndWaitsForRunning()
    {
        using var m = NewMachine();
        var started = false;
        var finished = false;
        var secondRuns = 0;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("disable_sync_wq", WqFlags.None, 1);
            var running = new WorkStruct(_ =>
            {
                Volatile.Write(ref started, true);
                m.Msleep(5);
                Volatile.Write(ref finished, true);
            });
            var pending = new WorkStruct(_ => Interlocked.Increment(ref secondRuns));
            Assert.True(wq.QueueWorkOn(1, running));
            Assert.True(wq.QueueWorkOn(1, pending));
            while (!Volatile.Read(ref started))
            {
                m.Msleep(1);
            }

            Assert.True(pending.DisableSync());
            Assert.False(running.DisableSync());
            Assert.True(Volatile.Read(ref finished));
            wq.Flush();
            Assert.True(pending.Enable());
            Assert.True(running.Enable());
        });
        Assert.Equal(0, secondRuns);
    }

    [Fact]
    public void Enable_ReturnsTrueOnlyAfterMatchingNumberOfEnables()
    {
        using var m = NewMachine();
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("enable_count_wq", WqFlags.None);
            var w = new WorkStruct(_ => { });
            Assert.False(w.Disable());
            Assert.False(w.DisableSync());
            Assert.False(w.Disable());
            Assert.False(w.Enable());
            Assert.False(wq.QueueWork(w));
            Assert.False(w.Enable());
            Assert.False(wq.QueueWork(w));
            Assert.True(w.Enable());
            Assert.True(wq.QueueWork(w));
            w.Flush();
            Assert.Equal(1, w.Executions);
        });
    }

    [Fact]
    public void Enable_WithoutDisable_IsABug()
    {
        using var m = NewMachine();
        var ex = Assert.Throws<MachineFailedException>(() => m.Run(() => new WorkStruct(_ => { }).Enable()));
        Assert.Contains("enable_work() without disable_work()", ex.Message);
        Assert.Contains("seed 1", ex.Message);
    }

    [Fact]
    public void Disable_OnPendingItem_CancelsItAndReturnsTrue()
    {
        using var m = NewMachine();
        var ran = false;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("disable_pending_wq", WqFlags.None, 1);
            var gate = new Completion();
            Assert.True(wq.QueueWorkOn(1, new WorkStruct(_ => gate.WaitForCompletion())));
            var w = new WorkStruct(_ => ran = true);
            Assert.True(wq.QueueWorkOn(1, w));
            Assert.True(w.Disable());
            Assert.False(w.IsPending);
            gate.Complete();
            wq.Flush();
            Assert.True(w.Enable());
        });
        Assert.False(ran);
    }

    [Fact]
    public void FreezableWorkqueue_HoldsItemsWhileFrozen_AndRunsThemOnThaw()
    {
        using var m = NewMachine();
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("freezable_wq", WqFlags.Freezable);
            var works = Enumerable.Range(0, 6).Select(_ => new WorkStruct(_ => { })).ToArray();
            wq.Freeze();
            Assert.True(wq.IsFrozen);
            for (var i = 0; i < works.Length; i++)
            {
                Assert.True(wq.QueueWorkOn(i % 4, works[i]));
            }

            m.Msleep(50);
            Assert.Equal(6, wq.Queued);
            Assert.Equal(0, wq.Executed);
            Assert.All(works, w => Assert.True(w.IsPending));

            wq.Thaw();
            Assert.False(wq.IsFrozen);
            wq.Flush();
            Assert.Equal(6, wq.Executed);
            Assert.All(works, w => Assert.Equal(1, w.Executions));
        });
    }

    [Fact]
    public void FreezableWorkqueue_CancelWhileFrozen_DropsHeldItem()
    {
        using var m = NewMachine();
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("freezable_cancel_wq", WqFlags.Freezable);
            var w = new WorkStruct(_ => { });
            wq.Freeze();
            Assert.True(wq.QueueWorkOn(2, w));
            Assert.True(w.CancelSync());
            wq.Thaw();
            wq.Flush();
            Assert.Equal(0, w.Executions);
            Assert.Equal(0, wq.Executed);
        });
    }

    [Fact]
    public void Freeze_OnNonFreezableWorkqueue_Throws()
    {
        using var m = NewMachine();
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("plain_wq", WqFlags.None);
            var ex = Assert.Throws<InvalidOperationException>(wq.Freeze);
            Assert.Contains("plain_wq", ex.Message);
            Assert.False(wq.IsFrozen);
        });
    }

    [Theory]
    [InlineData(WqFlags.None)]
    [InlineData(WqFlags.Unbound)]
    public void MaxActiveOne_SerialisesSleepingItemsOnOnePool(WqFlags flags)
    {
        using var m = NewMachine();
        var meter = new ConcurrencyMeter();
        var order = new ConcurrentQueue<int>();
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("ordered_wq", flags, 1);
            Assert.Equal(1, wq.MaxActive);
            for (var i = 0; i < 8; i++)
            {
                var id = i;
                Assert.True(wq.QueueWorkOn(1, new WorkStruct(_ =>
                {
                    meter.Enter();
                    order.Enqueue(id);
                    m.Msleep(2);
                    meter.Exit();
                })));
            }

            wq.Flush();
            Assert.Equal(8, wq.Executed);
        });
        Assert.Equal(1, meter.Max);
        Assert.Equal(Enumerable.Range(0, 8), order);
    }

    [Fact]
    public void MaxActiveTwo_AllowsTwoSleepingItemsAtOnce()
    {
        using var m = NewMachine();
        var meter = new ConcurrencyMeter();
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("two_wq", WqFlags.None, 2);
            for (var i = 0; i < 8; i++)
            {
                Assert.True(wq.QueueWorkOn(2, new WorkStruct(_ =>
                {
                    meter.Enter();
                    m.Msleep(2);
                    meter.Exit();
                })));
            }

            wq.Flush();
        });
        Assert.Equal(2, meter.Max);
    }

    [Fact]
    public void MaxActive_IsPerPoolOnBoundWorkqueue()
    {
        using var m = NewMachine();
        var meter = new ConcurrencyMeter();
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("percpu_one_wq", WqFlags.None, 1);
            for (var i = 0; i < 8; i++)
            {
                Assert.True(wq.QueueWorkOn(i % 4, new WorkStruct(_ =>
                {
                    meter.Enter();
                    m.Msleep(5);
                    meter.Exit();
                })));
            }

            wq.Flush();
        });

        // One per CPU at a time, and the four CPUs overlap.
        Assert.InRange(meter.Max, 2, 4);
    }

    [Fact]
    public void SleepingItem_DoesNotBlockOtherItemsOnSameCpuPool()
    {
        using var m = NewMachine();
        var events = new ConcurrentQueue<string>();
        var workers = new ConcurrentBag<string>();
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("cm_wq", WqFlags.None);
            var sleeper = new WorkStruct(_ =>
            {
                events.Enqueue("sleeper-start");
                workers.Add(Current.Task.Comm);
                m.Msleep(20);
                events.Enqueue("sleeper-end");
            });
            var quick = Enumerable.Range(0, 3).Select(i => new WorkStruct(_ =>
            {
                events.Enqueue($"quick{i}");
                workers.Add(Current.Task.Comm);
                Assert.Equal(1, Current.Cpu.Id);
            })).ToArray();
            Assert.True(wq.QueueWorkOn(1, sleeper));
            foreach (var q in quick)
            {
                Assert.True(wq.QueueWorkOn(1, q));
            }

            wq.Flush();
        });
        var list = events.ToList();
        Assert.Equal("sleeper-start", list[0]);
        Assert.Equal("sleeper-end", list[^1]);
        Assert.Equal(5, list.Count);

        // The quick items ran on another kworker of CPU 1's pool while the sleeper slept.
        Assert.True(workers.Distinct().Count() >= 2);
        Assert.All(workers, w => Assert.StartsWith("kworker/1:", w, StringComparison.Ordinal));
    }

    [Fact]
    public void BusyItemThatDoesNotSleep_HoldsItsPool_OthersWaitBehindIt()
    {
        // Concurrency management is about sleeping: a worker that keeps running keeps the pool's
        // only running slot, so the next item starts after it (on a bound pool).
        using var m = NewMachine();
        var events = new ConcurrentQueue<string>();
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("busy_wq", WqFlags.None);
            var busy = new WorkStruct(_ =>
            {
                events.Enqueue("busy-start");
                for (var i = 0; i < 200; i++)
                {
                    Context.Point();
                }

                events.Enqueue("busy-end");
            });
            var next = new WorkStruct(_ => events.Enqueue("next"));
            var flags = Context.LocalIrqSave();
            Assert.True(wq.QueueWorkOn(1, busy));
            Assert.True(wq.QueueWorkOn(1, next));
            Context.LocalIrqRestore(flags);
            wq.Flush();
        });
        Assert.Equal(["busy-start", "busy-end", "next"], events);
    }

    [Fact]
    public void Counters_CountQueuedExecutedAndWakeups()
    {
        using var m = NewMachine();
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("counters_wq", WqFlags.None);
            var works = Enumerable.Range(0, 10).Select(_ => new WorkStruct(_ => m.Msleep(1))).ToArray();

            // On this CPU with interrupts off, no worker of this pool can take an item yet.
            var flags = Context.LocalIrqSave();
            foreach (var w in works)
            {
                Assert.True(wq.QueueWorkOn(0, w));
            }

            Assert.False(wq.QueueWorkOn(0, works[0]));
            Assert.False(wq.QueueWorkOn(2, works[9]));
            Context.LocalIrqRestore(flags);
            wq.Flush();
            Assert.Equal(10, wq.Queued);
            Assert.Equal(10, wq.Executed);
            var firstWakeups = wq.Wakeups;
            Assert.True(firstWakeups > 0);

            // A second round wakes the now idle workers again.
            m.Msleep(5);
            foreach (var w in works)
            {
                Assert.True(wq.QueueWorkOn(0, w));
            }

            wq.Flush();
            Assert.Equal(20, wq.Queued);
            Assert.Equal(20, wq.Executed);
            Assert.True(wq.Wakeups > firstWakeups);
            Assert.All(works, w => Assert.Equal(2, w.Executions));
        });
    }

    /// <summary>Smoke runs on both engines; real threads run in the serial collection.</summary>
    [Collection("RealEngine")]
    public class OnBothEngines
    {
        [Theory]
        [InlineData(EngineKind.Deterministic)]
        [InlineData(EngineKind.Real)]
        public void QueueWork_AllItemsRunOnceEach(EngineKind engine)
        {
            using var m = NewMachine(engine: engine);
            var runs = new int[32];
            var notInTask = 0;
            m.Run(() =>
            {
                var wq = m.AllocWorkqueue("smoke_wq", WqFlags.None);
                var works = Enumerable.Range(0, 32).Select(i => new WorkStruct(_ =>
                {
                    Interlocked.Increment(ref runs[i]);
                    if (!Context.InTask)
                    {
                        Interlocked.Increment(ref notInTask);
                    }
                })).ToArray();
                for (var i = 0; i < works.Length; i++)
                {
                    Assert.True(wq.QueueWorkOn(i % 4, works[i]));
                }

                wq.Flush();
            });
            Assert.All(runs, r => Assert.Equal(1, r));
            Assert.Equal(0, notInTask);
        }

        [Theory]
        [InlineData(EngineKind.Deterministic)]
        [InlineData(EngineKind.Real)]
        public void CancelSyncAndFlush_WorkOnBothEngines(EngineKind engine)
        {
            using var m = NewMachine(engine: engine);
            var finished = 0;
            m.Run(() =>
            {
                var wq = m.AllocWorkqueue("smoke_cancel_wq", WqFlags.Unbound);
                var w = new WorkStruct(_ =>
                {
                    m.Msleep(2);
                    Interlocked.Increment(ref finished);
                });
                Assert.True(wq.QueueWork(w));
                w.CancelSync();
                Assert.False(w.IsBusy);
                Assert.True(wq.QueueWork(w));
                w.Flush();
                Assert.True(Volatile.Read(ref finished) >= 1);
            });
            Assert.InRange(finished, 1, 2);
        }
    }
}
