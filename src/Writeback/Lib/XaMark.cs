namespace Writeback.Lib;

/// <summary>The three XArray marks. The page cache uses them as its DIRTY, WRITEBACK and TOWRITE tags.</summary>
/// <remarks>Kernel: XA_MARK_0..XA_MARK_2 in include/linux/xarray.h.</remarks>
public enum XaMark
{
    /// <summary>XA_MARK_0 (PAGECACHE_TAG_DIRTY).</summary>
    Mark0 = 0,

    /// <summary>XA_MARK_1 (PAGECACHE_TAG_WRITEBACK).</summary>
    Mark1 = 1,

    /// <summary>XA_MARK_2 (PAGECACHE_TAG_TOWRITE).</summary>
    Mark2 = 2,
}
