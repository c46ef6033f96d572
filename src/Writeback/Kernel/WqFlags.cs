namespace Writeback.Kernel;

/// <summary>Workqueue flags.</summary>
/// <remarks>Kernel: enum wq_flags in include/linux/workqueue.h.</remarks>
[Flags]
public enum WqFlags
{
    /// <summary>A per-CPU (bound) workqueue (WQ_PERCPU, the historical default).</summary>
    None = 0,

    /// <summary>WQ_UNBOUND: work runs on workers not bound to any CPU.</summary>
    Unbound = 1 << 1,

    /// <summary>WQ_FREEZABLE: work is held while the system is frozen.</summary>
    Freezable = 1 << 2,

    /// <summary>WQ_MEM_RECLAIM: a rescuer guarantees forward progress under memory pressure.
    /// Model: creating a worker never fails here, so the rescuer is never needed; the flag is kept
    /// so reports show it.</summary>
    MemReclaim = 1 << 3,

    /// <summary>WQ_HIGHPRI. Model: served by the same pools as normal work.</summary>
    HighPri = 1 << 4,

    /// <summary>WQ_CPU_INTENSIVE: items do not count for concurrency management.</summary>
    CpuIntensive = 1 << 5,

    /// <summary>WQ_PERCPU: explicitly per-CPU (the 6.17+ spelling of the default).</summary>
    PerCpu = 1 << 8,
}
