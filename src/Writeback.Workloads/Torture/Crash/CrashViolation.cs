namespace Writeback.Workloads.Torture.Crash;

/// <summary>A crash state that broke a promise, or a workload that could not be checked, with
/// what it takes to replay it.</summary>
public sealed record CrashViolation
{
    /// <summary>The workload's name ("ace#123").</summary>
    public required string WorkloadName { get; init; }

    /// <summary>The workload: its name and operations.</summary>
    public required string Workload { get; init; }

    /// <summary>Where it crashed: before which log entry, and which operation had returned last.</summary>
    public required string CrashPoint { get; init; }

    /// <summary>Which of the unflushed writes reached the media.</summary>
    public required string Subset { get; init; }

    /// <summary>What was wrong, labelled by the check: mount failed, fsck, (tree), (size), (data), live, machine.</summary>
    public required string What { get; init; }

    /// <summary>How to run it again.</summary>
    public required string Replay { get; init; }

    /// <summary>The whole report, one field a line.</summary>
    public string Text =>
        $"crash violation: {What}\n  workload: {Workload}\n  crash: {CrashPoint}\n  media: {Subset}\n  replay: {Replay}\n";

    /// <summary>The whole report (<see cref="Text"/>).</summary>
    public override string ToString() => Text;
}
