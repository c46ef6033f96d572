namespace Writeback.Workloads.Torture.Crash;

/// <summary>A sector read back: its kind and, for a stamp, whose sector it is and which write put it there.</summary>
internal readonly record struct CrashSector(CrashSectorKind Kind, int FileId, long FileSector, int Gen);
