namespace Writeback.Kernel;

/// <summary>One interrupts-off section: where it started and ended, on which CPU, under which task, and what it is attributed to.</summary>
/// <param name="Cpu">The CPU.</param>
/// <param name="StartNs">When interrupts went off.</param>
/// <param name="EndNs">When they came back on.</param>
/// <param name="Start">The site that disabled them (<c>_raw_spin_lock_irqsave</c> at …).</param>
/// <param name="End">The site that re-enabled them.</param>
/// <param name="Task">The task running, as comm/pid.</param>
/// <param name="Cause">The lock class whose <c>_irq</c>/<c>_irqsave</c> acquisition began the section, <c>hardirq</c> for a handler, or the primitive's name.</param>
public sealed record IrqsOffSpan(int Cpu, long StartNs, long EndNs, CodeSite Start, CodeSite End, string Task, string Cause)
{
    /// <summary>Length of the section in nanoseconds.</summary>
    public long DurationNs => EndNs - StartNs;
}
