using System.Threading;
namespace Writeback.Kernel;

/// <summary>Worker pools and the operations on work items (kernel/workqueue.c).</summary>
public sealed partial class Machine
{
    private readonly List<Workqueue> _workqueues = [];
    private WorkerPool[]? _cpuPools;
    private WorkerPool? _unboundPool;
    private Workqueue? _systemWq;
    private Workqueue? _systemUnboundWq;
    private WaitQueueHead? _workDone;

    /// <summary>system_wq ("events"): bound, max_active 256.</summary>
    public Workqueue SystemWq => _systemWq ??= AllocWorkqueue("events", WqFlags.PerCpu, 256);

    /// <summary>system_unbound_wq ("events_unbound").</summary>
    public Workqueue SystemUnboundWq => _systemUnboundWq ??= AllocWorkqueue("events_unbound", WqFlags.Unbound, 512);

    /// <summary>Every workqueue allocated, for reports.</summary>
    public IReadOnlyList<Workqueue> Workqueues
    {
        get
        {
            _bookkeeping.Lock();
            try
            {
                return [.. _workqueues];
            }
            finally
            {
                _bookkeeping.Unlock();
            }
        }
    }

    /// <summary>Woken whenever a work item finishes or is cancelled (flush waiters sleep here).</summary>
    internal WaitQueueHead WorkDone => _workDone ??= new WaitQueueHead(LockClassKey.ForName("&wq->flush_wait"));

    /// <summary>Allocates a workqueue.</summary>
    /// <remarks>Kernel: alloc_workqueue(); max_active 0 means the default (256). Context: Any context.</remarks>
    public Workqueue AllocWorkqueue(string name, WqFlags flags, int maxActive = 0)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfNegative(maxActive);
        var wq = new Workqueue(this, name, flags, maxActive == 0 ? 256 : maxActive);
        _bookkeeping.Lock();
        _workqueues.Add(wq);
        _bookkeeping.Unlock();
        return wq;
    }

    internal WorkerPool PoolFor(Workqueue wq, int cpu)
    {
        if (wq.IsUnbound)
        {
            return _unboundPool ??= new WorkerPool(this, -1);
        }

        var pools = _cpuPools;
        if (pools is null)
        {
            pools = new WorkerPool[Cpus.Count];
            for (var i = 0; i < pools.Length; i++)
            {
                pools[i] = new WorkerPool(this, i) { Disassociated = !Cpus[i].IsOnline };
            }

            _cpuPools = pools;
        }

        if (cpu < 0)
        {
            cpu = Current.TaskOrNull?.Cpu?.Id ?? 0;
        }

        return pools[cpu];
    }

    /// <summary>Takes the PENDING bit away from a queued item or an armed delayed-work timer; true if it was pending.</summary>
    /// <remarks>Kernel: try_to_grab_pending(), retrying while a queuer is between setting PENDING and inserting.</remarks>
    internal bool TryGrabPending(WorkStruct work)
    {
        while (true)
        {
            if (work is DelayedWork dw && DelTimer(dw.Timer))
            {
                // The timer owned PENDING; it is ours now.
                dw.ClearPending();
                return true;
            }

            if (!work.IsPending)
            {
                return false;
            }

            var pool = work.Pool;
            if (pool is not null)
            {
                var flags = pool.Lock.LockIrqSave();
                if (work.OnList && work.Pool == pool)
                {
                    if (work.ScheduledOn is { } holder)
                    {
                        holder.Scheduled.Remove(work);
                        work.ScheduledOn = null;
                    }
                    else if (work.Inactive)
                    {
                        work.Pwq!.InactiveWorks.Remove(work);
                    }
                    else
                    {
                        pool.Worklist.Remove(work);
                    }

                    work.OnList = false;
                    work.FinishedSeq = work.QueuedSeq;
                    work.Pwq!.Wq.OnCancelledLocked(work);
                    work.ClearPending();
                    pool.Lock.UnlockIrqRestore(flags);
                    WorkDone.WakeUpAll();
                    return true;
                }

                pool.Lock.UnlockIrqRestore(flags);
            }

            // A queuer owns PENDING but has not inserted yet (or a timer is firing): let it finish.
            Context.Point();
        }
    }

    /// <summary>Waits for the latest queueing of <paramref name="work"/> to finish; false if it was idle.</summary>
    internal bool FlushWork(WorkStruct work)
    {
        Context.MightSleep();
        if (work is DelayedWork dw && DelTimer(dw.Timer))
        {
            // flush_delayed_work(): run it now rather than wait for the timer.
            dw.Workqueue!.InsertFromTimer(dw);
        }

        if (!work.IsBusy)
        {
            return false;
        }

        var target = work.QueuedSeq;
        WorkDone.WaitEvent(() => work.FinishedSeq >= target);
        return true;
    }

    internal bool CancelWorkSync(WorkStruct work)
    {
        Context.MightSleep();
        Interlocked.Increment(ref work.DisableCount);
        var was = TryGrabPending(work);
        WaitNotRunning(work);
        Interlocked.Decrement(ref work.DisableCount);
        return was;
    }

    internal bool DisableWorkSync(WorkStruct work)
    {
        Context.MightSleep();
        Interlocked.Increment(ref work.DisableCount);
        var was = TryGrabPending(work);
        WaitNotRunning(work);
        return was;
    }

    internal bool DisableWork(WorkStruct work)
    {
        Interlocked.Increment(ref work.DisableCount);
        return TryGrabPending(work);
    }

    internal static bool EnableWork(WorkStruct work)
    {
        var left = Interlocked.Decrement(ref work.DisableCount);
        Bug.On(left < 0, "enable_work() without disable_work()");
        return left == 0;
    }

    private void WaitNotRunning(WorkStruct work)
    {
        if (work.CurrentWorker is null)
        {
            return;
        }

        Bug.On(work.CurrentWorker?.Task == Current.TaskOrNull, "cancel_work_sync() of a work item from inside itself would deadlock");
        WorkDone.WaitEvent(() => work.CurrentWorker is null);
    }

    // ---------------- hotplug ----------------

    /// <summary>workqueue_offline_cpu(): the CPU's pool loses its binding; its workers may run anywhere.</summary>
    private void WorkqueueOfflineCpu(int cpu)
    {
        var pool = _cpuPools?[cpu];
        if (pool is null)
        {
            return;
        }

        pool.Lock.LockIrq();
        pool.Disassociated = true;
        foreach (var w in pool.Workers)
        {
            w.Task.BoundCpu = null;
        }

        pool.Lock.UnlockIrq();
    }

    /// <summary>workqueue_online_cpu(): the pool is bound again.</summary>
    private void WorkqueueOnlineCpu(int cpu)
    {
        var pool = _cpuPools?[cpu];
        if (pool is null)
        {
            return;
        }

        pool.Lock.LockIrq();
        pool.Disassociated = false;
        foreach (var w in pool.Workers)
        {
            // rebind_workers(): a worker running elsewhere moves at its next preemption point,
            // a sleeping one is woken onto its CPU.
            w.Task.BoundCpu = cpu;
            if (w.Task.Cpu is { } on && on.Id != cpu)
            {
                on.NeedResched = true;
            }
        }

        pool.Lock.UnlockIrq();
    }
}
