namespace Writeback.Kernel;

/// <summary>A registered hotplug state: a name, a phase, and startup/teardown callbacks that get the CPU number.</summary>
/// <remarks>Kernel: struct cpuhp_step.</remarks>
public sealed record CpuHpState(string Name, CpuHpPhase Phase, Action<int>? Startup, Action<int>? Teardown);
