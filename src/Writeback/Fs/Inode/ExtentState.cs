namespace Writeback.Fs.Inode;

/// <summary>What an extent's blocks hold.</summary>
/// <remarks>Kernel: XFS's written and unwritten extents; delalloc extents exist only in memory
/// (they are not stored on disk) and a hole is the absence of an extent.</remarks>
public enum ExtentState : byte
{
    /// <summary>The blocks hold the file's data.</summary>
    Written = 1,

    /// <summary>Allocated but not yet written: reads return zeros (fallocate, direct I/O into a hole).</summary>
    Unwritten = 2,
}
