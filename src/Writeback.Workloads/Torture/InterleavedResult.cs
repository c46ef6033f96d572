using Writeback.Block;
using Writeback.Mm;

namespace Writeback.Workloads.Torture;

/// <summary>What one interleaved run (<see cref="InterleavedRun"/>) did and found. Everything but
/// <see cref="HostMs"/> is a function of the seed and the options.</summary>
public sealed record InterleavedResult
{
    /// <summary>The run's seed.</summary>
    public required ulong Seed { get; init; }

    /// <summary>The run's completion mode.</summary>
    public required CompletionMode Completion { get; init; }

    /// <summary>The run's task-completion variant.</summary>
    public required TaskCompletionVariant Variant { get; init; }

    /// <summary>Simulated CPUs.</summary>
    public required int Cpus { get; init; }

    /// <summary>Worker tasks.</summary>
    public required int Workers { get; init; }

    /// <summary>The operations each worker was to execute (drawn from the seed unless given): the
    /// replay command's <c>--ops</c>.</summary>
    public required int OperationsPerWorker { get; init; }

    /// <summary>The operations executed completely, over all workers (workers × per-worker count in a clean run).</summary>
    public required int Operations { get; init; }

    /// <summary>Bytes read back and compared with the models, by the workers and by the final
    /// read of every file after the power cut.</summary>
    public required long BytesChecked { get; init; }

    /// <summary>CPU hotplug transitions done: offline plus online.</summary>
    public required int HotplugEvents { get; init; }

    /// <summary>Injected interrupts whose handler ran.</summary>
    public required long IrqInjections { get; init; }

    /// <summary>Deferred bio completions run by a dead-CPU drain rather than a worker (task mode).</summary>
    public required long DrainedByHotplug { get; init; }

    /// <summary>Modelled time the run took (ns).</summary>
    public required long ModelledNs { get; init; }

    /// <summary>The deterministic engine's schedule hash: equal seeds and options give equal hashes.</summary>
    public required ulong ScheduleHash { get; init; }

    /// <summary>Host milliseconds the run took.</summary>
    public required long HostMs { get; init; }

    /// <summary>The command that replays the run.</summary>
    public required string ReplayCommand { get; init; }

    /// <summary>What was wrong, or null for a clean run.</summary>
    public TortureViolation? Violation { get; init; }

    /// <summary>Whether the run found nothing wrong.</summary>
    public bool IsClean => Violation is null;
}
