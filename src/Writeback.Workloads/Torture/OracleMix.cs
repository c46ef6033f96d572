namespace Writeback.Workloads.Torture;

/// <summary>Which operations an oracle run draws from.</summary>
public enum OracleMix
{
    /// <summary>Everything: the classic operations plus appends, renames and unlinks across the
    /// files (an unlinked or renamed-over file held open stays readable until it is closed).</summary>
    Full,

    /// <summary>The original fsx mix (reads and writes of every kind, truncate, fallocate, punch
    /// hole, fsync, fdatasync, close and reopen, drop caches, sync, unmount and mount) on files
    /// that are never removed: a seed draws the same sequence it drew before the oracle moved
    /// into the library.</summary>
    Classic,
}
