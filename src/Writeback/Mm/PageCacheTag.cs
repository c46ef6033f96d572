using Writeback.Lib;

namespace Writeback.Mm;

/// <summary>The page-cache tags: XArray marks on i_pages (include/linux/fs.h).</summary>
public static class PageCacheTag
{
    /// <summary>PAGECACHE_TAG_DIRTY: the folio is dirty (set by mark-dirty, cleared by start-writeback).</summary>
    public const XaMark Dirty = XaMark.Mark0;

    /// <summary>PAGECACHE_TAG_WRITEBACK: the folio is under writeback.</summary>
    public const XaMark Writeback = XaMark.Mark1;

    /// <summary>PAGECACHE_TAG_TOWRITE: tagged for the current integrity pass.</summary>
    public const XaMark ToWrite = XaMark.Mark2;
}
