namespace Writeback.Block;

/// <summary>Which CPU a device's completion interrupt is raised on.</summary>
/// <remarks>Kernel: blk-mq hardware queues with managed interrupt affinity; a queue's vector
/// usually targets the CPUs that submit to it.</remarks>
public enum IrqAffinity
{
    /// <summary>The CPU that submitted the request (a per-CPU queue with its own vector).</summary>
    Submitter,

    /// <summary>One fixed CPU (<see cref="DiskOptions.IrqCpu"/>), as a single-vector device.</summary>
    Fixed,

    /// <summary>CPUs in turn, request by request.</summary>
    RoundRobin,
}
