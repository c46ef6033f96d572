namespace Writeback.Fs;

/// <summary>How a file is opened.</summary>
/// <remarks>Kernel: the open(2) flags the model honours.</remarks>
[Flags]
public enum OpenFlags
{
    /// <summary>Buffered I/O on an existing file.</summary>
    None = 0,

    /// <summary>O_CREAT: create the file if it does not exist.</summary>
    Create = 1,

    /// <summary>O_EXCL (with <see cref="Create"/>): fail with EEXIST if it exists.</summary>
    Exclusive = 2,

    /// <summary>O_TRUNC: truncate to zero.</summary>
    Truncate = 4,

    /// <summary>O_DIRECT: reads and writes bypass the page cache (aligned to the block size).</summary>
    Direct = 8,

    /// <summary>O_DSYNC: each write is durable, with what is needed to read it back, when it returns.</summary>
    Dsync = 16,

    /// <summary>O_SYNC: each write is durable, with all its metadata, when it returns.</summary>
    Sync = 32,
}
