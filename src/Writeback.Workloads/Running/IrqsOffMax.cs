namespace Writeback.Workloads.Running;

/// <summary>The longest interrupts-off span of a run.</summary>
/// <param name="DurationNs">Its length.</param>
/// <param name="Cpu">The CPU.</param>
/// <param name="StartNs">When it began (machine clock).</param>
/// <param name="EndNs">When it ended.</param>
/// <param name="StartSite">Where interrupts went off.</param>
/// <param name="EndSite">Where they came back on.</param>
/// <param name="Cause">The lock class or primitive that disabled them.</param>
public sealed record IrqsOffMax(long DurationNs, int Cpu, long StartNs, long EndNs, string StartSite, string EndSite, string Cause);
