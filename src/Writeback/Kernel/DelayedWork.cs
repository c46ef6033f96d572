namespace Writeback.Kernel;

/// <summary>A work item queued when its timer expires.</summary>
/// <remarks>Kernel: struct delayed_work. The PENDING bit covers the armed timer too.</remarks>
public sealed class DelayedWork : WorkStruct
{
    /// <summary>Creates a delayed work item that runs <paramref name="func"/>.</summary>
    public DelayedWork(Action<WorkStruct> func) : base(func)
    {
        Timer = new TimerList(_ => Workqueue!.InsertFromTimer(this));
    }

    /// <summary>The timer.</summary>
    public TimerList Timer { get; }

    /// <summary>The workqueue the timer will queue on.</summary>
    internal Workqueue? Workqueue { get; set; }

    /// <summary>The CPU requested at queueing (-1: the CPU the timer fires on).</summary>
    internal int TargetCpu { get; set; } = -1;
}
