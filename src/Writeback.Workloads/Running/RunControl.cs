using System.Threading;

namespace Writeback.Workloads.Running;

/// <summary>How a caller follows and stops a run: a cancellation token (Ctrl-C: the jobs stop at
/// their next I/O and what was measured is still reported), a progress callback, and the
/// <see cref="WritebackMetrics"/> instruments to feed.</summary>
public sealed class RunControl
{
    /// <summary>Stops the jobs at their next I/O.</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>Called from a job task now and then (at most every 64 I/Os of a job); must be quick
    /// and must not block.</summary>
    public Action<RunProgress>? Progress { get; init; }

    /// <summary>The instruments to record I/O on, or null.</summary>
    public WritebackMetrics? Metrics { get; init; }

    /// <summary>Tests: runs in a job instance's task after its I/O and before its verify phase
    /// (the filesystem, the job, the instance), to prove verify catches a block that is wrong.</summary>
    internal Action<Fs.FileSystem, JobSpec, int>? BeforeVerify { get; init; }
}
