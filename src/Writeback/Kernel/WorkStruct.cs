using System.Threading;

namespace Writeback.Kernel;

/// <summary>A work item: a function that a kworker runs in task context.</summary>
/// <remarks>Kernel: struct work_struct. The PENDING bit is set from the moment the item is queued
/// (or its delayed-work timer armed) until a worker picks it up; an item is never run by two
/// workers at once (a re-queue while it runs goes to the pool running it); a disabled item
/// cannot be queued.</remarks>
public class WorkStruct
{
    private int _pending;

    /// <summary>Creates a work item that runs <paramref name="func"/>.</summary>
    public WorkStruct(Action<WorkStruct> func)
    {
        ArgumentNullException.ThrowIfNull(func);
        Func = func;
    }

    /// <summary>The function.</summary>
    public Action<WorkStruct> Func { get; }

    /// <summary>True while queued or while its delayed-work timer is armed (work_pending()).</summary>
    public bool IsPending => Volatile.Read(ref _pending) != 0;

    /// <summary>True while pending or running (work_busy()).</summary>
    public bool IsBusy => IsPending || CurrentWorker is not null;

    /// <summary>True while disabled (disable_work()).</summary>
    public bool IsDisabled => Volatile.Read(ref DisableCount) > 0;

    /// <summary>Times the item has run to completion.</summary>
    public long Executions => Volatile.Read(ref ExecutedCount);

    /// <summary>Queues the item on the system workqueue.</summary>
    /// <remarks>Kernel: schedule_work(). Context: Any context.</remarks>
    public bool Schedule() => Current.Machine.SystemWq.QueueWork(this);

    /// <summary>Waits until the latest queueing has finished; false if the item was idle.</summary>
    /// <remarks>Kernel: flush_work(). Context: Process context. May sleep.</remarks>
    public bool Flush() => Current.Machine.FlushWork(this);

    /// <summary>Cancels a pending queueing and waits for a running instance; true if it was pending.</summary>
    /// <remarks>Kernel: cancel_work_sync() (cancel_delayed_work_sync() for delayed work). Context: Process context. May sleep.</remarks>
    public bool CancelSync() => Current.Machine.CancelWorkSync(this);

    /// <summary>Disables the item (queueing fails until enabled), cancels it, and waits for a running instance; true if it was pending.</summary>
    /// <remarks>Kernel: disable_work_sync(). Context: Process context. May sleep.</remarks>
    public bool DisableSync() => Current.Machine.DisableWorkSync(this);

    /// <summary>Disables the item and cancels a pending queueing without waiting; true if it was pending.</summary>
    /// <remarks>Kernel: disable_work(). Context: Any context.</remarks>
    public bool Disable() => Current.Machine.DisableWork(this);

    /// <summary>Undoes one disable; true when the item is enabled again.</summary>
    /// <remarks>Kernel: enable_work(). Context: Any context.</remarks>
    public bool Enable() => Machine.EnableWork(this);

    internal int DisableCount;
    internal long ExecutedCount;

    /// <summary>The pool whose lists hold the item, or that last ran it.</summary>
    internal WorkerPool? Pool { get; set; }

    /// <summary>The pool workqueue the item is queued on.</summary>
    internal PoolWorkqueue? Pwq { get; set; }

    /// <summary>True while on a pool's worklist, a pwq's inactive list, or a worker's hand-over list.</summary>
    internal bool OnList { get; set; }

    /// <summary>True while on the inactive list (held by max_active or a freeze).</summary>
    internal bool Inactive { get; set; }

    internal Worker? CurrentWorker { get; set; }

    /// <summary>The worker whose hand-over list holds the item (it was running an earlier queueing when this one came up).</summary>
    internal Worker? ScheduledOn { get; set; }

    /// <summary>Sequence number of the latest queueing (for flush_work()).</summary>
    internal long QueuedSeq { get; set; }

    /// <summary>Sequence number of the latest queueing that has finished or was cancelled.</summary>
    internal long FinishedSeq { get; set; }

    /// <summary>The owning workqueue's sequence number of the queued instance (for flush_workqueue()).</summary>
    internal long WqSeq { get; set; }

    internal bool TestAndSetPending() => Interlocked.Exchange(ref _pending, 1) != 0;

    internal void ClearPending() => Volatile.Write(ref _pending, 0);
}
