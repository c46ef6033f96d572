using Writeback.Block;

namespace Writeback.Workloads.Torture.Crash;

/// <summary>What running a <see cref="CrashWorkload"/> left for the crash checker: the device's
/// write log up to the end of the last operation, and the model's record of what every operation
/// did and promised.</summary>
internal sealed class CrashRecording
{
    /// <summary>The workload.</summary>
    public required CrashWorkload Workload { get; init; }

    /// <summary>The options it ran under.</summary>
    public required CrashOptions Options { get; init; }

    /// <summary>The block layer crash images are mounted on.</summary>
    public required BlockLayer Layer { get; init; }

    /// <summary>The device's write log (its start is the synced starting state).</summary>
    public required WriteLog Log { get; init; }

    /// <summary>The log's entries up to the end of the last operation (what came after — closing
    /// the files — is not crashed into).</summary>
    public required IReadOnlyList<WriteLogEntry> Entries { get; init; }

    /// <summary>The files.</summary>
    public required IReadOnlyList<CrashFile> Files { get; init; }

    /// <summary>The tree after each namespace operation; the first is the starting tree.</summary>
    public required IReadOnlyList<CrashNsState> States { get; init; }

    /// <summary>The completed persistence points of directory entries (the starting state's sync first).</summary>
    public required IReadOnlyList<CrashDirPromise> DirPromises { get; init; }

    /// <summary>Every operation with its log entries.</summary>
    public required IReadOnlyList<CrashOpSpan> Spans { get; init; }

    /// <summary>The last operation that returned before log entry <paramref name="crashAt"/>, and the one in progress there.</summary>
    public string Where(int crashAt)
    {
        var done = Spans.LastOrDefault(s => s.End <= crashAt);
        var inside = Spans.FirstOrDefault(s => s.Start < crashAt && crashAt < s.End);
        var returned = done.Name is null ? "no operation had returned" : $"#{done.Index} '{done.Name}' had returned";
        return inside.Name is null ? returned : $"{returned}; #{inside.Index} '{inside.Name}' was in progress";
    }
}
