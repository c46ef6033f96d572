using Writeback.Block;
using Writeback.Mm;

namespace Writeback.Workloads.Torture;

/// <summary>What one oracle run did and found.</summary>
public sealed record OracleResult
{
    /// <summary>The run's seed.</summary>
    public required ulong Seed { get; init; }

    /// <summary>The run's completion mode.</summary>
    public required CompletionMode Completion { get; init; }

    /// <summary>The run's task-completion variant.</summary>
    public required TaskCompletionVariant Variant { get; init; }

    /// <summary>The operations the run was to execute (drawn from the seed unless given).</summary>
    public required int PlannedOperations { get; init; }

    /// <summary>The operations executed completely (all of them in a clean run).</summary>
    public required int Operations { get; init; }

    /// <summary>Bytes read back and compared with the model.</summary>
    public required long BytesChecked { get; init; }

    /// <summary>Bytes written through the page cache (buffered and dontcache writes, appends).</summary>
    public required long BufferedBytesWritten { get; init; }

    /// <summary>Work items the mounts queued on xfs-conv (IRQ mode's deferred ioend completion).</summary>
    public required long ConvWorkqueueItems { get; init; }

    /// <summary>Work items the mounts queued on dio (IRQ mode's deferred direct-I/O completion).</summary>
    public required long DioWorkqueueItems { get; init; }

    /// <summary>Bios a fault rule hit (failed or dropped writes), with <see cref="TortureOptions.Faults"/>.</summary>
    public long FaultsInjected { get; init; }

    /// <summary>Fault episodes run, with <see cref="TortureOptions.Faults"/>.</summary>
    public int FaultEpisodes { get; init; }

    /// <summary>Host milliseconds the run took.</summary>
    public required long HostMs { get; init; }

    /// <summary>The command that replays the run.</summary>
    public required string ReplayCommand { get; init; }

    /// <summary>What was wrong, or null for a clean run.</summary>
    public TortureViolation? Violation { get; init; }

    /// <summary>Whether the run found nothing wrong.</summary>
    public bool IsClean => Violation is null;
}
