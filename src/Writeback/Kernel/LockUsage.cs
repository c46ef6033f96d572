namespace Writeback.Kernel;

/// <summary>Lockdep's per-class usage bits.</summary>
/// <remarks>Kernel: enum lock_usage_bit in kernel/locking/lockdep_states.h and lockdep_internals.h.
/// Bit layout: bit 0 read, bit 1 direction (enabled), bits 2+ state (hardirq, softirq), as in the kernel.</remarks>
[Flags]
public enum LockUsage
{
    /// <summary>No usage.</summary>
    None = 0,

    /// <summary>IN-HARDIRQ-W: write-acquired in hardirq context.</summary>
    InHardirqW = 1 << 0,

    /// <summary>IN-HARDIRQ-R.</summary>
    InHardirqR = 1 << 1,

    /// <summary>HARDIRQ-ON-W: write-acquired with hardirqs enabled.</summary>
    HardirqOnW = 1 << 2,

    /// <summary>HARDIRQ-ON-R.</summary>
    HardirqOnR = 1 << 3,

    /// <summary>IN-SOFTIRQ-W: write-acquired in softirq context.</summary>
    InSoftirqW = 1 << 4,

    /// <summary>IN-SOFTIRQ-R.</summary>
    InSoftirqR = 1 << 5,

    /// <summary>SOFTIRQ-ON-W: write-acquired with softirqs enabled.</summary>
    SoftirqOnW = 1 << 6,

    /// <summary>SOFTIRQ-ON-R.</summary>
    SoftirqOnR = 1 << 7,

    /// <summary>Ever used.</summary>
    Used = 1 << 8,
}
