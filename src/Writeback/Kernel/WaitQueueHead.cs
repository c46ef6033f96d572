using System.Threading;
using System.Runtime.CompilerServices;

namespace Writeback.Kernel;

/// <summary>A wait queue: tasks sleep on it until a condition holds; wakers wake all
/// non-exclusive waiters and one exclusive waiter.</summary>
/// <remarks>Kernel: wait_queue_head_t, include/linux/wait.h and kernel/sched/wait.c. Its lock is
/// a spinlock taken irqsave, so lockdep and lock_stat see it as the kernel's
/// <c>&amp;wq_head-&gt;lock</c>. The sleep protocol is the kernel's: queue, mark the task as about
/// to sleep, test the condition, sleep; a wake between the test and the sleep makes the sleep
/// return at once.</remarks>
public sealed class WaitQueueHead
{
    private static readonly LockClassKey s_key = LockClassKey.ForName("&wq_head->lock");
    private readonly List<Entry> _entries = [];

    /// <summary>Creates a wait queue whose lock has the usual class.</summary>
    public WaitQueueHead() : this(s_key)
    {
    }

    /// <summary>Creates a wait queue whose lock has the given class.</summary>
    public WaitQueueHead(LockClassKey key)
    {
        Lock = new SpinLock(key);
    }

    /// <summary>The queue's lock.</summary>
    public SpinLock Lock { get; }

    /// <summary>True if some task waits (wq_has_sleeper()).</summary>
    public bool HasSleeper
    {
        get
        {
            var flags = Lock.LockIrqSave();
            var any = _entries.Count > 0;
            Lock.UnlockIrqRestore(flags);
            return any;
        }
    }

    /// <summary>Sleeps until <paramref name="condition"/> is true; the condition is tested without the queue's lock.</summary>
    /// <remarks>Kernel: wait_event(). Context: Process context. May sleep.</remarks>
    public void WaitEvent(Func<bool> condition, [CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        ArgumentNullException.ThrowIfNull(condition);
        Context.MightSleep(caller, file, line);
        if (condition())
        {
            return;
        }

        Wait(condition, exclusive: false, underLock: false, caller);
    }

    /// <summary>Sleeps until <paramref name="tryUnderLock"/> returns true; it runs with the queue's
    /// lock held, so it may change the state it tests (as completions and semaphores do).</summary>
    /// <remarks>Context: Process context. May sleep. Takes and releases the queue's lock.</remarks>
    internal void WaitLocked(Func<bool> tryUnderLock, bool exclusive, string what)
    {
        var flags = Lock.LockIrqSave();
        var done = tryUnderLock();
        Lock.UnlockIrqRestore(flags);
        if (!done)
        {
            Wait(tryUnderLock, exclusive, underLock: true, what);
        }
    }

    /// <summary>Wakes every non-exclusive waiter and one exclusive waiter.</summary>
    /// <remarks>Kernel: wake_up(). Context: Any context. Takes and releases the queue's lock.</remarks>
    public void WakeUp() => Wake(1);

    /// <summary>Wakes every waiter.</summary>
    /// <remarks>Kernel: wake_up_all(). Context: Any context. Takes and releases the queue's lock.</remarks>
    public void WakeUpAll() => Wake(int.MaxValue);

    /// <summary>Runs <paramref name="action"/> with the queue's lock held, then wakes per <paramref name="exclusiveToWake"/>.</summary>
    internal void UpdateAndWake(Action action, int exclusiveToWake)
    {
        var flags = Lock.LockIrqSave();
        action();
        WakeLocked(exclusiveToWake);
        Lock.UnlockIrqRestore(flags);
    }

    private void Wake(int exclusiveToWake)
    {
        var flags = Lock.LockIrqSave();
        WakeLocked(exclusiveToWake);
        Lock.UnlockIrqRestore(flags);
    }

    private void WakeLocked(int exclusiveToWake)
    {
        foreach (var e in _entries)
        {
            if (e.Exclusive)
            {
                if (exclusiveToWake == 0)
                {
                    continue;
                }

                exclusiveToWake--;
            }

            e.Task.Machine.Engine.Wake(e.Task);
        }
    }

    private void Wait(Func<bool> condition, bool exclusive, bool underLock, string what)
    {
        var t = Current.Task;
        var entry = new Entry(t, exclusive);
        try
        {
            while (true)
            {
                var flags = Lock.LockIrqSave();
                if (!entry.Queued)
                {
                    // Exclusive waiters go to the tail, others to the head, as the kernel queues them.
                    if (exclusive)
                    {
                        _entries.Add(entry);
                    }
                    else
                    {
                        _entries.Insert(0, entry);
                    }

                    entry.Queued = true;
                }

                t.WakePending = false;
                var done = underLock && condition();
                Lock.UnlockIrqRestore(flags);
                if (done || (!underLock && condition()))
                {
                    return;
                }

                t.WaitingFor = what;
                t.Machine.Schedule(t);
                t.WaitingFor = null;
            }
        }
        finally
        {
            if (entry.Queued)
            {
                var flags = Lock.LockIrqSave();
                _entries.Remove(entry);
                Lock.UnlockIrqRestore(flags);
            }
        }
    }

    private sealed class Entry(TaskStruct task, bool exclusive)
    {
        public TaskStruct Task { get; } = task;

        public bool Exclusive { get; } = exclusive;

        public bool Queued { get; set; }
    }
}
