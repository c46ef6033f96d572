namespace Writeback.Kernel;

/// <summary>A pool of kworkers: one per CPU (bound) and one unbound, sharing a worklist.</summary>
/// <remarks>Kernel: struct worker_pool. Concurrency management as in the kernel: the pool keeps
/// one worker running while work is pending; when a worker sleeps inside a work item and no
/// other runs, an idle worker is woken or a new one created. When its CPU goes offline the pool
/// is disassociated: its workers may run on any CPU, so its pending work still runs.</remarks>
internal sealed class WorkerPool
{
    private static readonly LockClassKey s_key = LockClassKey.ForName("&pool->lock");
    private int _nextWorkerId;

    public WorkerPool(Machine machine, int cpu)
    {
        Machine = machine;
        Cpu = cpu;
    }

    public Machine Machine { get; }

    /// <summary>The CPU, or -1 for the unbound pool.</summary>
    public int Cpu { get; }

    public SpinLock Lock { get; } = new(s_key);

    public LinkedList<WorkStruct> Worklist { get; } = new();

    public List<Worker> Workers { get; } = [];

    public Stack<Worker> Idle { get; } = new();

    /// <summary>Workers not sleeping (nr_running).</summary>
    public int NrRunning { get; set; }

    /// <summary>True while the pool's CPU is offline.</summary>
    public bool Disassociated { get; set; }

    public bool IsBound => Cpu >= 0;

    /// <summary>Wakes an idle worker, or creates one, if work waits and none runs; counts the
    /// wake-up against <paramref name="wq"/> when given.</summary>
    /// <remarks>Context: Caller holds the pool lock.</remarks>
    public void KickLocked(Workqueue? wq = null)
    {
        Lock.AssertHeld();
        if (Worklist.Count == 0 || NrRunning > 0)
        {
            return;
        }

        if (Idle.Count > 0)
        {
            var w = Idle.Pop();
            w.IsIdle = false;
            NrRunning++;
            wq?.CountWakeup();
            Machine.Engine.Wake(w.Task);
        }
        else
        {
            wq?.CountWakeup();
            CreateWorkerLocked();
        }
    }

    /// <summary>Creates and starts a worker, counted as running.</summary>
    /// <remarks>Context: Caller holds the pool lock.</remarks>
    public void CreateWorkerLocked()
    {
        var id = _nextWorkerId++;
        var name = IsBound ? $"kworker/{Cpu}:{id}" : $"kworker/u{Machine.Cpus.Count * 2}:{id}";
        var w = new Worker(this);
        Workers.Add(w);
        NrRunning++;
        var bound = IsBound && !Disassociated ? Cpu : (int?)null;
        w.Task = Machine.KthreadRun(name, w.Run, bound);
        w.Task.Worker = w;
    }
}
