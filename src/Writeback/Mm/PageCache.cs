using System.Runtime.CompilerServices;
using System.Threading;
using Writeback.Kernel;

namespace Writeback.Mm;

/// <summary>A machine's page cache: the completion design (and so the i_pages lock flavour),
/// the hashed folio wait table, and folio allocation.</summary>
/// <remarks>Kernel: the mm/filemap.c and mm/page-writeback.c globals (folio_wait_table, the
/// i_pages lock class). Create one per machine, inside its run.</remarks>
public sealed class PageCache
{
    private const int WaitTableSize = 256;
    private long _folioSerial;
    private long _foliosFreed;
    private WeakReference<AddressSpace>[] _mappings = [];
    private static readonly LockClassKey s_waitKey = LockClassKey.ForName("&folio_wait_table[i]");
    private static readonly LockClassKey s_lruKey = LockClassKey.ForName("&lruvec->lru_lock");
    private static readonly LockClassKey s_reclaimWaitKey = LockClassKey.ForName("&pgdat->reclaim_wait");
    private readonly WaitQueueHead[] _waitTable;
    private readonly Writeback.Kernel.SpinLock _lruLock = new(s_lruKey);
    private readonly LinkedList<Folio> _lru = [];
    private readonly List<BackingDevice> _bdis = [];
    private Workqueue? _writebackWq;
    private long _dropbehindRemoved;
    private long _dropbehindSkipped;
    private long _nrCached;
    private long _nrDirty;
    private long _nrWriteback;
    private long _throttled;
    private long _reclaimed;
    private long _reclaimWaits;

    private PageCache(Machine machine, PageCacheOptions options)
    {
        options.Validate();
        Machine = machine;
        Options = options;
        _waitTable = [.. Enumerable.Range(0, WaitTableSize).Select(_ => new WaitQueueHead(s_waitKey))];
        WritebackWait = new WaitQueueHead(s_reclaimWaitKey);
        var limitPages = options.MemoryLimitBytes / Folio.PageSize;
        BackgroundThresholdPages = options.DirtyBackgroundBytes > 0 ? options.DirtyBackgroundBytes / Folio.PageSize : limitPages * options.DirtyBackgroundRatio / 100;
        DirtyThresholdPages = options.DirtyBytes > 0 ? options.DirtyBytes / Folio.PageSize : limitPages * options.DirtyRatio / 100;
    }

    /// <summary>The lock class of every mapping's i_pages lock (&amp;mapping-&gt;i_pages), as lockdep and lock_stat name it.</summary>
    public static LockClassKey PagesLockClass { get; } = LockClassKey.ForName("&mapping->i_pages");

    /// <summary>The machine.</summary>
    public Machine Machine { get; }

    /// <summary>The options.</summary>
    public PageCacheOptions Options { get; }

    /// <summary>True when i_pages is taken with interrupts disabled (IRQ mode, not forced plain).</summary>
    public bool IrqSafeLock => Options.Mode == CompletionMode.Irq && !Options.ForcePlainLock;

    /// <summary>Dropbehind folios removed from the cache when their writeback ended.</summary>
    public long DropbehindRemoved => Interlocked.Read(ref _dropbehindRemoved);

    /// <summary>Dropbehind folios left in the cache because writeback ended where the removal
    /// cannot run (not in task context, or the folio lock was taken).</summary>
    public long DropbehindSkipped => Interlocked.Read(ref _dropbehindSkipped);

    /// <summary>Pages cached in every mapping.</summary>
    public long NrCached => Interlocked.Read(ref _nrCached);

    /// <summary>Folios allocated from this cache and not yet freed — a folio is freed when its last
    /// reference is dropped (folio_put() to zero), which for a cached folio follows its removal
    /// from the cache. After truncating every mapping of the cache, anything left is a leaked
    /// reference. Counts every mapping of the cache: when several filesystems share it, use
    /// <see cref="AddressSpace.NrPages"/> per mapping.</summary>
    /// <remarks>Context: Any context. Read while folios come and go, never below the true count.</remarks>
    public long LiveFolios
    {
        get
        {
            // Frees are read first, so the difference is never below the count at either read.
            var freed = Interlocked.Read(ref _foliosFreed);
            return Interlocked.Read(ref _folioSerial) - freed;
        }
    }

    /// <summary>Dirty pages (NR_FILE_DIRTY).</summary>
    public long NrDirty => Interlocked.Read(ref _nrDirty);

    /// <summary>Pages under writeback (NR_WRITEBACK).</summary>
    public long NrWriteback => Interlocked.Read(ref _nrWriteback);

    /// <summary>Dirty pages above which the flusher writes in the background.</summary>
    public long BackgroundThresholdPages { get; }

    /// <summary>Dirty-plus-writeback pages above which writers are paused.</summary>
    public long DirtyThresholdPages { get; }

    /// <summary>Writer pauses taken in <see cref="BalanceDirtyPages"/>.</summary>
    public long ThrottlePauses => Interlocked.Read(ref _throttled);

    /// <summary>Folios reclaimed to stay under the memory limit.</summary>
    public long Reclaimed => Interlocked.Read(ref _reclaimed);

    /// <summary>Times an allocation found nothing reclaimable and waited for writeback.</summary>
    public long ReclaimWaits => Interlocked.Read(ref _reclaimWaits);

    /// <summary>The flusher's workqueue ("writeback": unbound, usable under reclaim, freezable).</summary>
    public Workqueue WritebackWorkqueue => _writebackWq ??= Machine.AllocWorkqueue("writeback", WqFlags.Unbound | WqFlags.MemReclaim | WqFlags.Freezable);

    /// <summary>Woken when writeback of a folio ends, for throttled writers and waiting reclaim.</summary>
    internal WaitQueueHead WritebackWait { get; }

    internal bool OverBackgroundThreshold => NrDirty > BackgroundThresholdPages;

    /// <summary>Sets up the page cache of <paramref name="machine"/>.</summary>
    public static PageCache Create(Machine machine, PageCacheOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(machine);
        return new PageCache(machine, options ?? new PageCacheOptions());
    }

    /// <summary>A new folio of 2^<paramref name="order"/> pages, zeroed, with one reference, in no
    /// mapping; when the cache is at its memory limit, reclaims first — and if everything is
    /// dirty or under writeback, waits for writeback rather than failing.</summary>
    /// <remarks>Kernel: filemap_alloc_folio() with direct reclaim (shrink_folio_list() of clean
    /// file folios, reclaim_throttle() when it cannot make progress). Context: Process context. May sleep.</remarks>
    public Folio AllocFolio(int order = 0)
    {
        var pages = 1L << order;
        var limit = Options.MemoryLimitBytes / Folio.PageSize;
        while (NrCached + pages > limit && !Reclaim(NrCached + pages - limit))
        {
            var bdis = Bdis();
            if (bdis.Count == 0 && NrWriteback == 0)
            {
                // Nothing will ever clean what fills the cache: fail rather than wait forever.
                throw new InsufficientMemoryException($"page cache: {NrCached} pages cached at the {limit}-page limit, none reclaimable, and no backing device to write them back");
            }

            Interlocked.Increment(ref _reclaimWaits);
            foreach (var bdi in bdis)
            {
                bdi.StartBackground();
            }

            var before = NrCached;
            WritebackWait.WaitEvent(() => NrWriteback == 0 || NrCached < before || ReclaimableSoon());
            Machine.Msleep(1);
        }

        return new Folio(this, order);
    }

    /// <summary>A backing device whose flusher writes back the mappings that name it.</summary>
    public BackingDevice CreateBackingDevice(string name)
    {
        var bdi = new BackingDevice(this, name);
        Register(bdi);
        return bdi;
    }

    /// <summary>Pauses a writer that has pushed dirty memory over the limit, in bounded steps,
    /// after waking the flushers for background writeback above the freerun ceiling.</summary>
    /// <remarks>Kernel: balance_dirty_pages(): free running below (background + hard) / 2; above
    /// it the flusher is woken; above the hard threshold the writer sleeps (at most MAX_PAUSE at a
    /// time) until writeback brings dirty memory down. Context: Process context. May sleep.</remarks>
    public void BalanceDirtyPages()
    {
        var freerun = (BackgroundThresholdPages + DirtyThresholdPages) / 2;
        var pauseMs = 1;
        while (NrDirty + NrWriteback > freerun)
        {
            var bdis = Bdis();
            if (bdis.Count == 0)
            {
                // No flusher could bring dirty memory down: pausing would never end.
                return;
            }

            foreach (var bdi in bdis)
            {
                bdi.StartBackground();
            }

            if (NrDirty + NrWriteback <= DirtyThresholdPages)
            {
                return;
            }

            Interlocked.Increment(ref _throttled);
            Machine.Msleep(pauseMs);
            pauseMs = Math.Min(pauseMs * 2, Options.MaxPauseMs);
        }
    }

    /// <summary>Checks the page cache while it is in use: every mapping's
    /// <see cref="AddressSpace.CheckInvariants"/>, and counters that can never be negative
    /// (<see cref="NrCached"/>, <see cref="NrDirty"/>, <see cref="NrWriteback"/>,
    /// <see cref="LiveFolios"/>); returns one line per broken rule, empty when all hold.</summary>
    /// <remarks>The counters are not compared with the folios here: each moves outside the
    /// i_pages hold that changes what it counts (the cache's page count after the erase, the dirty
    /// count after PG_dirty is set, the writeback count after PG_writeback), and no lock covers
    /// all mappings at once — see <see cref="CheckQuiescentInvariants"/>. They cannot go negative
    /// because each increment precedes its decrement: added pages are counted in the i_pages hold
    /// that stores the folio, and uncounted after the later hold that erases it; a dirty folio is counted by the
    /// folio-lock holder that set PG_dirty, before anyone can lock it to clear the bit; writeback
    /// is counted before the bio that will end it is submitted. Context: Process context. May
    /// sleep. Takes and releases each mapping's i_pages lock in turn.</remarks>
    public IReadOnlyList<string> CheckInvariants()
    {
        Context.MightSleep();
        var problems = new List<string>();
        CheckNotNegative(problems, "nr_cached", NrCached);
        CheckNotNegative(problems, "NR_FILE_DIRTY", NrDirty);
        CheckNotNegative(problems, "NR_WRITEBACK", NrWriteback);
        CheckNotNegative(problems, "live folios", LiveFolios);
        foreach (var mapping in Mappings())
        {
            problems.AddRange(mapping.CheckInvariants());
        }

        return problems;
    }

    /// <summary>Checks the page cache when nothing runs in it: the rules of
    /// <see cref="CheckInvariants"/>, the ones that hold only at rest (PG_dirty and PG_writeback
    /// match their tags exactly, a DIRTY tag on a clean folio only while it is locked), and the
    /// accounting against the folios: <see cref="NrCached"/> is the sum of every mapping's
    /// <see cref="AddressSpace.NrPages"/>, <see cref="NrDirty"/> and <see cref="NrWriteback"/>
    /// the pages of the cached folios with PG_dirty and PG_writeback, and no more folios are
    /// cached than are alive.</summary>
    /// <remarks>Model: a checking aid with no kernel counterpart. Context: Process context. May
    /// sleep. No task, worker or interrupt may be inside a page-cache operation meanwhile (for
    /// example after writing back, waiting, and flushing deferred completions); bios may be held
    /// at a device.</remarks>
    public IReadOnlyList<string> CheckQuiescentInvariants()
    {
        Context.MightSleep();
        var problems = new List<string>(CheckInvariants());
        long folios = 0, pages = 0, dirty = 0, writeback = 0;
        foreach (var mapping in Mappings())
        {
            var seen = mapping.CheckQuiescent(problems);
            folios += seen.Folios;
            pages += mapping.NrPages;
            dirty += seen.DirtyPages;
            writeback += seen.WritebackPages;
        }

        CheckEqual(problems, "nr_cached", NrCached, "the mappings' nrpages", pages);
        CheckEqual(problems, "NR_FILE_DIRTY", NrDirty, "the dirty folios' pages", dirty);
        CheckEqual(problems, "NR_WRITEBACK", NrWriteback, "the pages of folios under writeback", writeback);
        if (folios > LiveFolios)
        {
            problems.Add($"page cache: {folios} folios are cached but only {LiveFolios} are alive");
        }

        return problems;
    }

    /// <summary>Every mapping of this cache still reachable that holds pages, in creation order.</summary>
    /// <remarks>Held weakly: a mapping nothing references any more has no cached folio (a cached
    /// folio points at its mapping and sits on the cache's LRU list), so forgetting it hides
    /// nothing from the checks. Mappings with no pages are left out: whether an unreferenced one
    /// is still reachable depends on when the host's garbage collector ran, and checking it would
    /// take its lock — a scheduling point — so the deterministic engine's schedule would depend
    /// on the host. The cost: an empty mapping's tree is not checked against its nrpages.</remarks>
    internal List<AddressSpace> Mappings()
    {
        var live = new List<AddressSpace>();
        foreach (var weak in Volatile.Read(ref _mappings))
        {
            if (weak.TryGetTarget(out var mapping) && mapping.NrPages > 0)
            {
                live.Add(mapping);
            }
        }

        return live;
    }

    /// <summary>Adds a new mapping to the cache's registry, lock-free (copy on write), dropping
    /// forgotten ones whenever the registry's size reaches a power of two.</summary>
    internal void RegisterMapping(AddressSpace mapping)
    {
        var weak = new WeakReference<AddressSpace>(mapping);
        while (true)
        {
            var old = Volatile.Read(ref _mappings);
            var kept = System.Numerics.BitOperations.IsPow2(old.Length) ? old.Where(w => w.TryGetTarget(out _)) : old;
            WeakReference<AddressSpace>[] next = [.. kept, weak];
            if (ReferenceEquals(Interlocked.CompareExchange(ref _mappings, next, old), old))
            {
                return;
            }
        }
    }

    internal void AccountFreed() => Interlocked.Increment(ref _foliosFreed);

    internal void AccountAdded(Folio folio)
    {
        Interlocked.Add(ref _nrCached, folio.Pages);
        var flags = _lruLock.LockIrqSave();
        folio.LruNode = _lru.AddLast(folio);
        _lruLock.UnlockIrqRestore(flags);
    }

    internal void AccountRemoved(Folio folio)
    {
        Interlocked.Add(ref _nrCached, -folio.Pages);
        var flags = _lruLock.LockIrqSave();
        if (folio.LruNode is { } node)
        {
            _lru.Remove(node);
            folio.LruNode = null;
        }

        _lruLock.UnlockIrqRestore(flags);
    }

    internal void AccountDirtied(Folio folio) => Interlocked.Add(ref _nrDirty, folio.Pages);

    internal void AccountCleaned(Folio folio) => Interlocked.Add(ref _nrDirty, -folio.Pages);

    internal void AccountWriteback(Folio folio, bool started)
    {
        Interlocked.Add(ref _nrWriteback, started ? folio.Pages : -folio.Pages);
        if (!started && WritebackWait.HasSleeper)
        {
            WritebackWait.WakeUpAll();
        }
    }

    internal void Register(BackingDevice bdi)
    {
        var flags = _lruLock.LockIrqSave();
        _bdis.Add(bdi);
        _lruLock.UnlockIrqRestore(flags);
    }

    internal WaitQueueHead WaitQueueOf(Folio folio) => _waitTable[(int)((ulong)folio.Serial * 0x9E3779B97F4A7C15UL >> 56) & (WaitTableSize - 1)];

    internal long NextFolioSerial() => Interlocked.Increment(ref _folioSerial);

    /// <summary>Reclaims up to <paramref name="pages"/> pages of clean, unlocked, unreferenced
    /// folios not under writeback, oldest first, giving recently used ones a second chance;
    /// true if it freed that much.</summary>
    private bool Reclaim(long pages)
    {
        var victims = new List<Folio>();
        var flags = _lruLock.LockIrqSave();
        var scan = _lru.Count;
        var freed = 0L;
        for (var node = _lru.First; node is not null && scan-- > 0 && freed < pages;)
        {
            var next = node.Next;
            var folio = node.Value;
            _lru.Remove(node);
            if (folio.TestAndClearReferenced() || folio.Test(FolioFlags.Dirty) || folio.Test(FolioFlags.Writeback) || folio.RefCount > 1 || !folio.TryLock())
            {
                folio.LruNode = _lru.AddLast(folio);
            }
            else
            {
                folio.LruNode = null;
                victims.Add(folio);
                freed += folio.Pages;
            }

            node = next;
        }

        _lruLock.UnlockIrqRestore(flags);
        foreach (var folio in victims)
        {
            if (folio.Mapping is { } mapping && !folio.Test(FolioFlags.Dirty) && !folio.Test(FolioFlags.Writeback))
            {
                mapping.RemoveFolio(folio);
                Interlocked.Increment(ref _reclaimed);
            }
            else if (folio.Mapping is not null)
            {
                // Dirtied meanwhile: back on the list.
                var again = _lruLock.LockIrqSave();
                folio.LruNode = _lru.AddLast(folio);
                _lruLock.UnlockIrqRestore(again);
            }

            folio.Unlock();
        }

        return freed >= pages;
    }

    private bool ReclaimableSoon() => NrCached - NrDirty - NrWriteback > 0;

    private List<BackingDevice> Bdis()
    {
        var flags = _lruLock.LockIrqSave();
        var list = _bdis.ToList();
        _lruLock.UnlockIrqRestore(flags);
        return list;
    }

    private static void CheckNotNegative(List<string> problems, string counter, long value)
    {
        if (value < 0)
        {
            problems.Add($"page cache: {counter} is {value}");
        }
    }

    private static void CheckEqual(List<string> problems, string counter, long value, string what, long expected)
    {
        if (value != expected)
        {
            problems.Add($"page cache: {counter} is {value} but {what} come to {expected}");
        }
    }

    internal void CountDropbehind(bool removed)
    {
        if (removed)
        {
            Interlocked.Increment(ref _dropbehindRemoved);
        }
        else
        {
            Interlocked.Increment(ref _dropbehindSkipped);
        }
    }
}
