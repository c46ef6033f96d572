namespace Writeback.Kernel;

/// <summary>A CPU's timer base: its lock and the timers whose interrupt has fired.</summary>
/// <remarks>Kernel: struct timer_base.</remarks>
internal sealed class TimerBase
{
    private static readonly LockClassKey s_key = LockClassKey.ForName("&base->lock");

    public SpinLock Lock { get; } = new(s_key);

    public List<(TimerList Timer, long Generation)> Expired { get; } = [];
}
