namespace Writeback.Kernel;

/// <summary>A timer: its function runs in softirq context on its CPU once jiffies reach <see cref="Expires"/>.</summary>
/// <remarks>Kernel: struct timer_list, kernel/time/timer.c. Model: each armed timer is one engine
/// event that raises the CPU's local timer interrupt at its due time, which raises TIMER_SOFTIRQ;
/// there is no timer wheel and no slack.</remarks>
public sealed class TimerList
{
    /// <summary>Creates a timer that calls <paramref name="function"/>.</summary>
    public TimerList(Action<TimerList> function)
    {
        ArgumentNullException.ThrowIfNull(function);
        Function = function;
    }

    /// <summary>The callback.</summary>
    public Action<TimerList> Function { get; }

    /// <summary>Expiry, in jiffies.</summary>
    public ulong Expires { get; internal set; }

    /// <summary>True while armed (timer_pending()).</summary>
    public bool IsPending { get; internal set; }

    /// <summary>The CPU whose timer base holds the timer.</summary>
    public int Cpu { get; internal set; }

    internal bool Pinned { get; set; }

    internal long Generation { get; set; }

    internal volatile bool Running;
}
