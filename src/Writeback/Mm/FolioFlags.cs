namespace Writeback.Mm;

/// <summary>A folio's state bits.</summary>
/// <remarks>Kernel: enum pageflags (PG_locked, PG_uptodate, PG_dirty, PG_writeback,
/// PG_waiters, PG_dropbehind).</remarks>
[Flags]
public enum FolioFlags
{
    /// <summary>No bit set.</summary>
    None = 0,

    /// <summary>PG_locked: someone holds the folio lock.</summary>
    Locked = 1 << 0,

    /// <summary>PG_uptodate: the data is valid.</summary>
    Uptodate = 1 << 1,

    /// <summary>PG_dirty: the data must be written back.</summary>
    Dirty = 1 << 2,

    /// <summary>PG_writeback: writeback I/O is in flight.</summary>
    Writeback = 1 << 3,

    /// <summary>PG_waiters: someone sleeps on the hashed wait queue for this folio.</summary>
    Waiters = 1 << 4,

    /// <summary>PG_dropbehind: drop the folio from the cache once written (RWF_DONTCACHE).</summary>
    Dropbehind = 1 << 5,

    /// <summary>PG_referenced: used since reclaim last looked (a second chance on the LRU).</summary>
    Referenced = 1 << 6,
}
