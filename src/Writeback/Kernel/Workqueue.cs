using System.Threading;

namespace Writeback.Kernel;

/// <summary>A workqueue: bound (per-CPU) or unbound, with max_active, delayed work, flush,
/// cancel, disable/enable, and freezing.</summary>
/// <remarks>Kernel: struct workqueue_struct, kernel/workqueue.c. Model: one normal-priority pool
/// per CPU and one unbound pool serve every workqueue (high-priority pools are not separate);
/// flushing waits on sequence numbers rather than inserting barrier works, which gives the same
/// guarantee (everything queued before the flush has finished).</remarks>
public sealed class Workqueue
{
    private readonly Dictionary<WorkerPool, PoolWorkqueue> _pwqs = [];
    private readonly SortedSet<long> _inFlight = [];
    private ArchSpinLock _meta;
    private long _nextSeq;
    private long _queued;
    private long _executed;
    private long _wakeups;

    internal Workqueue(Machine machine, string name, WqFlags flags, int maxActive)
    {
        Machine = machine;
        Name = name;
        Flags = flags;
        MaxActive = maxActive;
    }

    /// <summary>Name, as in /sys/bus/workqueue/devices.</summary>
    public string Name { get; }

    /// <summary>Flags.</summary>
    public WqFlags Flags { get; }

    /// <summary>Most items of this workqueue active at once per pool.</summary>
    public int MaxActive { get; }

    /// <summary>True while frozen.</summary>
    public bool IsFrozen { get; private set; }

    /// <summary>Items queued (successful queue_work calls, including delayed work when its timer fires).</summary>
    public long Queued => Interlocked.Read(ref _queued);

    /// <summary>Items run to completion.</summary>
    public long Executed => Interlocked.Read(ref _executed);

    /// <summary>Workers woken (or created) because an item of this queue was queued or activated.</summary>
    public long Wakeups => Interlocked.Read(ref _wakeups);

    internal Machine Machine { get; }

    internal bool IsUnbound => (Flags & WqFlags.Unbound) != 0;

    /// <summary>Queues work on the current CPU's pool (or the unbound pool); false if it was already pending or is disabled.</summary>
    /// <remarks>Kernel: queue_work(). Context: Any context.</remarks>
    public bool QueueWork(WorkStruct work) => QueueWorkOn(-1, work);

    /// <summary>Queues work on <paramref name="cpu"/>'s pool; false if it was already pending or is disabled.</summary>
    /// <remarks>Kernel: queue_work_on(). Context: Any context. Takes and releases the pool lock.</remarks>
    public bool QueueWorkOn(int cpu, WorkStruct work)
    {
        ArgumentNullException.ThrowIfNull(work);
        var flags = Context.LocalIrqSave();
        var queued = false;
        if (!work.IsDisabled && !work.TestAndSetPending())
        {
            Insert(cpu, work);
            queued = true;
        }

        Context.LocalIrqRestore(flags);
        return queued;
    }

    /// <summary>Queues delayed work to run after <paramref name="delayJiffies"/> on <paramref name="cpu"/> (-1: where the timer fires).</summary>
    /// <remarks>Kernel: queue_delayed_work_on(). Context: Any context.</remarks>
    public bool QueueDelayedWorkOn(int cpu, DelayedWork dwork, ulong delayJiffies)
    {
        ArgumentNullException.ThrowIfNull(dwork);
        var flags = Context.LocalIrqSave();
        var queued = false;
        if (!dwork.IsDisabled && !dwork.TestAndSetPending())
        {
            ArmDelayed(cpu, dwork, delayJiffies);
            queued = true;
        }

        Context.LocalIrqRestore(flags);
        return queued;
    }

    /// <summary>Queues delayed work on the current CPU.</summary>
    /// <remarks>Kernel: queue_delayed_work(). Context: Any context.</remarks>
    public bool QueueDelayedWork(DelayedWork dwork, ulong delayJiffies) => QueueDelayedWorkOn(-1, dwork, delayJiffies);

    /// <summary>Queues delayed work, or changes the delay of pending delayed work; returns whether it was pending.</summary>
    /// <remarks>Kernel: mod_delayed_work_on(). Context: Any context.</remarks>
    public bool ModDelayedWorkOn(int cpu, DelayedWork dwork, ulong delayJiffies)
    {
        ArgumentNullException.ThrowIfNull(dwork);

        var was = Machine.TryGrabPending(dwork);

        // As queue_delayed_work_on(), with interrupts off: the pool lock is irq-safe.
        var flags = Context.LocalIrqSave();
        if (!dwork.IsDisabled && !dwork.TestAndSetPending())
        {
            ArmDelayed(cpu, dwork, delayJiffies);
        }

        Context.LocalIrqRestore(flags);
        return was;
    }

    /// <summary>Waits until every item queued before the call has finished.</summary>
    /// <remarks>Kernel: flush_workqueue(). Context: Process context. May sleep.</remarks>
    public void Flush()
    {
        Context.MightSleep();
        var target = Interlocked.Read(ref _nextSeq);
        Machine.WorkDone.WaitEvent(() => OldestInFlight() > target);
    }

    /// <summary>Stops activating new items (items already on a worklist still run).</summary>
    /// <remarks>Kernel: freeze_workqueues_begin() for one WQ_FREEZABLE queue. Context: Process context.</remarks>
    public void Freeze()
    {
        if ((Flags & WqFlags.Freezable) == 0)
        {
            throw new InvalidOperationException($"workqueue {Name} is not freezable");
        }

        IsFrozen = true;
    }

    /// <summary>Resumes activation of held items.</summary>
    /// <remarks>Kernel: thaw_workqueues(). Context: Process context.</remarks>
    public void Thaw()
    {
        IsFrozen = false;
        foreach (var pwq in Snapshot())
        {
            var pool = pwq.Pool;
            pool.Lock.LockIrq();
            ActivateInactiveLocked(pwq);
            pool.Lock.UnlockIrq();
        }
    }

    internal void CountWakeup() => Interlocked.Increment(ref _wakeups);

    internal void Trace(WorkStruct work) => Machine.Trace(Current.Cpu, Current.Task, "work", Name);

    internal void InsertFromTimer(DelayedWork dwork)
    {
        // delayed_work_timer_fn(): the timer is irq-safe, so the pool lock is taken with
        // interrupts off as everywhere else; PENDING is already ours.
        var flags = Context.LocalIrqSave();
        Insert(dwork.TargetCpu, dwork);
        Context.LocalIrqRestore(flags);
    }

    internal void OnExecutedLocked(PoolWorkqueue pwq, long wqSeq)
    {
        Interlocked.Increment(ref _executed);
        pwq.NrActive--;
        _meta.Lock();
        try
        {
            _inFlight.Remove(wqSeq);
        }
        finally
        {
            _meta.Unlock();
        }

        ActivateInactiveLocked(pwq);
    }

    internal void OnCancelledLocked(WorkStruct work)
    {
        var pwq = work.Pwq!;
        if (!work.Inactive)
        {
            pwq.NrActive--;
        }

        _meta.Lock();
        try
        {
            _inFlight.Remove(work.WqSeq);
        }
        finally
        {
            _meta.Unlock();
        }

        ActivateInactiveLocked(pwq);
    }

    private long OldestInFlight()
    {
        _meta.Lock();
        try
        {
            return _inFlight.Count == 0 ? long.MaxValue : _inFlight.Min;
        }
        finally
        {
            _meta.Unlock();
        }
    }

    private PoolWorkqueue[] Snapshot()
    {
        _meta.Lock();
        try
        {
            return [.. _pwqs.Values];
        }
        finally
        {
            _meta.Unlock();
        }
    }

    private void ArmDelayed(int cpu, DelayedWork dwork, ulong delayJiffies)
    {
        dwork.Workqueue = this;
        dwork.TargetCpu = cpu;
        if (delayJiffies == 0)
        {
            Insert(cpu, dwork);
            return;
        }

        var expires = Machine.Jiffies + delayJiffies;
        var timerCpu = cpu >= 0 ? cpu : Current.TaskOrNull?.Cpu?.Id ?? 0;
        Machine.AddTimerOn(dwork.Timer, expires, timerCpu);
    }

    /// <summary>Puts a work item whose PENDING bit the caller owns on a pool (__queue_work()).</summary>
    private void Insert(int cpu, WorkStruct work)
    {
        var pool = Machine.PoolFor(this, cpu);

        // Non-reentrancy: if the item still runs on another pool, queue it behind itself there.
        var last = work.Pool;
        if (last is not null && last != pool && work.CurrentWorker is { } running && running.Pool == last)
        {
            pool = last;
        }

        var pwq = PwqFor(pool);
        pool.Lock.Lock();
        work.Pool = pool;
        work.Pwq = pwq;
        work.QueuedSeq++;
        work.WqSeq = Interlocked.Increment(ref _nextSeq);
        _meta.Lock();
        try
        {
            _inFlight.Add(work.WqSeq);
        }
        finally
        {
            _meta.Unlock();
        }

        Interlocked.Increment(ref _queued);
        work.OnList = true;
        if (IsFrozen || pwq.NrActive >= MaxActive)
        {
            work.Inactive = true;
            pwq.InactiveWorks.AddLast(work);
        }
        else
        {
            work.Inactive = false;
            pwq.NrActive++;
            pool.Worklist.AddLast(work);
            pool.KickLocked(this);
        }

        pool.Lock.Unlock();
    }

    private void ActivateInactiveLocked(PoolWorkqueue pwq)
    {
        var pool = pwq.Pool;
        while (!IsFrozen && pwq.NrActive < MaxActive && pwq.InactiveWorks.First is { } node)
        {
            pwq.InactiveWorks.RemoveFirst();
            var work = node.Value;
            work.Inactive = false;
            pwq.NrActive++;
            pool.Worklist.AddLast(work);
        }

        pool.KickLocked(this);
    }

    private PoolWorkqueue PwqFor(WorkerPool pool)
    {
        _meta.Lock();
        try
        {
            if (!_pwqs.TryGetValue(pool, out var pwq))
            {
                pwq = new PoolWorkqueue(this, pool);
                _pwqs.Add(pool, pwq);
            }

            return pwq;
        }
        finally
        {
            _meta.Unlock();
        }
    }

    /// <inheritdoc/>
    public override string ToString() => Name;
}
