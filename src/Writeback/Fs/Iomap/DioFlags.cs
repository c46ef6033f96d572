namespace Writeback.Fs.Iomap;

/// <summary>What a direct I/O's completion must do.</summary>
/// <remarks>Kernel: IOMAP_DIO_COMP_WORK, _NEED_SYNC, _WRITE_THROUGH, _UNWRITTEN, plus the size
/// extension that forces COMP_WORK ("i_size updates must happen in process context").</remarks>
[Flags]
public enum DioFlags
{
    /// <summary>None.</summary>
    None = 0,

    /// <summary>The completion needs task context (IOMAP_DIO_COMP_WORK).</summary>
    CompWork = 1,

    /// <summary>It wrote unwritten blocks: they need converting.</summary>
    Unwritten = 2,

    /// <summary>It ends past i_size: the size must be raised.</summary>
    ExtendSize = 4,

    /// <summary>O_DSYNC / O_SYNC: durable at completion (IOMAP_DIO_NEED_SYNC).</summary>
    NeedSync = 8,

    /// <summary>O_SYNC: metadata too.</summary>
    SyncAll = 16,

    /// <summary>Every bio went out with FUA: no sync needed (IOMAP_DIO_WRITE_THROUGH).</summary>
    WriteThrough = 32,
}
