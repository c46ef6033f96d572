namespace Writeback.Workloads.Torture.Crash;

/// <summary>An operation of the workload and the log entries it made, [<paramref name="Start"/>, <paramref name="End"/>).</summary>
internal readonly record struct CrashOpSpan(int Index, string Name, int Start, int End);
