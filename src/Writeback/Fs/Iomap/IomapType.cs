namespace Writeback.Fs.Iomap;

/// <summary>What a mapped file range is backed by.</summary>
/// <remarks>Kernel: IOMAP_HOLE, IOMAP_DELALLOC, IOMAP_MAPPED, IOMAP_UNWRITTEN (include/linux/iomap.h).</remarks>
public enum IomapType
{
    /// <summary>No blocks: reads return zeros; a write must allocate.</summary>
    Hole,

    /// <summary>Space reserved, no blocks yet: the page cache holds the data.</summary>
    Delalloc,

    /// <summary>Blocks holding the file's data.</summary>
    Mapped,

    /// <summary>Blocks allocated but not written: reads return zeros; a write needs a conversion when it completes.</summary>
    Unwritten,
}
