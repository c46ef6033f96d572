namespace Writeback.Kernel;

/// <summary>Virtual-time costs used by the deterministic engine, in nanoseconds.</summary>
/// <remarks>Model: the costs are round figures of the order a modern x86 core takes; they are
/// configuration, not measurements, and every report produced on the deterministic engine says
/// its times are modelled. The real engine ignores this type.</remarks>
public sealed record CostModel
{
    /// <summary>The defaults used when a machine's options name no cost model.</summary>
    public static CostModel Default { get; } = new();

    /// <summary>A generic runtime primitive (a preemption or interrupt point).</summary>
    public long PointNs { get; init; } = 10;

    /// <summary>Acquiring an uncontended spinlock.</summary>
    public long SpinLockNs { get; init; } = 20;

    /// <summary>Releasing a spinlock.</summary>
    public long SpinUnlockNs { get; init; } = 10;

    /// <summary>One spin of a contended lock before it is re-examined.</summary>
    public long SpinRetryNs { get; init; } = 15;

    /// <summary>local_irq_save/restore/disable/enable, local_bh_disable/enable, preempt toggles.</summary>
    public long IrqToggleNs { get; init; } = 2;

    /// <summary>Hardware interrupt entry (vector, irq_enter).</summary>
    public long IrqEntryNs { get; init; } = 300;

    /// <summary>Interrupt exit (irq_exit, iret).</summary>
    public long IrqExitNs { get; init; } = 150;

    /// <summary>A context switch between tasks on one CPU.</summary>
    public long ContextSwitchNs { get; init; } = 1_500;

    /// <summary>Waking a sleeping task (try_to_wake_up).</summary>
    public long WakeupNs { get; init; } = 400;

    /// <summary>Copying memory, in picoseconds per byte (100 ps/B is 10 GB/s).</summary>
    public long CopyPsPerByte { get; init; } = 100;

    /// <summary>Seeded jitter added to every charge: a uniform draw in [0, JitterNs]. It makes
    /// different seeds explore different interleavings even where costs tie.</summary>
    public long JitterNs { get; init; } = 8;

    /// <summary>Validates the model; throws naming the first bad field.</summary>
    public void Validate()
    {
        Check(PointNs, nameof(PointNs));
        Check(SpinLockNs, nameof(SpinLockNs));
        Check(SpinUnlockNs, nameof(SpinUnlockNs));
        Check(IrqToggleNs, nameof(IrqToggleNs));
        Check(IrqEntryNs, nameof(IrqEntryNs));
        Check(IrqExitNs, nameof(IrqExitNs));
        Check(ContextSwitchNs, nameof(ContextSwitchNs));
        Check(WakeupNs, nameof(WakeupNs));
        Check(CopyPsPerByte, nameof(CopyPsPerByte));
        Check(JitterNs, nameof(JitterNs));
        if (SpinRetryNs <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(SpinRetryNs), SpinRetryNs, "cost model: SpinRetryNs must be positive");
        }
    }

    private static void Check(long value, string name)
    {
        if (value < 0)
        {
            throw new ArgumentOutOfRangeException(name, value, $"cost model: {name} must not be negative");
        }
    }
}
