namespace Writeback.Kernel;

/// <summary>Scheduler state of a task.</summary>
internal enum TaskRunState
{
    /// <summary>Created, never run.</summary>
    New,

    /// <summary>The current task of its CPU and able to run.</summary>
    Running,

    /// <summary>The current task of its CPU, spinning on a lock held elsewhere.</summary>
    Spinning,

    /// <summary>The idle task, waiting for an interrupt or a runnable task.</summary>
    IdleWait,

    /// <summary>On a CPU's run queue, not running.</summary>
    Runnable,

    /// <summary>Asleep, off every CPU, waiting to be woken.</summary>
    Sleeping,

    /// <summary>Exited.</summary>
    Dead,
}
