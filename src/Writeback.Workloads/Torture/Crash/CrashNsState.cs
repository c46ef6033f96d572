namespace Writeback.Workloads.Torture.Crash;

/// <summary>The whole tree (path → entry, the root left out) after a namespace operation whose
/// log entries are [<paramref name="Start"/>, <paramref name="End"/>).</summary>
internal sealed record CrashNsState(string Name, int Start, int End, IReadOnlyDictionary<string, CrashNsEntry> Tree);
