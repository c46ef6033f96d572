namespace Writeback.Workloads.Torture.Crash;

/// <summary>A completed persistence point for directory entries: the entries of
/// <paramref name="Dir"/> (every directory when null: a sync) as in namespace state
/// <paramref name="State"/>, promised once log entry <paramref name="End"/> is reached.</summary>
internal readonly record struct CrashDirPromise(string? Dir, int State, int End, string Name);
