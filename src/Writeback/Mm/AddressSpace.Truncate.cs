using Writeback.Kernel;

namespace Writeback.Mm;

/// <summary>Truncation of a mapping's cache, and its tag invariants (mm/truncate.c).</summary>
public sealed partial class AddressSpace
{
    /// <summary>Removes every folio from byte <paramref name="from"/> on, waiting for writeback of
    /// each; zeroes the tail of a folio that straddles <paramref name="from"/>.</summary>
    /// <remarks>Kernel: truncate_inode_pages(). Context: Process context. May sleep.</remarks>
    public void TruncatePages(long from) => TruncatePagesRange(from, long.MaxValue);

    /// <summary>Removes the folios wholly inside bytes [<paramref name="start"/>, <paramref name="end"/>),
    /// waiting for writeback of each, and zeroes the part of the range in a folio that straddles
    /// either edge (keeping that folio).</summary>
    /// <remarks>Kernel: truncate_inode_pages_range(): lock each folio, wait for its writeback,
    /// clear it and delete it from i_pages (xa_lock_irq); a partial folio is zeroed over the range
    /// and kept, its owner told through invalidate_folio. Context: Process context. May sleep.</remarks>
    public void TruncatePagesRange(long start, long end)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfLessThan(end, start);
        var index = (ulong)start / Folio.PageSize;
        while (true)
        {
            var at = index;
            if (Pages.Find(ref at, ulong.MaxValue) is null || (long)Math.Min(at, long.MaxValue / Folio.PageSize) * Folio.PageSize >= end)
            {
                return;
            }

            if (GetFolio(at) is not { } folio)
            {
                // Removed between the find and the lookup (reclaim): look again.
                continue;
            }

            folio.Lock();
            folio.WaitWriteback();
            var folioStart = (long)folio.Index * Folio.PageSize;
            var folioEnd = folioStart + folio.Size;
            if (ReferenceEquals(folio.Mapping, this))
            {
                if (folioStart >= start && folioEnd <= end)
                {
                    Ops?.InvalidateFolio(this, folio, 0, folio.Size);
                    folio.ClearDirtyForIo();
                    RemoveFolio(folio);
                }
                else
                {
                    var from = (int)(Math.Max(folioStart, start) - folioStart);
                    var to = (int)(Math.Min(folioEnd, end) - folioStart);
                    Ops?.InvalidateFolio(this, folio, from, to - from);
                    folio.Data.AsSpan(from, to - from).Clear();
                }
            }

            folio.Unlock();
            folio.Put();
            index = Math.Max(at + 1, folio.Index + (ulong)folio.Pages);
        }
    }

    /// <summary>Removes every folio that overlaps bytes [<paramref name="start"/>, <paramref name="end"/>)
    /// — whole folios, waiting for writeback — unless it is dirty; returns EBUSY if a dirty one had to stay.</summary>
    /// <remarks>Kernel: invalidate_inode_pages2_range(), what direct I/O uses before and after a
    /// write so that the cache cannot hide it (a dirty folio there is a race the kernel warns
    /// about: dio_warn_stale_pagecache). Context: Process context. May sleep.</remarks>
    public Errno InvalidatePagesRange(long start, long end)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfLessThan(end, start);
        var result = Errno.None;
        var index = (ulong)start / Folio.PageSize;
        var last = (ulong)Math.Max(start, end - 1) / Folio.PageSize;
        while (end > start)
        {
            var at = index;
            if (Pages.Find(ref at, last) is null)
            {
                return result;
            }

            if (GetFolio(at) is not { } folio)
            {
                continue;
            }

            folio.Lock();
            folio.WaitWriteback();
            if (ReferenceEquals(folio.Mapping, this))
            {
                if (folio.Test(FolioFlags.Dirty))
                {
                    result = Errno.EBUSY;
                }
                else
                {
                    Ops?.InvalidateFolio(this, folio, 0, folio.Size);
                    RemoveFolio(folio);
                }
            }

            folio.Unlock();
            folio.Put();
            index = Math.Max(at + 1, folio.Index + (ulong)folio.Pages);
        }

        return result;
    }

    /// <summary>Drops the folios that are clean, unlocked and not under writeback; returns how many.</summary>
    /// <remarks>Kernel: invalidate_mapping_pages() (what echo 1 &gt; /proc/sys/vm/drop_caches does
    /// per inode): a folio is skipped, not waited for, if it is locked, dirty or under
    /// writeback. Context: Process context. May sleep.</remarks>
    public int InvalidateCleanPages()
    {
        var dropped = 0;
        var index = 0UL;
        while (true)
        {
            var at = index;
            if (Pages.Find(ref at, ulong.MaxValue) is null || GetFolio(at) is not { } folio)
            {
                return dropped;
            }

            index = folio.Index + (ulong)folio.Pages;
            if (folio.TryLock())
            {
                if (ReferenceEquals(folio.Mapping, this) && !folio.Test(FolioFlags.Dirty) && !folio.Test(FolioFlags.Writeback))
                {
                    Ops?.InvalidateFolio(this, folio, 0, folio.Size);
                    RemoveFolio(folio);
                    dropped++;
                }

                folio.Unlock();
            }

            folio.Put();
        }
    }

    /// <summary>Checks, for a quiescent mapping, that the tags agree with the folio bits: WRITEBACK
    /// exactly on folios under writeback; DIRTY on every dirty folio, and on a clean one only while
    /// it is locked (between clear-dirty-for-io and start-writeback); TOWRITE only where DIRTY or
    /// WRITEBACK is.</summary>
    /// <remarks>For tests. Context: no writer may run meanwhile.</remarks>
    internal void AssertTagInvariants()
    {
        Pages.AssertInvariants();
        foreach (var (index, folio) in Pages.Entries())
        {
            var dirtyTag = Pages.GetMark(index, PageCacheTag.Dirty);
            var wbTag = Pages.GetMark(index, PageCacheTag.Writeback);
            var toWrite = Pages.GetMark(index, PageCacheTag.ToWrite);
            Check(folio.Index == index && ReferenceEquals(folio.Mapping, this), index, "is not where its index says");
            Check(wbTag == folio.Test(FolioFlags.Writeback), index, "WRITEBACK tag disagrees with PG_writeback");
            Check(!folio.Test(FolioFlags.Dirty) || dirtyTag, index, "is dirty without the DIRTY tag");
            Check(!dirtyTag || folio.Test(FolioFlags.Dirty) || folio.Test(FolioFlags.Locked), index, "has the DIRTY tag, is clean and unlocked");
            Check(!toWrite || dirtyTag || wbTag, index, "has TOWRITE without DIRTY or WRITEBACK");
        }
    }

    private static void Check(bool ok, ulong index, string what)
    {
        if (!ok)
        {
            throw new KernelBugException($"page cache invariant: folio {index} {what}");
        }
    }
}
