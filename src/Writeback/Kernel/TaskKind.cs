using System.Threading;
namespace Writeback.Kernel;

/// <summary>What a task is: a user task, a kernel thread, or a CPU's idle task.</summary>
public enum TaskKind
{
    /// <summary>A user task (a workload's thread). A run lasts until every user task has exited.</summary>
    User,

    /// <summary>A kernel thread (kworker, cpuhp). Kernel threads do not keep a run alive.</summary>
    KernelThread,

    /// <summary>The per-CPU idle task (swapper/N), which takes interrupts on an idle CPU.</summary>
    Idle,
}
