namespace Writeback.Kernel;

/// <summary>Bit layout of the per-CPU preempt count.</summary>
/// <remarks>Kernel: include/linux/preempt.h. The model keeps the kernel's layout so that
/// the context predicates read exactly as the kernel's macros do.</remarks>
internal static class PreemptCount
{
    public const int PreemptBits = 8;
    public const int SoftirqBits = 8;
    public const int HardirqBits = 4;
    public const int NmiBits = 4;

    public const int PreemptShift = 0;
    public const int SoftirqShift = PreemptShift + PreemptBits;
    public const int HardirqShift = SoftirqShift + SoftirqBits;
    public const int NmiShift = HardirqShift + HardirqBits;

    public const int PreemptMask = ((1 << PreemptBits) - 1) << PreemptShift;
    public const int SoftirqMask = ((1 << SoftirqBits) - 1) << SoftirqShift;
    public const int HardirqMask = ((1 << HardirqBits) - 1) << HardirqShift;
    public const int NmiMask = ((1 << NmiBits) - 1) << NmiShift;

    public const int PreemptOffset = 1 << PreemptShift;
    public const int SoftirqOffset = 1 << SoftirqShift;
    public const int HardirqOffset = 1 << HardirqShift;
    public const int NmiOffset = 1 << NmiShift;

    /// <summary>What local_bh_disable() adds: twice SOFTIRQ_OFFSET, so that "serving a softirq"
    /// (the low bit of the softirq field) stays distinguishable from "bottom halves disabled".</summary>
    public const int SoftirqDisableOffset = 2 * SoftirqOffset;
}
