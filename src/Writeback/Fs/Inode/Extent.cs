namespace Writeback.Fs.Inode;

/// <summary>A run of a file's blocks mapped to a run of disk blocks (or, for delalloc and holes,
/// to none: <see cref="DiskBlock"/> is 0).</summary>
/// <param name="FileBlock">The first file block (offset / block size).</param>
/// <param name="DiskBlock">The first disk block; 0 for a hole or delalloc.</param>
/// <param name="Length">Blocks in the run.</param>
/// <param name="State">What the blocks hold.</param>
public readonly record struct Extent(ulong FileBlock, ulong DiskBlock, uint Length, ExtentState State)
{
    /// <summary>The file block after the run.</summary>
    public ulong FileEnd => FileBlock + Length;

    /// <summary>Whether the run has disk blocks (written or unwritten).</summary>
    public bool IsAllocated => State is ExtentState.Written or ExtentState.Unwritten;

    /// <summary>The part of the run from <paramref name="fileBlock"/> for at most <paramref name="count"/> blocks.</summary>
    public Extent Slice(ulong fileBlock, ulong count)
    {
        var start = Math.Max(fileBlock, FileBlock);
        var end = Math.Min(fileBlock + count, FileEnd);
        if (end <= start)
        {
            throw new ArgumentOutOfRangeException(nameof(fileBlock), fileBlock, $"blocks {fileBlock}+{count} do not meet the extent {FileBlock}+{Length}");
        }

        return this with { FileBlock = start, DiskBlock = IsAllocated ? DiskBlock + (start - FileBlock) : 0, Length = (uint)(end - start) };
    }
}
