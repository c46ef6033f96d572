namespace Writeback.Kernel;

/// <summary>The irq event stamps lockdep prints ("hardirqs last enabled at (N): site").</summary>
/// <remarks>Kernel: struct irqtrace_events, kept per task. Model: kept per CPU, which is the same
/// thing for the task currently running there.</remarks>
public sealed partial class Cpu
{
    internal long IrqEventStamp;
    internal (long Stamp, CodeSite Site) HardirqOnEvent;
    internal (long Stamp, CodeSite Site) HardirqOffEvent;
    internal (long Stamp, CodeSite Site) SoftirqOnEvent;
    internal (long Stamp, CodeSite Site) SoftirqOffEvent;
}
