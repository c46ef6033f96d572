using System.Threading;
using Writeback.Kernel;
using Writeback.Lib;

namespace Writeback.Mm;

/// <summary>A file's page cache: its folios in i_pages, with the page-cache tags.</summary>
/// <remarks>Kernel: struct address_space and mm/filemap.c. Each function takes i_pages with the
/// kernel's flavour in <see cref="CompletionMode.Irq"/> — add and remove <c>_irq</c>,
/// mark-dirty and start/end writeback <c>_irqsave</c>, tag-for-writeback <c>_irq</c> with a pause
/// every 4096 entries — and plain in <see cref="CompletionMode.Task"/> (or when
/// <see cref="PageCacheOptions.ForcePlainLock"/> forces it). Lookups take no lock.</remarks>
public sealed partial class AddressSpace
{
    /// <summary>Entries tagged per hold of the lock before it is dropped (XA_CHECK_SCHED).</summary>
    public const int CheckSched = 4096;

    private long _nrPages;

    /// <summary>An empty mapping in <paramref name="cache"/>, owned by <paramref name="ops"/> (null: nothing to write back to).</summary>
    public AddressSpace(PageCache cache, string name = "mapping", IAddressSpaceOperations? ops = null, BackingDevice? bdi = null)
    {
        ArgumentNullException.ThrowIfNull(cache);
        Cache = cache;
        Name = name;
        Ops = ops;
        Bdi = bdi;
        Pages = new XArray<Folio>(PageCache.PagesLockClass, cache.IrqSafeLock ? XaLockType.Irq : XaLockType.Plain);
    }

    /// <summary>The page cache.</summary>
    public PageCache Cache { get; }

    /// <summary>The owner's operations (a_ops).</summary>
    public IAddressSpaceOperations? Ops { get; }

    /// <summary>The backing device whose flusher writes this mapping back, if any.</summary>
    public BackingDevice? Bdi { get; }

    /// <summary>A name for reports.</summary>
    public string Name { get; }

    /// <summary>The folios, by page index (i_pages).</summary>
    public XArray<Folio> Pages { get; }

    /// <summary>Pages cached (nrpages).</summary>
    public long NrPages => Interlocked.Read(ref _nrPages);

    /// <summary>Where cyclic writeback resumes (writeback_index).</summary>
    public ulong WritebackIndex { get; set; }

    /// <summary>Marks a locked folio of this mapping dirty through the owner's hook (folio_mark_dirty()).</summary>
    public bool DirtyFolio(Folio folio)
    {
        ArgumentNullException.ThrowIfNull(folio);
        return Ops is { } ops ? ops.DirtyFolio(this, folio) : folio.MarkDirty();
    }

    /// <summary>Whether any folio has <paramref name="tag"/> (mapping_tagged()).</summary>
    public bool Tagged(XaMark tag) => Pages.Marked(tag);

    /// <summary>Inserts a new folio at <paramref name="index"/> (aligned to its order): it is
    /// locked, gains a reference for the cache and points at this mapping. Returns
    /// <see cref="Errno.EEXIST"/> if any page of the range is cached.</summary>
    /// <remarks>Kernel: filemap_add_folio() / __filemap_add_folio(): xas_lock_irq, a conflict
    /// check over the range, a multi-index store, and the xas_nomem() retry with the lock
    /// dropped. Context: Process context. May sleep.</remarks>
    public Errno AddFolio(Folio folio, ulong index)
    {
        ArgumentNullException.ThrowIfNull(folio);
        if (folio.Mapping is not null)
        {
            throw new InvalidOperationException("filemap_add_folio: the folio is already in a mapping");
        }

        index &= ~((ulong)folio.Pages - 1);
        if (!folio.TryLock())
        {
            Bug.Fail("filemap_add_folio: a new folio is locked by someone else");
        }

        folio.Get();
        var xas = new XaState<Folio>(Pages, index, folio.Order);
        do
        {
            LockPagesIrq();
            var probe = index;
            if (Pages.Find(ref probe, index + (ulong)folio.Pages - 1) is not null)
            {
                UnlockPagesIrq();
                folio.Put();
                folio.Unlock();
                return Errno.EEXIST;
            }

            folio.Mapping = this;
            folio.Index = index;
            xas.Store(folio);
            if (xas.Error == Errno.None)
            {
                Interlocked.Add(ref _nrPages, folio.Pages);
                Cache.AccountAdded(folio);
            }
            else
            {
                folio.Mapping = null;
            }

            UnlockPagesIrq();
        }
        while (xas.Nomem());

        return Errno.None;
    }

    /// <summary>Removes a folio from the cache and drops the cache's reference.</summary>
    /// <remarks>Kernel: filemap_remove_folio() → page_cache_delete(): xas_store(NULL) with its
    /// marks cleared, under xa_lock_irq. Context: Process context; the folio is locked.</remarks>
    public void RemoveFolio(Folio folio)
    {
        ArgumentNullException.ThrowIfNull(folio);
        if (!folio.Test(FolioFlags.Locked))
        {
            Bug.Fail("filemap_remove_folio: the folio is not locked");
        }

        if (!ReferenceEquals(folio.Mapping, this))
        {
            return;
        }

        LockPagesIrq();
        var xas = new XaState<Folio>(Pages, folio.Index, folio.Order);
        xas.Store(null);
        folio.Mapping = null;
        Interlocked.Add(ref _nrPages, -folio.Pages);
        UnlockPagesIrq();
        Cache.AccountRemoved(folio);
        folio.Put();
    }

    /// <summary>The folio cached at <paramref name="index"/>, with a reference the caller must put, or null.</summary>
    /// <remarks>Kernel: filemap_get_entry(): load under RCU, folio_try_get(), then check the slot
    /// still holds the folio (xas_reload()), else drop it and retry. Context: Any context. Takes no lock.</remarks>
    public Folio? GetFolio(ulong index)
    {
        var xas = new XaState<Folio>(Pages, index);
        while (true)
        {
            xas.Reset();
            var folio = xas.Load();
            if (folio is null)
            {
                return null;
            }

            if (!folio.TryGet())
            {
                continue;
            }

            if (ReferenceEquals(xas.Reload(), folio))
            {
                folio.MarkAccessed();
                return folio;
            }

            folio.Put();
        }
    }

    /// <summary>Tags every DIRTY folio in [<paramref name="start"/>, <paramref name="end"/>] TOWRITE
    /// for an integrity pass, dropping the lock every <see cref="CheckSched"/> entries.</summary>
    /// <remarks>Kernel: tag_pages_for_writeback(): xas_lock_irq, xas_for_each_marked(DIRTY),
    /// xas_set_mark(TOWRITE), and every XA_CHECK_SCHED entries xas_pause(), unlock,
    /// cond_resched(), relock. Context: Process context. May sleep.</remarks>
    public void TagPagesForWriteback(ulong start, ulong end)
    {
        var xas = new XaState<Folio>(Pages, start);
        var tagged = 0;
        LockPagesIrq();
        for (var folio = xas.FindMarked(end, PageCacheTag.Dirty); folio is not null; folio = xas.FindMarked(end, PageCacheTag.Dirty))
        {
            xas.SetMark(PageCacheTag.ToWrite);
            if (++tagged % CheckSched == 0)
            {
                xas.Pause();
                UnlockPagesIrq();
                Context.CondResched();
                LockPagesIrq();
            }
        }

        UnlockPagesIrq();
    }

    // ---- the i_pages lock, by the mode's flavour ----

    internal IrqFlags LockPagesIrqSave()
    {
        if (Cache.IrqSafeLock)
        {
            return Pages.Lock.LockIrqSave();
        }

        Pages.Lock.Lock();
        return default;
    }

    internal void UnlockPagesIrqRestore(IrqFlags flags)
    {
        if (Cache.IrqSafeLock)
        {
            Pages.Lock.UnlockIrqRestore(flags);
        }
        else
        {
            Pages.Lock.Unlock();
        }
    }

    internal void LockPagesIrq()
    {
        if (Cache.IrqSafeLock)
        {
            Pages.Lock.LockIrq();
        }
        else
        {
            Pages.Lock.Lock();
        }
    }

    internal void UnlockPagesIrq()
    {
        if (Cache.IrqSafeLock)
        {
            Pages.Lock.UnlockIrq();
        }
        else
        {
            Pages.Lock.Unlock();
        }
    }
}
