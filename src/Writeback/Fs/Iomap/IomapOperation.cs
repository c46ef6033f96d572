namespace Writeback.Fs.Iomap;

/// <summary>Why a mapping is asked for.</summary>
/// <remarks>Kernel: the IOMAP_WRITE, IOMAP_ZERO, IOMAP_DIRECT, IOMAP_REPORT flags of iomap_begin.</remarks>
[Flags]
public enum IomapOperation
{
    /// <summary>A read (IOMAP_REPORT-like: no allocation).</summary>
    Read = 0,

    /// <summary>A write: the filesystem may reserve or allocate.</summary>
    Write = 1,

    /// <summary>Zeroing a range (nothing is allocated for holes and unwritten extents).</summary>
    Zero = 2,

    /// <summary>Direct I/O: blocks must be real (allocated unwritten over holes).</summary>
    Direct = 4,
}
