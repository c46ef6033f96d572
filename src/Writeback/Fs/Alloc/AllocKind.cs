namespace Writeback.Fs.Alloc;

/// <summary>Whose blocks an allocation takes, which decides what it may use.</summary>
public enum AllocKind
{
    /// <summary>Directory and extent blocks: may use the set-aside pool.</summary>
    Metadata,

    /// <summary>File data allocated directly (fallocate, direct I/O): only available blocks.</summary>
    Data,

    /// <summary>File data whose blocks a buffered write reserved: taken out of that reservation.</summary>
    Delalloc,
}
