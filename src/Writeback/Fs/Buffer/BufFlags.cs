namespace Writeback.Fs.Buffer;

/// <summary>A metadata buffer's state bits.</summary>
/// <remarks>Kernel: XBF_* and _XBF_* in fs/xfs/xfs_buf.h.</remarks>
[Flags]
public enum BufFlags
{
    /// <summary>No bit set.</summary>
    None = 0,

    /// <summary>XBF_DONE: the contents are valid (read and verified, or written by us).</summary>
    Done = 1 << 0,

    /// <summary>XBF_ASYNC: nobody waits for the I/O; its completion releases the buffer.</summary>
    Async = 1 << 1,

    /// <summary>XBF_WRITE: the I/O in flight is a write.</summary>
    Write = 1 << 2,

    /// <summary>_XBF_DELWRI_Q: modified and queued for delayed write; never reclaimed.</summary>
    Dirty = 1 << 3,

    /// <summary>XBF_STALE: the block was freed; the contents must not be written.</summary>
    Stale = 1 << 4,
}
