using System.Threading;
namespace Writeback.Kernel;

/// <summary>A kworker: a kernel thread that takes items off its pool's worklist and runs them in task context.</summary>
/// <remarks>Kernel: struct worker and worker_thread() in kernel/workqueue.c.</remarks>
internal sealed class Worker(WorkerPool owner)
{
    public WorkerPool Pool { get; } = owner;

    public TaskStruct Task { get; set; } = null!;

    public WorkStruct? CurrentWork { get; set; }

    public bool IsIdle { get; set; }

    private bool _inWorkItem;

    /// <summary>The worker's main loop.</summary>
    public void Run()
    {
        var pool = Pool;
        var t = Current.Task;
        while (true)
        {
            pool.Lock.LockIrq();
            if (pool.Worklist.Count == 0)
            {
                // Go idle: off nr_running, onto the idle stack, and sleep until kicked.
                IsIdle = true;
                pool.NrRunning--;
                pool.Idle.Push(this);
                t.WakePending = false;
                pool.Lock.UnlockIrq();
                while (IsIdle)
                {
                    t.WaitingFor = "worker idle";
                    pool.Machine.Schedule(t);
                }

                continue;
            }

            var work = pool.Worklist.First!.Value;
            pool.Worklist.RemoveFirst();
            if (work.CurrentWorker is { } running && running != this)
            {
                // Another worker of this pool still runs an earlier queueing of the item: hand
                // it over, so that an item never runs concurrently with itself
                // (find_worker_executing_work()). It stays grabbable by cancel.
                running.Scheduled.AddLast(work);
                work.ScheduledOn = running;
                pool.Lock.UnlockIrq();
                continue;
            }

            work.OnList = false;
            RunOneLocked(work);
        }
    }

    /// <summary>Items handed over by other workers because this one was running them.</summary>
    public LinkedList<WorkStruct> Scheduled { get; } = new();

    /// <summary>Runs one item, then any item handed over meanwhile; returns with the pool lock released.</summary>
    /// <remarks>Context: Workqueue context. Caller holds the pool lock.</remarks>
    private void RunOneLocked(WorkStruct work)
    {
        var pool = Pool;
        var t = Current.Task;
        while (true)
        {
            var seq = work.QueuedSeq;
            var wqSeq = work.WqSeq;
            var pwq = work.Pwq!;
            CurrentWork = work;
            work.CurrentWorker = this;
            work.ClearPending();

            // Keep a worker available for the rest of the list (the kernel's manager role).
            if (pool.Worklist.Count > 0 && pool.NrRunning <= 1)
            {
                pool.KickLocked();
            }

            pool.Lock.UnlockIrq();

            _inWorkItem = true;
            try
            {
                pwq.Wq.Trace(work);
                work.Func(work);
            }
            finally
            {
                _inWorkItem = false;
            }

            if (t.Cpu!.PreemptCountValue != 0 || t.Cpu.HardirqsOff)
            {
                Bug.Fail($"workqueue: {pwq.Wq.Name} work function left preempt_count {t.Cpu.PreemptCountValue:x} or irqs {(t.Cpu.HardirqsOff ? "off" : "on")}");
            }
            if (t.Machine.LockdepActive && t.HeldLocks.Count > 0)
            {
                throw new KernelBugException($"BUG: workqueue leaked lock or atomic: {t.Comm}\n     last function: work item of {pwq.Wq.Name}\n");
            }

            pool.Lock.LockIrq();
            CurrentWork = null;
            work.CurrentWorker = null;
            if (work.FinishedSeq < seq)
            {
                work.FinishedSeq = seq;
            }

            Interlocked.Increment(ref work.ExecutedCount);
            pwq.Wq.OnExecutedLocked(pwq, wqSeq);
            var next = Scheduled.First;
            if (next is not null)
            {
                Scheduled.RemoveFirst();
                next.Value.ScheduledOn = null;
                next.Value.OnList = false;
            }

            pool.Lock.UnlockIrq();
            pwq.Wq.Machine.WorkDone.WakeUpAll();
            if (next is null)
            {
                Context.CondResched();
                return;
            }

            // The handed-over item keeps its PENDING bit until it starts, so no other worker can take it meanwhile.
            work = next.Value;
            pool.Lock.LockIrq();
        }
    }

    /// <summary>Scheduler hook: the worker is about to sleep inside a work item (wq_worker_sleeping()).</summary>
    public void Sleeping()
    {
        if (!_inWorkItem || IsIdle)
        {
            return;
        }

        Pool.Lock.LockIrq();
        Pool.NrRunning--;
        Pool.KickLocked();
        Pool.Lock.UnlockIrq();
    }

    /// <summary>Scheduler hook: the worker runs again (wq_worker_running()).</summary>
    public void Waking()
    {
        if (!_inWorkItem || IsIdle)
        {
            return;
        }

        Pool.Lock.LockIrq();
        Pool.NrRunning++;
        Pool.Lock.UnlockIrq();
    }
}
