namespace Writeback.Workloads.Torture.Crash;

/// <summary>One of the operations ACE-style sequences are made of, with its fixed arguments: a
/// kind and the file (label "A" or "B") or directory ("/" or "/D") it acts on.</summary>
/// <param name="Name">How sequences name it ("append A", "fsync /D").</param>
/// <param name="Kind">What it does.</param>
/// <param name="Target">The file's label, or the directory; null for sync.</param>
/// <param name="Tag">Which of write, overwrite and append a write is; null otherwise.</param>
public sealed record AceOperation(string Name, CrashOpKind Kind, string? Target, string? Tag)
{
    /// <summary>Whether the operation is a persistence point.</summary>
    public bool IsPersistence => Kind is CrashOpKind.Fsync or CrashOpKind.Fdatasync or CrashOpKind.FsyncDir or CrashOpKind.Sync;
}
