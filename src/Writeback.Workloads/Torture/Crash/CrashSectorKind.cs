namespace Writeback.Workloads.Torture.Crash;

/// <summary>What a sector read back from a crash image holds.</summary>
internal enum CrashSectorKind
{
    /// <summary>All zeros: a hole, an unwritten extent, or zeroed data.</summary>
    Zeros,

    /// <summary>A whole stamp: some file's sector from some write.</summary>
    Stamp,

    /// <summary>Neither: metadata, stale or torn data.</summary>
    Garbage,
}
