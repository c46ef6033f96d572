namespace Writeback.Fs.Iomap;

/// <summary>What an ioend's completion must do besides ending writeback.</summary>
/// <remarks>Kernel: IOMAP_IOEND_UNWRITTEN, IOMAP_IOEND_DONTCACHE (6.16 until the merged series)
/// and IOMAP_IOEND_DIRECT; ioends with different flags never merge (IOMAP_IOEND_NOMERGE_FLAGS).</remarks>
[Flags]
public enum IoendFlags
{
    /// <summary>None.</summary>
    None = 0,

    /// <summary>It wrote unwritten blocks: they need converting.</summary>
    Unwritten = 1,

    /// <summary>It wrote dropbehind folios.</summary>
    Dontcache = 2,
}
