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
        cache.RegisterMapping(this);
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

    /// <summary>Pages cached in this mapping (nrpages): changed in the same i_pages hold as the
    /// store that adds or removes a folio, so it is exact for the mapping — unlike the cache-wide
    /// <see cref="PageCache.NrCached"/> and <see cref="PageCache.LiveFolios"/>, which count every
    /// mapping of a shared cache. Zero after truncating the whole mapping.</summary>
    /// <remarks>Context: Any context.</remarks>
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

    /// <summary>Checks the rules that hold at every instant for a mapping in use — writers,
    /// writeback, completions in any context and truncation may run meanwhile — and returns one
    /// line per broken rule, naming the mapping, the folio index and the rule; empty when all hold.</summary>
    /// <remarks>Under the i_pages lock (every change to the tree, its tags, a folio's place and
    /// nrpages is made under it) it checks:
    /// <list type="bullet">
    /// <item>the XArray's structure (counts, links, mark propagation, root marks): every writer
    /// holds the lock and leaves the tree whole when it drops it to allocate;</item>
    /// <item>each folio sits at its own aligned index with its own order and points at this
    /// mapping: add sets folio-&gt;mapping and index before its store and undoes them on failure in
    /// the same hold; removal erases and clears folio-&gt;mapping in one hold;</item>
    /// <item>each cached folio holds a reference (the cache's, taken before the store and dropped
    /// after the erase);</item>
    /// <item>WRITEBACK tag ⇒ PG_writeback: start-writeback sets the bit before it takes the lock to
    /// set the tag, and end-writeback clears both in one hold;</item>
    /// <item>TOWRITE ⇒ DIRTY or WRITEBACK tag: TOWRITE is set only on DIRTY entries in the hold
    /// that finds them, and start-writeback clears DIRTY and sets WRITEBACK in one hold, clearing
    /// TOWRITE too — keep_write keeps it only for a redirtied folio, whose DIRTY tag stays;</item>
    /// <item>nrpages equals the pages of the folios in the tree.</item>
    /// </list>
    /// Two rules are broken for a moment by design and are checked only for a folio the check can
    /// lock itself (folio_trylock(), taken and released outside the i_pages lock): PG_dirty ⇒ DIRTY
    /// tag (folio_mark_dirty() sets the bit, then takes the lock to tag) and PG_writeback ⇒
    /// WRITEBACK tag (start-writeback, as above). Both run under the folio lock, so a folio the
    /// check holds locked cannot be between the two steps. Only folios that look broken under
    /// i_pages are locked, so a clean run locks almost nothing; a folio whose lock is taken is
    /// skipped. Not checked: DIRTY tag ⇒ PG_dirty or locked — iomap writeback of a folio wholly
    /// past EOF (a truncate racing it) unlocks it with PG_dirty cleared and the tag left for the
    /// truncate to remove, as the kernel does (see <see cref="PageCache.CheckQuiescentInvariants"/>).
    /// Model: a checking aid with no kernel counterpart; it holds i_pages, with interrupts off in
    /// IRQ mode, for a walk of the whole mapping, which shows in lock and irqsoff statistics.
    /// Context: Process context. May sleep. Takes and releases the i_pages lock (irqsave when it
    /// is IRQ-safe) and folio locks, by trylock only.</remarks>
    public IReadOnlyList<string> CheckInvariants()
    {
        Context.MightSleep();
        var problems = new List<string>();
        var suspects = new List<Folio>();
        var flags = LockPagesIrqSave();
        CheckLocked(problems, suspects, quiescent: false);
        UnlockPagesIrqRestore(flags);
        foreach (var folio in suspects)
        {
            RecheckUnderFolioLock(folio, problems);
            folio.Put();
        }

        return problems;
    }

    /// <summary>The checks of <see cref="CheckInvariants"/> plus the ones that hold only when nothing
    /// runs (every folio's bits match its tags exactly, and a DIRTY tag on a clean folio only while
    /// it is locked); returns the folios, dirty pages and writeback pages it saw, for the cache's
    /// accounting.</summary>
    /// <remarks>Context: Process context; no page-cache operation may run meanwhile. Takes and
    /// releases the i_pages lock.</remarks>
    internal (long Folios, long DirtyPages, long WritebackPages) CheckQuiescent(List<string> problems)
    {
        var flags = LockPagesIrqSave();
        var seen = CheckLocked(problems, suspects: null, quiescent: true);
        UnlockPagesIrqRestore(flags);
        return seen;
    }

    /// <summary>Walks the tree under i_pages; broken-for-a-moment rules go to
    /// <paramref name="suspects"/> (with a reference), or are checked outright when quiescent.</summary>
    private (long Folios, long DirtyPages, long WritebackPages) CheckLocked(List<string> problems, List<Folio>? suspects, bool quiescent)
    {
        Pages.Lock.AssertHeld();
        var structure = new List<string>();
        Pages.CollectInvariantViolations(structure);
        foreach (var what in structure)
        {
            problems.Add($"{Name}: i_pages: {what}");
        }

        if (structure.Count > 0)
        {
            // A broken tree could send the walk astray: its entries are not checked.
            return default;
        }

        long folios = 0, pages = 0, dirty = 0, writeback = 0;
        foreach (var (index, folio) in Pages.Entries())
        {
            folios++;
            pages += folio.Pages;
            var isDirty = folio.Test(FolioFlags.Dirty);
            var underWriteback = folio.Test(FolioFlags.Writeback);
            dirty += isDirty ? folio.Pages : 0;
            writeback += underWriteback ? folio.Pages : 0;
            CheckEntry(index, folio, problems);
            var transient = (isDirty && !Pages.GetMark(index, PageCacheTag.Dirty)) || (underWriteback && !Pages.GetMark(index, PageCacheTag.Writeback));
            if (quiescent)
            {
                CheckTagsMatchBits(folio, problems);
                if (Pages.GetMark(index, PageCacheTag.Dirty) && !folio.Test(FolioFlags.Dirty) && !folio.Test(FolioFlags.Locked))
                {
                    problems.Add(Problem(index, "has the DIRTY tag but is clean and unlocked"));
                }
            }
            else if (transient && folio.TryGet())
            {
                suspects!.Add(folio);
            }
        }

        if (pages != NrPages)
        {
            problems.Add($"{Name}: nrpages is {NrPages} but the folios in i_pages span {pages} pages");
        }

        return (folios, dirty, writeback);
    }

    /// <summary>The rules on one entry that hold at every instant under i_pages.</summary>
    private void CheckEntry(ulong index, Folio folio, List<string> problems)
    {
        if (folio.Index != index || !ReferenceEquals(folio.Mapping, this))
        {
            problems.Add(Problem(index, $"is not where it says it is (folio->index {folio.Index}, folio->mapping {folio.Mapping?.Name ?? "null"})"));
        }

        if ((index & ((ulong)folio.Pages - 1)) != 0 || Pages.GetOrder(index) != folio.Order)
        {
            problems.Add(Problem(index, $"of order {folio.Order} is stored misaligned or with order {Pages.GetOrder(index)}"));
        }

        if (folio.RefCount < 1)
        {
            problems.Add(Problem(index, $"is cached with reference count {folio.RefCount}"));
        }

        var dirtyTag = Pages.GetMark(index, PageCacheTag.Dirty);
        var writebackTag = Pages.GetMark(index, PageCacheTag.Writeback);
        if (writebackTag && !folio.Test(FolioFlags.Writeback))
        {
            problems.Add(Problem(index, "has the WRITEBACK tag without PG_writeback"));
        }

        if (Pages.GetMark(index, PageCacheTag.ToWrite) && !dirtyTag && !writebackTag)
        {
            problems.Add(Problem(index, "has the TOWRITE tag without the DIRTY or WRITEBACK tag"));
        }
    }

    /// <summary>PG_dirty ⇒ DIRTY tag and PG_writeback ⇒ WRITEBACK tag, for a folio the caller
    /// holds locked (or, quiescent, any folio), under i_pages.</summary>
    private void CheckTagsMatchBits(Folio folio, List<string> problems)
    {
        if (folio.Test(FolioFlags.Dirty) && !Pages.GetMark(folio.Index, PageCacheTag.Dirty))
        {
            problems.Add(Problem(folio.Index, "is dirty without the DIRTY tag"));
        }

        if (folio.Test(FolioFlags.Writeback) && !Pages.GetMark(folio.Index, PageCacheTag.Writeback))
        {
            problems.Add(Problem(folio.Index, "is under writeback without the WRITEBACK tag"));
        }
    }

    /// <summary>Checks a folio that looked broken under i_pages again with its lock held, if the
    /// lock is free: then no mark-dirty or start-writeback can be half done on it.</summary>
    private void RecheckUnderFolioLock(Folio folio, List<string> problems)
    {
        if (!folio.TryLock())
        {
            return;
        }

        var flags = LockPagesIrqSave();
        if (ReferenceEquals(folio.Mapping, this) && ReferenceEquals(Pages.Load(folio.Index), folio))
        {
            CheckTagsMatchBits(folio, problems);
        }

        UnlockPagesIrqRestore(flags);
        folio.Unlock();
    }

    private string Problem(ulong index, string rule) => $"{Name}: folio {index} {rule}";

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
