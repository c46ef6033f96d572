using System.Threading;
namespace Writeback.Kernel.Engines;

/// <summary>The seam between kernel code and the thing that runs it: time, scheduling decisions,
/// sleeping and waking, spinning, and timed events.</summary>
/// <remarks>Two implementations: <see cref="DeterministicEngine"/> (one thread at a time, seeded
/// choices, virtual time) and <see cref="RealEngine"/> (OS threads in parallel, host time).
/// Nothing outside this folder touches .NET threads, clocks or randomness.</remarks>
internal abstract class Engine : IDisposable
{
    private readonly List<TaskStruct> _threads = [];

    protected Engine(Machine machine)
    {
        Machine = machine;
    }

    protected Machine Machine { get; }

    public abstract bool IsDeterministic { get; }

    /// <summary>The clock of <paramref name="cpu"/>, in nanoseconds since the machine started.</summary>
    public abstract long Now(Cpu cpu);

    /// <summary>Time for code not running on a CPU (an event firing).</summary>
    public abstract long GlobalNow();

    /// <summary>Advances the CPU's virtual clock by a cost (deterministic engine only).</summary>
    public abstract void Charge(Cpu cpu, long ns);

    /// <summary>A decision point: the deterministic engine may run another CPU before returning
    /// (or let this one run ahead by up to the quantum).</summary>
    public abstract void Yield(TaskStruct current);

    /// <summary>Moves the CPU's virtual clock forward to <paramref name="ns"/> (deterministic engine only).</summary>
    public virtual void AdvanceTo(Cpu cpu, long ns)
    {
    }

    /// <summary>Whether an interrupt raised at <paramref name="raisedAtNs"/> may be delivered on the CPU now.</summary>
    public abstract bool IsDue(Cpu cpu, long raisedAtNs);

    /// <summary>Runs the machine with <paramref name="init"/> as its first task; returns when every user task has exited.</summary>
    public abstract void Run(TaskStruct init);

    /// <summary>Puts the current task to sleep until <see cref="Wake"/>; returns at once if a wake came after it prepared.</summary>
    public abstract void Sleep(TaskStruct current);

    /// <summary>Makes a sleeping or new task runnable.</summary>
    public abstract void Wake(TaskStruct task);

    /// <summary>Gives the CPU to the next runnable task, keeping the current one runnable; on a CPU
    /// that went offline the current task moves to an online CPU.</summary>
    public abstract void Preempt(TaskStruct current);

    /// <summary>The current task ends; its CPU goes to the next task. Never returns to the task.</summary>
    public abstract void Exit(TaskStruct current);

    /// <summary>Waits until <paramref name="lockObj"/> serves <paramref name="ticket"/>, or a due
    /// interrupt needs the (interrupts-enabled) CPU. The caller checks again.</summary>
    public abstract void SpinWait(TaskStruct current, SpinLock lockObj, int ticket);

    /// <summary>The idle task waits for an interrupt, a softirq or a runnable task.</summary>
    public abstract void IdleWait(TaskStruct idle);

    /// <summary>Something arrived for the CPU (an interrupt); wakes it if it idles.</summary>
    public abstract void Kick(Cpu cpu);

    /// <summary>Runs <paramref name="action"/> (with its due time) at <paramref name="dueNs"/>;
    /// the action must not block: it raises interrupts.</summary>
    public abstract void AddEvent(long dueNs, Action<long> action);

    /// <summary>A seeded choice in [0, n) (deterministic engine) or a fixed choice (real engine).</summary>
    public abstract int Choose(int n);

    /// <summary>Moves every runnable task off a CPU that went offline.</summary>
    public abstract void EvacuateRunQueue(Cpu cpu);

    /// <summary>Makes the calling OS thread run <paramref name="task"/> on <paramref name="cpu"/>
    /// outside <see cref="Run"/> (real engine only), for benchmarks that time primitives on the caller's thread.</summary>
    public virtual void Adopt(TaskStruct task, Cpu cpu) =>
        throw new NotSupportedException("only the real engine can adopt the calling thread; the deterministic engine schedules every task itself");

    /// <summary>Undoes <see cref="Adopt"/>.</summary>
    public virtual void Release(TaskStruct task) => throw new NotSupportedException("only the real engine adopts threads");

    /// <summary>Hash of the schedule so far.</summary>
    public abstract ulong TraceHash { get; }

    /// <summary>Records one trace event in the schedule hash (and text when recording).</summary>
    public abstract void Trace(Cpu cpu, TaskStruct task, string what, string detail);

    /// <summary>Scheduling decisions taken so far.</summary>
    public abstract long Decisions { get; }

    /// <summary>Stops the run with a failure; the waiting <see cref="Run"/> rethrows it.</summary>
    public abstract void Fail(Exception failure);

    public abstract void Dispose();

    /// <summary>Which CPU a woken task goes to: its bound CPU, else its previous CPU if idle, else an idle CPU, else the previous one.</summary>
    protected Cpu SelectCpu(TaskStruct t)
    {
        var cpus = Machine.Cpus;
        if (t.BoundCpu is int b)
        {
            var bound = cpus[b];
            if (bound.IsOnline)
            {
                return bound;
            }
        }

        var prev = t.Cpu;
        if (prev is { IsOnline: true, IsIdle: true } && prev.RunQueue.Count == 0)
        {
            return prev;
        }

        Span<int> idle = stackalloc int[Math.Min(cpus.Count, 256)];
        var n = 0;
        foreach (var c in Machine.CpuArray)
        {
            if (c.IsOnline && c.IsIdle && c.RunQueue.Count == 0 && n < idle.Length)
            {
                idle[n++] = c.Id;
            }
        }

        if (n > 0)
        {
            return cpus[idle[Choose(n)]];
        }

        if (prev is { IsOnline: true })
        {
            return prev;
        }

        return Machine.FirstOnlineCpu();
    }

    /// <summary>Gives <paramref name="target"/> the CPU: starts its thread on first use, else unparks it.</summary>
    protected void StartOrUnpark(TaskStruct target)
    {
        if (target.Thread is not null)
        {
            target.Parker.Unpark();
            return;
        }

        var thread = new Thread(() => Machine.TaskMain(target), 256 * 1024)
        {
            IsBackground = true,
            Name = target.Comm,
        };
        target.Thread = thread;
        lock (_threads)
        {
            _threads.Add(target);
        }

        thread.Start();
    }

    /// <summary>Makes every task's thread, and every idle task's, unwind at its next park.</summary>
    protected void KillThreads()
    {
        lock (_threads)
        {
            foreach (var t in _threads)
            {
                t.Parker.Kill();
            }
        }

        foreach (var c in Machine.CpuArray)
        {
            c.Idle.Parker.Kill();
        }
    }

    /// <summary>Whether the task may stay on the CPU: it is online and in the task's affinity.</summary>
    protected static bool IsAllowedOn(TaskStruct t, Cpu cpu) => cpu.IsOnline && (t.BoundCpu is not int b || b == cpu.Id || !cpu.Machine.Cpus[b].IsOnline);

    /// <summary>The task a CPU runs next: the head of its run queue, or its idle task.</summary>
    protected static TaskStruct PickNext(Cpu cpu)
    {
        if (cpu.RunQueue.Count > 0)
        {
            var next = cpu.RunQueue.Dequeue();
            next.RunState = TaskRunState.Running;
            next.Cpu = cpu;
            return next;
        }

        cpu.Idle.RunState = TaskRunState.IdleWait;
        return cpu.Idle;
    }

    /// <summary>Whether a CPU has something for its idle task to do.</summary>
    protected static bool IdleHasWork(Cpu cpu) =>
        cpu.HasPendingIrq || cpu.SoftirqPendingMask != 0 || cpu.RunQueue.Count > 0;
}
