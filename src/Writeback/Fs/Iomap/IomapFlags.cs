namespace Writeback.Fs.Iomap;

/// <summary>Properties of a mapping.</summary>
/// <remarks>Kernel: IOMAP_F_NEW, IOMAP_F_DIRTY (include/linux/iomap.h).</remarks>
[Flags]
public enum IomapFlags
{
    /// <summary>None.</summary>
    None = 0,

    /// <summary>The blocks were allocated for this operation (IOMAP_F_NEW).</summary>
    New = 1,

    /// <summary>The inode has metadata not yet durable that a data-integrity sync must commit (IOMAP_F_DIRTY).</summary>
    Dirty = 2,
}
