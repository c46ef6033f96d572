using System.Threading;
using Writeback.Kernel.Engines;

namespace Writeback.Kernel;

/// <summary>A task: a user task, a kernel thread or an idle task, running on one CPU at a time.</summary>
/// <remarks>Kernel: struct task_struct in include/linux/sched.h. Model: every task has its own
/// OS thread so that kernel code is written as straight-line code; the engine decides which
/// thread may run. Interrupt handlers run nested on the thread of the task they interrupt, as the
/// kernel runs them on the interrupted task's stack, so the task's held-lock list is shared with
/// them exactly as lockdep's is.</remarks>
public sealed class TaskStruct
{
    private readonly Action _body;
    private readonly WaitQueueHead _exitWait;

    internal TaskStruct(Machine machine, int pid, string comm, TaskKind kind, int? boundCpu, Action body)
    {
        Machine = machine;
        Pid = pid;
        Comm = comm;
        Kind = kind;
        BoundCpu = boundCpu;
        _body = body;
        _exitWait = new WaitQueueHead();
        Parker = new Parker();
    }

    /// <summary>The machine the task belongs to.</summary>
    public Machine Machine { get; }

    /// <summary>Process id.</summary>
    public int Pid { get; }

    /// <summary>Command name, as ps shows it (kworker/0:1, swapper/0, fio).</summary>
    public string Comm { get; internal set; }

    /// <summary>User task, kernel thread or idle task.</summary>
    public TaskKind Kind { get; }

    /// <summary>The CPU the task is bound to, or null when it may run anywhere.</summary>
    public int? BoundCpu { get; internal set; }

    /// <summary>The CPU the task is on now, or last ran on.</summary>
    public Cpu? Cpu { get; internal set; }

    /// <summary>True once the task's body has returned or thrown.</summary>
    public bool HasExited => Exited;

    internal volatile bool Exited;

    /// <summary>The exception the task's body ended with, if any.</summary>
    public Exception? Failure { get; internal set; }

    internal TaskRunState RunState { get; set; }

    internal Parker Parker { get; }

    internal Thread? Thread { get; set; }

    /// <summary>Set by a waker between prepare-to-sleep and sleeping, so that the sleep returns at once.</summary>
    internal volatile bool WakePending;

    /// <summary>The lock this task spins on, while <see cref="RunState"/> is Spinning.</summary>
    internal SpinLock? SpinningOn { get; set; }

    /// <summary>The ticket it waits for.</summary>
    internal int SpinTicket { get; set; }

    /// <summary>Locks this task's thread is queued on, outermost first (an interrupt handler nests on a spinner).</summary>
    internal List<SpinLock> SpinStack { get; } = new(2);

    /// <summary>Names of the interrupt handlers this task's thread is running, innermost on top.</summary>
    internal Stack<string> IrqNames { get; } = new();

    /// <summary>What the task is waiting for while asleep, for deadlock reports.</summary>
    internal string? WaitingFor { get; set; }

    /// <summary>Locks held, innermost last (lockdep's held_locks).</summary>
    internal List<HeldLock> HeldLocks { get; } = new(8);

    /// <summary>Number of context switches of this task (voluntary and involuntary).</summary>
    public long ContextSwitches { get; internal set; }

    /// <summary>Nesting of rcu_read_lock() (rcu_preempt_depth(): with preemptible RCU it is per task).</summary>
    public int RcuReadDepth { get; internal set; }

    /// <summary>When the task last got its CPU, for the timeslice.</summary>
    internal long SliceStartNs { get; set; }

    /// <summary>The worker structure when this task is a kworker, used by workqueue concurrency management.</summary>
    internal Worker? Worker { get; set; }

    /// <summary>The current runtime state for the thread running this task.</summary>
    internal void RunBody()
    {
        _body();
    }

    internal void SignalExit() => _exitWait.WakeUpAll();

    /// <summary>Sleeps until this task has exited.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public void WaitForExit()
    {
        _exitWait.WaitEvent(() => HasExited);
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Comm}/{Pid}";
}
