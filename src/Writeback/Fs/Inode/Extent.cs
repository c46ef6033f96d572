namespace Writeback.Fs.Inode;

/// <summary>A run of a file's blocks mapped to a run of disk blocks.</summary>
/// <param name="FileBlock">The first file block (offset / block size).</param>
/// <param name="DiskBlock">The first disk block.</param>
/// <param name="Length">Blocks in the run.</param>
/// <param name="State">Written or unwritten.</param>
public readonly record struct Extent(ulong FileBlock, ulong DiskBlock, uint Length, ExtentState State)
{
    /// <summary>The file block after the run.</summary>
    public ulong FileEnd => FileBlock + Length;
}
