using System.Threading;
using Writeback.Kernel;

namespace Writeback.Mm;

/// <summary>A folio: 2^order contiguous pages of a file's data, with its state bits, reference
/// count and lock, indexed in its mapping's i_pages.</summary>
/// <remarks>Kernel: struct folio; folio_lock()/folio_unlock(), folio_wait_writeback(),
/// __folio_mark_dirty(), folio_clear_dirty_for_io(), __folio_start_writeback(),
/// folio_end_writeback(). Sleepers wait on a hashed wait table and set PG_waiters, so that an
/// unlock or end of writeback wakes nobody when nobody waits.</remarks>
public sealed class Folio
{
    /// <summary>Bytes per page.</summary>
    public const int PageSize = 4096;

    private int _flags;
    private int _refCount = 1;
    private byte[]? _data;

    internal Folio(PageCache cache, int order)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(order);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(order, 9);
        Cache = cache;
        Order = order;
        Serial = cache.NextFolioSerial();
    }

    /// <summary>The folio's allocation number in its cache: what the model hashes where the kernel
    /// hashes the folio's address (folio_waitqueue()), so that the same seed gives the same
    /// collisions — an object's identity hash differs from run to run.</summary>
    internal long Serial { get; }

    /// <summary>The page cache the folio belongs to.</summary>
    public PageCache Cache { get; }

    /// <summary>log2 of the pages it spans.</summary>
    public int Order { get; }

    /// <summary>Pages it spans (folio_nr_pages()).</summary>
    public int Pages => 1 << Order;

    /// <summary>Bytes it spans (folio_size()).</summary>
    public int Size => PageSize << Order;

    /// <summary>The data (zeroed when first touched: the model allocates a folio's memory lazily).</summary>
    public byte[] Data => Volatile.Read(ref _data) ?? AllocateData();

    /// <summary>The mapping it is cached in, or null (folio-&gt;mapping; cleared on removal).</summary>
    public AddressSpace? Mapping { get; internal set; }

    /// <summary>Its first page index in the mapping.</summary>
    public ulong Index { get; internal set; }

    /// <summary>The owner's per-folio state (folio->private), e.g. iomap's per-block state.</summary>
    public object? Private { get; set; }

    /// <summary>Its place on the page cache's LRU list, while it is on it.</summary>
    internal LinkedListNode<Folio>? LruNode { get; set; }

    /// <summary>Its state bits.</summary>
    public FolioFlags Flags => (FolioFlags)Volatile.Read(ref _flags);

    /// <summary>References held.</summary>
    public int RefCount => Volatile.Read(ref _refCount);

    /// <summary>Whether <paramref name="flag"/> is set.</summary>
    public bool Test(FolioFlags flag) => (Volatile.Read(ref _flags) & (int)flag) != 0;

    /// <summary>Takes a reference unless the count is zero (the folio is being freed).</summary>
    /// <remarks>Kernel: folio_try_get(). Context: Any context.</remarks>
    public bool TryGet()
    {
        while (true)
        {
            var n = Volatile.Read(ref _refCount);
            if (n == 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _refCount, n + 1, n) == n)
            {
                return true;
            }
        }
    }

    /// <summary>Takes a reference (folio_get()).</summary>
    public void Get()
    {
        if (Interlocked.Increment(ref _refCount) <= 1)
        {
            Bug.Fail("folio_get: the folio had no reference");
        }
    }

    /// <summary>Drops a reference (folio_put()); the last one frees the folio, which
    /// <see cref="PageCache.LiveFolios"/> counts.</summary>
    public void Put()
    {
        var left = Interlocked.Decrement(ref _refCount);
        if (left < 0)
        {
            Bug.Fail("folio_put: reference count went negative");
        }

        if (left == 0)
        {
            Cache.AccountFreed();
        }
    }

    /// <summary>Takes the folio lock if it is free (folio_trylock()).</summary>
    public bool TryLock() => (Interlocked.Or(ref _flags, (int)FolioFlags.Locked) & (int)FolioFlags.Locked) == 0;

    /// <summary>Takes the folio lock, sleeping until it is free.</summary>
    /// <remarks>Kernel: folio_lock(). Context: Process context. May sleep.</remarks>
    public void Lock()
    {
        Context.MightSleep();
        if (!TryLock())
        {
            Cache.WaitQueueOf(this).WaitEvent(() =>
            {
                Interlocked.Or(ref _flags, (int)FolioFlags.Waiters);
                return TryLock();
            });
        }
    }

    /// <summary>Releases the folio lock and wakes sleepers, if any.</summary>
    /// <remarks>Kernel: folio_unlock(). Context: Any context.</remarks>
    public void Unlock()
    {
        var old = Interlocked.And(ref _flags, ~(int)FolioFlags.Locked);
        if ((old & (int)FolioFlags.Locked) == 0)
        {
            Bug.Fail("folio_unlock: the folio was not locked");
        }

        WakeWaiters();
    }

    /// <summary>Waits until the folio is not under writeback.</summary>
    /// <remarks>Kernel: folio_wait_writeback(). Context: Process context. May sleep.</remarks>
    public void WaitWriteback()
    {
        Context.MightSleep();
        if (Test(FolioFlags.Writeback))
        {
            Cache.WaitQueueOf(this).WaitEvent(() =>
            {
                Interlocked.Or(ref _flags, (int)FolioFlags.Waiters);
                return !Test(FolioFlags.Writeback);
            });
        }
    }

    /// <summary>Notes a use, for reclaim's second chance (folio_mark_accessed()).</summary>
    public void MarkAccessed() => Interlocked.Or(ref _flags, (int)FolioFlags.Referenced);

    internal bool TestAndClearReferenced() => (Interlocked.And(ref _flags, ~(int)FolioFlags.Referenced) & (int)FolioFlags.Referenced) != 0;

    /// <summary>Marks the data valid (folio_mark_uptodate()).</summary>
    public void MarkUptodate() => Interlocked.Or(ref _flags, (int)FolioFlags.Uptodate);

    /// <summary>Asks for the folio to leave the cache once written (RWF_DONTCACHE).</summary>
    public void SetDropbehind() => Interlocked.Or(ref _flags, (int)FolioFlags.Dropbehind);

    /// <summary>Marks the folio dirty and, the first time, tags it DIRTY in its mapping; returns
    /// whether it was clean.</summary>
    /// <remarks>Kernel: filemap_dirty_folio() → __folio_mark_dirty(), which takes i_pages with
    /// xa_lock_irqsave (plain in task-completion mode). Context: Any context; the folio is
    /// locked or otherwise pinned to its mapping.</remarks>
    public bool MarkDirty()
    {
        if (TestAndSet(FolioFlags.Dirty))
        {
            return false;
        }

        if (Mapping is { } mapping)
        {
            Cache.AccountDirtied(this);
            mapping.Bdi?.MarkMappingDirty(mapping);
            var flags = mapping.LockPagesIrqSave();
            // A truncate may have taken the folio out meanwhile.
            if (ReferenceEquals(Mapping, mapping))
            {
                mapping.Pages.SetMarkLocked(Index, PageCacheTag.Dirty);
            }

            mapping.UnlockPagesIrqRestore(flags);
        }

        return true;
    }

    /// <summary>Clears PG_dirty before writeback; the DIRTY tag stays until start-writeback, so a
    /// concurrent integrity walk still finds the folio. Returns whether it was dirty.</summary>
    /// <remarks>Kernel: folio_clear_dirty_for_io(). Takes no i_pages lock. Context: Process
    /// context; the folio is locked.</remarks>
    public bool ClearDirtyForIo()
    {
        AssertLocked("folio_clear_dirty_for_io");
        var wasDirty = (Interlocked.And(ref _flags, ~(int)FolioFlags.Dirty) & (int)FolioFlags.Dirty) != 0;
        if (wasDirty && Mapping is not null)
        {
            Cache.AccountCleaned(this);
        }

        return wasDirty;
    }

    /// <summary>Sets PG_writeback and the WRITEBACK tag, clears the DIRTY tag unless the folio was
    /// redirtied, and clears TOWRITE unless <paramref name="keepWrite"/>.</summary>
    /// <remarks>Kernel: __folio_start_writeback(), under xa_lock_irqsave (plain in task mode).
    /// Context: Process context; the folio is locked.</remarks>
    public void StartWriteback(bool keepWrite = false)
    {
        AssertLocked("folio_start_writeback");
        if (TestAndSet(FolioFlags.Writeback))
        {
            Bug.Fail($"folio_start_writeback: folio {Index} is already under writeback");
        }

        Cache.AccountWriteback(this, started: true);

        if (Mapping is not { } mapping)
        {
            return;
        }

        var flags = mapping.LockPagesIrqSave();
        mapping.Pages.SetMarkLocked(Index, PageCacheTag.Writeback);
        if (!Test(FolioFlags.Dirty))
        {
            mapping.Pages.ClearMarkLocked(Index, PageCacheTag.Dirty);
        }

        if (!keepWrite)
        {
            mapping.Pages.ClearMarkLocked(Index, PageCacheTag.ToWrite);
        }

        mapping.UnlockPagesIrqRestore(flags);
    }

    /// <summary>Ends writeback: clears PG_writeback and the WRITEBACK tag, wakes waiters, and
    /// drops a dropbehind folio from the cache when that can be done here.</summary>
    /// <remarks>Kernel: folio_end_writeback() → __folio_end_writeback() under xa_lock_irqsave
    /// (plain in task mode), then the dropbehind step only if in_task() and folio_trylock()
    /// succeed — so in interrupt context dropbehind folios stay cached. Context: Any context:
    /// process, softirq or hardirq (bio completion).</remarks>
    public void EndWriteback()
    {
        Get();
        var mapping = Mapping;
        if (mapping is not null)
        {
            var flags = mapping.LockPagesIrqSave();
            ClearWritebackBit();
            mapping.Pages.ClearMarkLocked(Index, PageCacheTag.Writeback);
            mapping.UnlockPagesIrqRestore(flags);
        }
        else
        {
            ClearWritebackBit();
        }

        WakeWaiters();
        Cache.AccountWriteback(this, started: false);
        if (Test(FolioFlags.Dropbehind))
        {
            EndDropbehind();
        }

        Put();
    }

    private void EndDropbehind()
    {
        if (!Context.InTask || !TryLock())
        {
            Cache.CountDropbehind(removed: false);
            return;
        }

        var removed = false;
        if (Mapping is { } mapping && !Test(FolioFlags.Dirty) && !Test(FolioFlags.Writeback))
        {
            mapping.RemoveFolio(this);
            removed = true;
        }

        Unlock();
        Cache.CountDropbehind(removed);
    }

    private void ClearWritebackBit()
    {
        if ((Interlocked.And(ref _flags, ~(int)FolioFlags.Writeback) & (int)FolioFlags.Writeback) == 0)
        {
            Bug.Fail($"folio_end_writeback: folio {Index} was not under writeback");
        }
    }

    private void WakeWaiters()
    {
        if ((Interlocked.And(ref _flags, ~(int)FolioFlags.Waiters) & (int)FolioFlags.Waiters) != 0)
        {
            Cache.WaitQueueOf(this).WakeUpAll();
        }
    }

    private byte[] AllocateData()
    {
        var data = new byte[PageSize << Order];
        return Interlocked.CompareExchange(ref _data, data, null) ?? data;
    }

    private bool TestAndSet(FolioFlags flag) => (Interlocked.Or(ref _flags, (int)flag) & (int)flag) != 0;

    private void AssertLocked(string what)
    {
        if (!Test(FolioFlags.Locked))
        {
            Bug.Fail($"{what}: folio {Index} is not locked");
        }
    }
}
