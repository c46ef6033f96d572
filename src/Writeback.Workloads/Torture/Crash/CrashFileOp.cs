namespace Writeback.Workloads.Torture.Crash;

/// <summary>One operation as a file saw it: its log entries [<paramref name="Start"/>,
/// <paramref name="End"/>), the file as the model has it afterwards (sector → generation, absent
/// = zeros; size), and what the operation had made durable by the time it returned: the sectors
/// [<paramref name="CoverFrom"/>, <paramref name="CoverTo"/>) as they are afterwards, the size if
/// <paramref name="SizeDurable"/>, and for an O_DSYNC or O_SYNC write at least the size
/// <paramref name="DsyncEnd"/>.</summary>
internal sealed record CrashFileOp(string Name, int Start, int End, IReadOnlyDictionary<long, int> Content, long Size, long CoverFrom, long CoverTo, bool SizeDurable, long DsyncEnd);
