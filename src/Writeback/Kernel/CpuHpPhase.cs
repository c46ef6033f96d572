namespace Writeback.Kernel;

/// <summary>Where a CPU hotplug state's callbacks run.</summary>
/// <remarks>Kernel: the CPUHP_* ranges in include/linux/cpuhotplug.h.</remarks>
public enum CpuHpPhase
{
    /// <summary>CPUHP_BP_PREPARE_DYN: run on the controlling CPU — startup before the CPU comes
    /// up ("prepare"), teardown after it is dead ("dead").</summary>
    BpPrepareDyn,

    /// <summary>CPUHP_AP_ONLINE_DYN: run on the CPU itself — startup once it is online,
    /// teardown while it is still online and going down ("down-prep").</summary>
    ApOnlineDyn,
}
