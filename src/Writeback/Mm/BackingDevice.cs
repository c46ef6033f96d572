using System.Threading;
using Writeback.Kernel;

namespace Writeback.Mm;

/// <summary>A backing device's writeback: its dirty mappings and its flusher, which writes them
/// back periodically (data older than the expire interval) and in the background (while dirty
/// memory is above the background threshold), as WB_SYNC_NONE passes.</summary>
/// <remarks>Kernel: struct backing_dev_info / bdi_writeback with b_dirty and wb_workfn() on the
/// "writeback" workqueue (fs/fs-writeback.c: wb_check_periodic/kupdate, wb_check_background).
/// Model: the unit of dirtiness is the mapping (no inodes yet); background passes write chunks
/// of <see cref="ChunkPages"/> pages per mapping in turn.</remarks>
public sealed class BackingDevice
{
    /// <summary>Pages a background pass writes from one mapping before moving on (MAX_WRITEBACK_PAGES).</summary>
    public const long ChunkPages = 1024;

    private static readonly LockClassKey s_listKey = LockClassKey.ForName("&wb->list_lock");
    private readonly Writeback.Kernel.SpinLock _listLock = new(s_listKey);
    private readonly Dictionary<AddressSpace, long> _dirty = [];
    private readonly DelayedWork _work;
    private long _backgroundPasses;
    private long _periodicPasses;

    internal BackingDevice(PageCache cache, string name)
    {
        Cache = cache;
        Name = name;
        _work = new DelayedWork(_ => WorkFn());
    }

    /// <summary>The page cache.</summary>
    public PageCache Cache { get; }

    /// <summary>The device's name.</summary>
    public string Name { get; }

    /// <summary>Background passes run (dirty memory over the background threshold).</summary>
    public long BackgroundPasses => Interlocked.Read(ref _backgroundPasses);

    /// <summary>Periodic (kupdate) passes run.</summary>
    public long PeriodicPasses => Interlocked.Read(ref _periodicPasses);

    /// <summary>Mappings with dirty data now.</summary>
    public int DirtyMappings
    {
        get
        {
            _listLock.Lock();
            var n = _dirty.Count;
            _listLock.Unlock();
            return n;
        }
    }

    /// <summary>Writes back and waits for every dirty mapping (sync(2) for this device).</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public Errno SyncAll()
    {
        var err = Errno.None;
        foreach (var mapping in Snapshot())
        {
            var e = mapping.WriteAndWaitRange(0, long.MaxValue);
            err = err == Errno.None ? e : err;
        }

        Forget();
        return err;
    }

    /// <summary>Wakes the flusher now for a background pass (wb_start_background_writeback()).</summary>
    public void StartBackground() => Cache.WritebackWorkqueue.ModDelayedWorkOn(-1, _work, 0);

    /// <summary>Notes that <paramref name="mapping"/> has dirty data (first dirtying: __mark_inode_dirty()) and arms the periodic flush.</summary>
    internal void MarkMappingDirty(AddressSpace mapping)
    {
        _listLock.Lock();
        var added = _dirty.TryAdd(mapping, Cache.Machine.NowNs);
        _listLock.Unlock();
        if (added && Cache.Options.DirtyWritebackCentisecs > 0)
        {
            Cache.WritebackWorkqueue.QueueDelayedWork(_work, CentisecsToJiffies(Cache.Options.DirtyWritebackCentisecs));
        }
    }

    private void WorkFn()
    {
        var options = Cache.Options;
        if (Cache.OverBackgroundThreshold)
        {
            Interlocked.Increment(ref _backgroundPasses);
            while (Cache.OverBackgroundThreshold && WriteChunks(expiredOnly: false))
            {
            }
        }

        Interlocked.Increment(ref _periodicPasses);
        WriteChunks(expiredOnly: true);
        Forget();
        if (DirtyMappings > 0 && options.DirtyWritebackCentisecs > 0)
        {
            Cache.WritebackWorkqueue.QueueDelayedWork(_work, CentisecsToJiffies(options.DirtyWritebackCentisecs));
        }
    }

    /// <summary>One WB_SYNC_NONE chunk from each dirty mapping (only those dirty for longer than
    /// the expire interval when <paramref name="expiredOnly"/>); false if nothing was written.</summary>
    private bool WriteChunks(bool expiredOnly)
    {
        var expireNs = Cache.Options.DirtyExpireCentisecs * 10_000_000L;
        var now = Cache.Machine.NowNs;
        var wrote = false;
        foreach (var (mapping, since) in SnapshotWithTimes())
        {
            if (mapping.Ops is null || (expiredOnly && now - since < expireNs))
            {
                continue;
            }

            var wbc = new WritebackControl { SyncMode = WbSyncMode.None, NrToWrite = expiredOnly ? long.MaxValue : ChunkPages, RangeCyclic = true };
            mapping.Ops.Writepages(mapping, wbc);
            wrote |= wbc.Written > 0;
        }

        return wrote;
    }

    /// <summary>Takes mappings that are no longer dirty off the list.</summary>
    private void Forget()
    {
        _listLock.Lock();
        foreach (var m in _dirty.Keys.Where(m => !m.Tagged(PageCacheTag.Dirty)).ToList())
        {
            _dirty.Remove(m);
        }

        _listLock.Unlock();
    }

    private List<AddressSpace> Snapshot() => [.. SnapshotWithTimes().Select(p => p.Key)];

    private List<KeyValuePair<AddressSpace, long>> SnapshotWithTimes()
    {
        _listLock.Lock();
        var list = _dirty.ToList();
        _listLock.Unlock();
        return list;
    }

    private ulong CentisecsToJiffies(int centisecs) => (ulong)Math.Max(1, centisecs * 10_000_000L / Cache.Machine.JiffyNs);
}
