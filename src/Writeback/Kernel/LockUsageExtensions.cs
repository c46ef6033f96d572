namespace Writeback.Kernel;

/// <summary>Names and rules of lockdep usage bits.</summary>
internal static class LockUsageExtensions
{
    public static string Name(this LockUsage bit) => bit switch
    {
        LockUsage.InHardirqW => "IN-HARDIRQ-W",
        LockUsage.InHardirqR => "IN-HARDIRQ-R",
        LockUsage.HardirqOnW => "HARDIRQ-ON-W",
        LockUsage.HardirqOnR => "HARDIRQ-ON-R",
        LockUsage.InSoftirqW => "IN-SOFTIRQ-W",
        LockUsage.InSoftirqR => "IN-SOFTIRQ-R",
        LockUsage.SoftirqOnW => "SOFTIRQ-ON-W",
        LockUsage.SoftirqOnR => "SOFTIRQ-ON-R",
        LockUsage.Used => "INITIAL USE",
        _ => bit.ToString(),
    };

    /// <summary>The opposite-direction write bit of the same state (exclusive_bit()).</summary>
    public static LockUsage Exclusive(this LockUsage bit) => bit switch
    {
        LockUsage.InHardirqW or LockUsage.InHardirqR => LockUsage.HardirqOnW,
        LockUsage.HardirqOnW or LockUsage.HardirqOnR => LockUsage.InHardirqW,
        LockUsage.InSoftirqW or LockUsage.InSoftirqR => LockUsage.SoftirqOnW,
        LockUsage.SoftirqOnW or LockUsage.SoftirqOnR => LockUsage.InSoftirqW,
        _ => LockUsage.None,
    };

    /// <summary>The read variant of a write bit.</summary>
    public static LockUsage ReadVariant(this LockUsage bit) => (LockUsage)((int)bit << 1);

    public static bool IsRead(this LockUsage bit) =>
        bit is LockUsage.InHardirqR or LockUsage.HardirqOnR or LockUsage.InSoftirqR or LockUsage.SoftirqOnR;

    public static bool IsHardirq(this LockUsage bit) =>
        bit is LockUsage.InHardirqW or LockUsage.InHardirqR or LockUsage.HardirqOnW or LockUsage.HardirqOnR;

    public static bool IsUsedIn(this LockUsage bit) =>
        bit is LockUsage.InHardirqW or LockUsage.InHardirqR or LockUsage.InSoftirqW or LockUsage.InSoftirqR;
}
