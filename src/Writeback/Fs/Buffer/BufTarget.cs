using System.Threading;
using Microsoft.Extensions.Caching.Memory;
using Writeback.Block;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Fs.Buffer;

/// <summary>The metadata buffer cache of one device: an index of every buffer that is held,
/// dirty, locked or under I/O, a reclaimable tier of clean unreferenced buffers, and buffer I/O
/// whose asynchronous completions run on the buffer workqueue in IRQ-completion mode and inline
/// in task-completion mode.</summary>
/// <remarks>Kernel: struct xfs_buftarg and fs/xfs/xfs_buf.c — xfs_buf_get/read, xfs_bwrite,
/// xfs_buf_delwri_submit, xfs_buf_bio_end_io (async completion queued on "xfs-buf", max_active
/// 1; sync completion wakes the waiter, which runs the completion work itself), __xfs_buf_ioend
/// (read verifiers, XBF_DONE, release of async buffers). In task-completion mode asynchronous
/// buffer bios are flagged BIO_COMPLETE_IN_TASK, so their completion work runs inline in
/// bi_end_io and the workqueue is never used. Model: the reclaimable tier is a
/// <see cref="MemoryCache"/> whose clock ticks once per use (so its least-recently-used order is
/// exact and replayable) and which is never given a size limit of its own: the cache's shrinker
/// (<see cref="Shrink"/>) compacts it synchronously past <see cref="ReclaimableLimitBytes"/>, so no
/// eviction happens on a background thread. No buffer spans more than one block.</remarks>
public sealed class BufTarget
{
    private static readonly LockClassKey s_indexKey = LockClassKey.ForName("&bch->bc_lock");
    private readonly Writeback.Kernel.SpinLock _indexLock = new(s_indexKey);
    private readonly Dictionary<ulong, XfsBuf> _index = [];
    private readonly MemoryCache _reclaimable = new(new MemoryCacheOptions { Clock = new LogicalClock() });
    private readonly HashSet<ulong> _tierKeys = [];
    private readonly HashSet<ulong> _evicted = [];
    private Workqueue? _workqueue;
    private long _hits;
    private long _misses;
    private long _evictions;
    private long _rereads;
    private long _workqueueItems;
    private int _shutdown;

    /// <summary>A cache of <paramref name="blockSize"/>-byte blocks on <paramref name="device"/>.</summary>
    public BufTarget(BlockDevice device, CompletionMode mode, int blockSize = 4096, long reclaimableLimitBytes = 4L << 20)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (blockSize < BlockDevice.SectorSize || blockSize > 65536 || (blockSize & (blockSize - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "buffer cache: the block size must be a power of two from 512 to 65536");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(reclaimableLimitBytes);
        Device = device;
        Mode = mode;
        BlockSize = blockSize;
        ReclaimableLimitBytes = reclaimableLimitBytes;
    }

    /// <summary>The device.</summary>
    public BlockDevice Device { get; }

    /// <summary>The completion design.</summary>
    public CompletionMode Mode { get; }

    /// <summary>Bytes per block.</summary>
    public int BlockSize { get; }

    /// <summary>Bytes of clean, unreferenced buffers kept before the oldest are evicted.</summary>
    public long ReclaimableLimitBytes { get; }

    /// <summary>Lookups that found the buffer cached.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>Lookups that had to create it.</summary>
    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>Clean buffers evicted from the reclaimable tier.</summary>
    public long Evictions => Interlocked.Read(ref _evictions);

    /// <summary>Misses on blocks that had been evicted (they are read and verified again).</summary>
    public long Rereads => Interlocked.Read(ref _rereads);

    /// <summary>Completions queued on the buffer workqueue (zero in task-completion mode).</summary>
    public long WorkqueueItems => Interlocked.Read(ref _workqueueItems);

    /// <summary>Whether the filesystem has shut down: every buffer I/O fails with
    /// <see cref="Errno.EIO"/> without reaching the device.</summary>
    /// <remarks>Kernel: the xfs_is_shutdown() test in xfs_buf_submit(). Context: Any context.</remarks>
    public bool IsShutdown => Volatile.Read(ref _shutdown) != 0;

    /// <summary>Buffers in the index and in the reclaimable tier.</summary>
    public (int Indexed, int Reclaimable) Count
    {
        get
        {
            _indexLock.Lock();
            var n = (_index.Count, _tierKeys.Count);
            _indexLock.Unlock();
            return n;
        }
    }

    private Workqueue BufWorkqueue => _workqueue ??= Device.Layer.Machine.AllocWorkqueue($"xfs-buf/{Device.Name}", WqFlags.MemReclaim | WqFlags.Freezable, 1);

    /// <summary>The buffer for <paramref name="block"/>, held and locked; its contents are valid only if <see cref="BufFlags.Done"/>.</summary>
    /// <remarks>Kernel: xfs_buf_get(). Context: Process context. May sleep.</remarks>
    public XfsBuf Get(ulong block)
    {
        XfsBuf bp;
        _indexLock.Lock();
        if (_index.TryGetValue(block, out var cached))
        {
            bp = cached;
            Interlocked.Increment(ref _hits);
        }
        else if (_tierKeys.Remove(block) && _reclaimable.TryGetValue(block, out XfsBuf? fromTier) && fromTier is not null)
        {
            _reclaimable.Remove(block);
            bp = fromTier;
            _index[block] = bp;
            Interlocked.Increment(ref _hits);
        }
        else
        {
            bp = new XfsBuf(this, block);
            _index[block] = bp;
            Interlocked.Increment(ref _misses);
            if (_evicted.Remove(block))
            {
                Interlocked.Increment(ref _rereads);
            }
        }

        bp.Hold();
        _indexLock.Unlock();
        bp.Lock();
        return bp;
    }

    /// <summary>The buffer for <paramref name="block"/>, held, locked and read (and verified) if it was not
    /// valid; on an error the buffer is released and the error returned.</summary>
    /// <remarks>Kernel: xfs_buf_read(). Context: Process context. May sleep.</remarks>
    public Errno Read(ulong block, IBufVerifier? verifier, out XfsBuf? buffer)
    {
        var bp = Get(block);
        bp.Verifier ??= verifier;
        if (!bp.Test(BufFlags.Done))
        {
            Submit(bp, write: false, async: false);
            var err = WaitAndEnd(bp);
            if (err != Errno.None)
            {
                bp.Relse();
                buffer = null;
                return err;
            }
        }

        buffer = bp;
        return Errno.None;
    }

    /// <summary>Writes a locked buffer and waits (xfs_bwrite()); it stays held and locked.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public Errno WriteSync(XfsBuf bp)
    {
        ArgumentNullException.ThrowIfNull(bp);
        bp.AssertLocked("xfs_bwrite");
        Submit(bp, write: true, async: false);
        return WaitAndEnd(bp);
    }

    /// <summary>Writes every dirty buffer asynchronously, then waits for all of them; returns the first error.</summary>
    /// <remarks>Kernel: xfs_buf_delwri_submit(): an extra hold and the lock go with each async
    /// write; the waiter takes the lock again, which the completion released. Context: Process context. May sleep.</remarks>
    public Errno FlushDirty()
    {
        _indexLock.Lock();
        var dirty = _index.Values.Where(b => b.Test(BufFlags.Dirty)).ToList();
        foreach (var bp in dirty)
        {
            bp.Hold();
        }

        _indexLock.Unlock();
        foreach (var bp in dirty)
        {
            bp.Lock();
            bp.Hold();
            Submit(bp, write: true, async: true);
        }

        var err = Errno.None;
        foreach (var bp in dirty)
        {
            bp.Lock();
            if (err == Errno.None)
            {
                err = bp.Error;
            }

            bp.Relse();
        }

        return err;
    }

    /// <summary>Writes each (block, bytes) through an uncached buffer, all submitted before any is
    /// waited for; returns the first error.</summary>
    /// <remarks>Kernel: xfs_buf_get_uncached() buffers on a delwri list and
    /// xfs_buf_delwri_submit(), which clears XBF_ASYNC on buffers it will wait for: their
    /// completion only wakes the waiter, who runs the completion work itself — so no bio is
    /// flagged and nothing goes through the "xfs-buf" workqueue. The journal's checkpoint writes
    /// its logged copies home this way. (Waiting for flagged bios here would deadlock in
    /// task-completion mode when the checkpoint runs inside a bio completion — an ioend's
    /// transaction finding the log full — because those bios complete on the same per-CPU
    /// batch worker that is waiting.) Context: Process context. May sleep.</remarks>
    public Errno WriteUncached(IEnumerable<(ulong Block, byte[] Data)> writes)
    {
        ArgumentNullException.ThrowIfNull(writes);
        var submitted = new List<XfsBuf>();
        foreach (var (block, data) in writes)
        {
            var bp = new XfsBuf(this, block);
            data.AsSpan(0, BlockSize).CopyTo(bp.Data);
            bp.Hold();
            bp.Lock();
            Submit(bp, write: true, async: false);
            submitted.Add(bp);
        }

        var err = Errno.None;
        foreach (var bp in submitted)
        {
            var e = WaitAndEnd(bp);
            err = err != Errno.None ? err : e;
            bp.Relse();
        }

        return err;
    }

    /// <summary>Evicts clean, unreferenced buffers, oldest first, until the tier holds at most <paramref name="targetBytes"/>.</summary>
    /// <remarks>Kernel: the buffer cache shrinker (xfs_buftarg_shrink_scan). Context: Any context.</remarks>
    public void Shrink(long targetBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(targetBytes);
        _indexLock.Lock();
        var keep = (int)Math.Min(int.MaxValue, targetBytes / BlockSize);
        while (_tierKeys.Count > keep)
        {
            // Compact removes a fraction of the entries, least recently used first.
            _reclaimable.Compact((_tierKeys.Count - keep + 0.5) / _tierKeys.Count);
            var present = _reclaimable.Keys.OfType<ulong>().ToHashSet();
            var gone = _tierKeys.Where(k => !present.Contains(k)).ToList();
            if (gone.Count == 0)
            {
                break;
            }

            foreach (var k in gone)
            {
                _tierKeys.Remove(k);
                _evicted.Add(k);
                Interlocked.Increment(ref _evictions);
            }
        }

        _indexLock.Unlock();
    }

    /// <summary>Refuses all further buffer I/O (the journal calls it when it shuts down).</summary>
    /// <remarks>Context: Any context.</remarks>
    internal void Shutdown() => Volatile.Write(ref _shutdown, 1);

    /// <summary>Forgets every cached buffer, indexed and reclaimable, writing nothing: the
    /// unmount of a shut-down filesystem, after the journal has dropped its holds.</summary>
    /// <remarks>Kernel: xfs_buftarg_drain() at the unmount of a shut-down mount, where no
    /// buffer is written back. A buffer still held or locked here is a leak. Context: Process
    /// context. Takes and releases the index lock.</remarks>
    internal void Drain()
    {
        _indexLock.Lock();
        var busy = _index.Values.Where(b => b.HoldCount > 0 || b.IsLocked).Select(b => b.Block).ToList();
        if (busy.Count == 0)
        {
            _index.Clear();
            foreach (var key in _tierKeys)
            {
                _reclaimable.Remove(key);
            }

            _tierKeys.Clear();
            _evicted.Clear();
        }

        _indexLock.Unlock();
        Bug.On(busy.Count > 0, $"buffer cache {Device.Name}: draining with buffers still held or locked: {string.Join(", ", busy)}");
    }

    /// <summary>Drops a hold; the last hold of a clean, stale-free buffer moves it to the reclaimable tier.</summary>
    /// <remarks>Kernel: xfs_buf_rele().</remarks>
    internal void Rele(XfsBuf bp)
    {
        if (bp.DropHold() != 0)
        {
            return;
        }

        _indexLock.Lock();
        // An uncached buffer is not in the index: only the indexed buffer itself leaves it.
        if (bp.HoldCount == 0 && !bp.IsLocked && !bp.Test(BufFlags.Dirty)
            && _index.TryGetValue(bp.Block, out var indexed) && ReferenceEquals(indexed, bp) && _index.Remove(bp.Block))
        {
            if (!bp.Test(BufFlags.Stale) && bp.Test(BufFlags.Done))
            {
                using (var entry = _reclaimable.CreateEntry(bp.Block))
                {
                    entry.Value = bp;
                }

                _tierKeys.Add(bp.Block);
            }
        }

        _indexLock.Unlock();
        Shrink(ReclaimableLimitBytes);
    }

    private void Submit(XfsBuf bp, bool write, bool async)
    {
        bp.Error = Errno.None;
        bp.IoWait.Reinit();
        if (write)
        {
            bp.SetFlag(BufFlags.Write);
        }
        else
        {
            bp.ClearFlag(BufFlags.Write);
        }

        if (async)
        {
            bp.SetFlag(BufFlags.Async);
        }

        if (write && bp.Verifier?.VerifyWrite(bp) is { } bad && bad != Errno.None)
        {
            bp.Error = bad;
            EndIo(bp);
            return;
        }

        if (IsShutdown)
        {
            // xfs_buf_ioend_fail: completed with the error here, the device never sees it.
            bp.Error = Errno.EIO;
            EndIo(bp);
            return;
        }

        // REQ_META on every buffer bio, as xfs_buf_submit sets it.
        var bio = new Bio(Device, write ? BioOp.Write : BioOp.Read, BioOpFlags.Meta)
        {
            Sector = bp.Block * (ulong)(BlockSize / BlockDevice.SectorSize),
            Private = bp,
            EndIoHandler = BioEndIo,
        };
        bio.AddVec(bp.Data);
        if (async && Mode == CompletionMode.Task)
        {
            // The submitter knows the completion needs task context: the block layer guarantees it.
            bio.SetFlag(BioFlags.CompleteInTask);
        }

        bio.Submit();
    }

    /// <summary>Kernel: xfs_buf_bio_end_io(). Context: the bio's completion context.</summary>
    private void BioEndIo(Bio bio)
    {
        var bp = (XfsBuf)bio.Private!;
        if (bio.Status != BlkStatus.Ok && bp.Error == Errno.None)
        {
            bp.Error = bio.Status.ToErrno();
        }

        EndIo(bp);
    }

    private void EndIo(XfsBuf bp)
    {
        if (!bp.Test(BufFlags.Async))
        {
            bp.IoWait.Complete();
        }
        else if (Mode == CompletionMode.Irq)
        {
            bp.IoendWork ??= new WorkStruct(_ => IoEnd(bp));
            Interlocked.Increment(ref _workqueueItems);
            BufWorkqueue.QueueWork(bp.IoendWork);
        }
        else
        {
            IoEnd(bp);
        }
    }

    private Errno WaitAndEnd(XfsBuf bp)
    {
        bp.IoWait.WaitForCompletion();
        IoEnd(bp);
        return bp.Error;
    }

    /// <summary>The completion work: verify a read, mark the contents valid or keep the buffer
    /// dirty on a failed write, and release an asynchronous buffer.</summary>
    /// <remarks>Kernel: __xfs_buf_ioend(). Context: Process context — the reason it is deferred
    /// from interrupt context in IRQ-completion mode.</remarks>
    private void IoEnd(XfsBuf bp)
    {
        if (!Context.InTask || Context.BioInAtomic)
        {
            Bug.Fail($"xfs_buf_ioend: buffer {bp.Block} completion work outside task context");
        }

        var write = bp.Test(BufFlags.Write);
        if (!write && bp.Error == Errno.None && bp.Verifier is { } verifier)
        {
            bp.Error = verifier.VerifyRead(bp);
        }

        if (bp.Error == Errno.None)
        {
            bp.SetFlag(BufFlags.Done);
            if (write)
            {
                bp.ClearFlag(BufFlags.Dirty);
            }
        }

        if (bp.Test(BufFlags.Async))
        {
            bp.ClearFlag(BufFlags.Async);
            bp.Relse();
        }
    }
}
