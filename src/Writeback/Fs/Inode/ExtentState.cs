namespace Writeback.Fs.Inode;

/// <summary>What a run of a file's blocks holds.</summary>
/// <remarks>Kernel: XFS's written (XFS_EXT_NORM) and unwritten extents, its in-memory delalloc
/// extents (startblock "nullstartblock"), and a hole, which is the absence of an extent. Only
/// <see cref="Written"/> and <see cref="Unwritten"/> are stored on disk; <see cref="Hole"/>
/// appears only in the answer to a mapping query.</remarks>
public enum ExtentState : byte
{
    /// <summary>No blocks: reads return zeros (only in mapping answers).</summary>
    Hole = 0,

    /// <summary>The blocks hold the file's data.</summary>
    Written = 1,

    /// <summary>Allocated but not yet written: reads return zeros (fallocate, direct I/O into a
    /// hole, delalloc converted at writeback until its data is on disk).</summary>
    Unwritten = 2,

    /// <summary>Space reserved by a buffered write, with no block chosen yet (in memory only).</summary>
    Delalloc = 3,
}
