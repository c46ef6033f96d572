namespace Writeback.Workloads.Running;

/// <summary>One run of a job file on one machine configuration.</summary>
public sealed class RunResult
{
    /// <summary>The machine and design.</summary>
    public required WbsimOptions Options { get; init; }

    /// <summary>The job file's name (or "default").</summary>
    public required string JobFile { get; init; }

    /// <summary>The jobs as reported: one per instance, or one per job with group_reporting.</summary>
    public required IReadOnlyList<JobResult> Jobs { get; init; }

    /// <summary>Jobs summed per reporting group (fio's "Run status group" lines).</summary>
    public required IReadOnlyList<JobResult> Groups { get; init; }

    /// <summary>The model's figures.</summary>
    public required ModelReport Model { get; init; }

    /// <summary>Machine time the jobs ran, ns (first job start to last job end).</summary>
    public required long ElapsedNs { get; init; }

    /// <summary>Host wall-clock time of the whole run, ms (not deterministic; JSON keeps it under "host").</summary>
    public required long HostWallMs { get; init; }

    /// <summary>Whether the run was stopped early (Ctrl-C).</summary>
    public required bool Interrupted { get; init; }

    /// <summary>Why the machine stopped, if it failed (a lockdep report with lockdep=fail, a kernel BUG).</summary>
    public required string? Failure { get; init; }

    /// <summary>The whole failure message (the machine's state and the task's stack), or null.</summary>
    public string? FailureDetail { get; init; }

    /// <summary>Verify errors over all jobs.</summary>
    public long VerifyErrors => Jobs.Sum(j => j.VerifyErrors);

    /// <summary>Verify bytes over all jobs.</summary>
    public long VerifyBytes => Jobs.Sum(j => j.VerifyBytes);
}
