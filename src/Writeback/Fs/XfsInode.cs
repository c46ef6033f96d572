using System.Threading;
using Writeback.Fs.Alloc;
using Writeback.Fs.Inode;
using Writeback.Fs.Journal;
using Writeback.Kernel;

namespace Writeback.Fs;

/// <summary>A regular file's in-core inode: its extent map with delalloc extents, its in-core
/// size beside the on-disk one, and the operations the I/O layer needs to map and change its
/// blocks.</summary>
/// <remarks>Kernel: struct xfs_inode, with the roles of xfs_bmapi_read,
/// xfs_bmapi_reserve_delalloc, xfs_bmapi_convert_delalloc, xfs_iomap_write_direct,
/// xfs_iomap_write_unwritten, xfs_setfilesize, xfs_alloc_file_space, xfs_free_file_space and
/// xfs_itruncate_extents. Offsets and lengths are bytes; mappings are <see cref="Extent"/>s in
/// blocks.
/// <para>Locking: <see cref="ILock"/> (the ILOCK) protects the extent map and is taken by each
/// operation here, shared to map and exclusive to change; <see cref="IoLock"/> (i_rwsem) is the
/// I/O layer's, to serialise writers and truncate. Order: IoLock → ILock → the running
/// transaction → buffer locks. Every change is one or more transactions, so it must run in task
/// context.</para>
/// <para>Sizes: <see cref="Size"/> is i_size, which a buffered write raises at once;
/// <see cref="DiskSize"/> is di_size, raised by a write only when its data is on disk
/// (<see cref="EndWrite"/>), and at once by truncate and fallocate. Either way a crash never
/// shows stale data inside the size: blocks whose data never arrived are holes (delalloc is not
/// on disk) or unwritten, and read as zeros. (Truncate and fallocate that raise the size over
/// buffered data not yet written back would lose that data in a crash, as the kernel would
/// without the flush xfs_setattr_size does first; that flush is the I/O layer's.)</para>
/// <para>Model: delalloc conversion at writeback allocates unwritten extents, which
/// <see cref="EndWrite"/> converts once the data is written (XFS does so to keep stale disk
/// contents from showing after a crash; ext4 with dioread_nolock likewise); so every write into
/// new blocks needs completion work in a transaction. There is no speculative preallocation
/// beyond EOF, no copy-on-write fork and no realtime device. Zeroing the partial blocks at the
/// edges of a truncate or hole punch is the page cache's job (iomap_zero_range), not this
/// type's. Timestamps change in memory and reach the disk with the inode's next transaction or
/// an fsync, as with lazytime.</para></remarks>
public sealed class XfsInode
{
    private static readonly LockClassKey s_ilockKey = LockClassKey.ForName("&ip->i_lock");
    private static readonly LockClassKey s_iolockKey = LockClassKey.ForName("&inode->i_rwsem");

    // The longest allocation one transaction makes: four bitmap blocks' worth.
    private readonly ulong _maxAllocation;
    private DiskInode _core;
    private ExtentMap _map;
    private long _size;
    private int _refs;
    private int _timesDirty;
    private XfsAops? _aops;

    internal XfsInode(FsMount mount, DiskInode core)
    {
        Mount = mount;
        _core = core;
        _map = new ExtentMap(core.Extents);
        _size = core.FileSize;
        BlockSize = mount.Superblock.Geometry.BlockSize;
        _maxAllocation = Math.Min(ExtentMap.MaxLength, (ulong)BlockSize * 8 * 4);
        MtimeNs = core.MtimeNs;
        CtimeNs = core.CtimeNs;
    }

    /// <summary>The filesystem.</summary>
    public FsMount Mount { get; }

    /// <summary>The inode number.</summary>
    public ulong Number => _core.Number;

    /// <summary>Bytes per block.</summary>
    public int BlockSize { get; }

    /// <summary>The ILOCK: protects the extent map.</summary>
    public RwSemaphore ILock { get; } = new(s_ilockKey);

    /// <summary>i_rwsem: serialises writers, truncate and direct I/O (the I/O layer takes it).</summary>
    public RwSemaphore IoLock { get; } = new(s_iolockKey);

    /// <summary>The inode as last logged.</summary>
    public DiskInode Core => Volatile.Read(ref _core);

    /// <summary>i_size: the size the file has now.</summary>
    public long Size => Interlocked.Read(ref _size);

    /// <summary>di_size: the size on disk, covering only data known to be written.</summary>
    public long DiskSize => Core.FileSize;

    /// <summary>Hard links.</summary>
    public uint Nlink => Core.Nlink;

    /// <summary>Modification time (ns), in memory.</summary>
    public long MtimeNs { get; private set; }

    /// <summary>Change time (ns), in memory.</summary>
    public long CtimeNs { get; private set; }

    /// <summary>Whether the timestamps changed since the inode was last logged.</summary>
    public bool TimesDirty => Volatile.Read(ref _timesDirty) != 0;

    /// <summary>Delalloc blocks reserved for this file.</summary>
    public ulong DelallocBlocks
    {
        get
        {
            ILock.DownRead();
            try
            {
                return _map.DelallocBlocks;
            }
            finally
            {
                ILock.UpRead();
            }
        }
    }

    /// <summary>Its page cache and I/O paths, once a <see cref="FileSystem"/> has opened it.</summary>
    public XfsAops? Aops => Volatile.Read(ref _aops);

    /// <summary>References from the I/O layer (open files).</summary>
    public int References => Volatile.Read(ref _refs);

    /// <summary>A copy of the extent map (delalloc included).</summary>
    public IReadOnlyList<Extent> Extents
    {
        get
        {
            ILock.DownRead();
            try
            {
                return [.. _map];
            }
            finally
            {
                ILock.UpRead();
            }
        }
    }

    /// <summary>How the bytes from <paramref name="offset"/> for <paramref name="length"/> are
    /// mapped, in whole blocks, holes included (xfs_bmapi_read under the shared ILOCK).</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public IReadOnlyList<Extent> Map(long offset, long length)
    {
        var (first, count) = Blocks(offset, length);
        ILock.DownRead();
        try
        {
            return _map.Map(first, count);
        }
        finally
        {
            ILock.UpRead();
        }
    }

    /// <summary>Reserves a delalloc extent over the hole at the start of the range, if there is
    /// one (a buffered write); returns the mapping of the range afterwards, or
    /// <see cref="Errno.ENOSPC"/> with nothing changed.</summary>
    /// <remarks>Kernel: xfs_buffered_write_iomap_begin → xfs_bmapi_reserve_delalloc: only the
    /// mapping the write is about to use is reserved, so a write that stops short leaves little
    /// to give back. Context: Process context. May sleep.</remarks>
    public Errno ReserveDelalloc(long offset, long length, out IReadOnlyList<Extent> mapping)
    {
        var (first, count) = Blocks(offset, length);
        ILock.DownWrite();
        try
        {
            // Only the mapping at the start is the write's to reserve: a hole there becomes
            // delalloc; later pieces are reserved when the write reaches them.
            var head = _map.Lookup(first, count);
            var err = head.State != ExtentState.Hole ? Errno.None : Mount.Allocator.ReserveDelalloc(head.Length);
            if (err == Errno.None && head.State == ExtentState.Hole)
            {
                _map.Insert(head with { State = ExtentState.Delalloc });
            }

            mapping = _map.Map(first, count);
            return err;
        }
        finally
        {
            ILock.UpWrite();
        }
    }

    /// <summary>Removes the delalloc extents in the range and gives back their reservation (a
    /// failed buffered write, or dirty folios thrown away); returns the blocks removed.</summary>
    /// <remarks>Kernel: xfs_bmap_punch_delalloc_range(). Context: Process context. May sleep.</remarks>
    public ulong PunchDelalloc(long offset, long length)
    {
        var (first, count) = Blocks(offset, length);
        ILock.DownWrite();
        try
        {
            return DropDelalloc(first, count);
        }
        finally
        {
            ILock.UpWrite();
        }
    }

    /// <summary>Raises i_size after a buffered write past it, and stamps mtime and ctime (in memory).</summary>
    public void WriteSizeAndTimes(long end)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(end);
        long size;
        while ((size = Interlocked.Read(ref _size)) < end && Interlocked.CompareExchange(ref _size, end, size) != size)
        {
        }

        Touch();
    }

    /// <summary>Stamps mtime and ctime with the machine's clock (file_update_time), in memory.</summary>
    public void Touch()
    {
        var now = Mount.Device.Layer.Machine.NowNs;
        MtimeNs = now;
        CtimeNs = now;
        Volatile.Write(ref _timesDirty, 1);
    }

    /// <summary>Gives real blocks to the delalloc extent that covers <paramref name="offset"/> —
    /// as unwritten extents, converted by <see cref="EndWrite"/> once the data is on disk — and
    /// returns the mapping that now covers it (writeback).</summary>
    /// <returns><see cref="Errno.EINVAL"/> if the offset is not in a delalloc extent;
    /// <see cref="Errno.EFBIG"/> if the file has as many extents as an inode can hold.</returns>
    /// <remarks>Kernel: xfs_bmapi_convert_delalloc(): the whole delalloc extent is allocated,
    /// contiguous with the file's previous blocks where possible, in pieces of at most four
    /// bitmap blocks' worth per transaction. Context: Process context. May sleep.</remarks>
    public Errno ConvertDelalloc(long offset, out Extent mapping)
    {
        var target = (ulong)(offset / BlockSize);
        mapping = default;
        ILock.DownWrite();
        try
        {
            while (true)
            {
                var at = _map.Lookup(target);
                if (at.State != ExtentState.Delalloc)
                {
                    mapping = at;
                    return at.IsAllocated ? Errno.None : Errno.EINVAL;
                }

                // The whole delalloc extent, from its start.
                var whole = _map.First(e => e.FileBlock <= target && target < e.FileEnd);
                var err = AllocateInto(whole.FileBlock, Math.Min(whole.Length, _maxAllocation), AllocKind.Delalloc);
                if (err != Errno.None)
                {
                    return err;
                }
            }
        }
        finally
        {
            ILock.UpWrite();
        }
    }

    /// <summary>Allocates unwritten extents over the holes and delalloc extents in the range (a
    /// direct write) and returns the mapping of the range afterwards.</summary>
    /// <remarks>Kernel: xfs_direct_write_iomap_begin → xfs_iomap_write_direct. Context: Process context. May sleep.</remarks>
    public Errno AllocateDirect(long offset, long length, out IReadOnlyList<Extent> mapping)
    {
        var (first, count) = Blocks(offset, length);
        ILock.DownWrite();
        try
        {
            var err = AllocateRange(first, count, ExtentState.Delalloc, AllocKind.Delalloc);
            err = err != Errno.None ? err : AllocateRange(first, count, ExtentState.Hole, AllocKind.Data);
            mapping = _map.Map(first, count);
            return err;
        }
        finally
        {
            ILock.UpWrite();
        }
    }

    /// <summary>Whether a write of the range needs work in a transaction when it completes:
    /// it covers unwritten blocks, or it ends past the on-disk size.</summary>
    /// <remarks>Kernel: xfs_ioend_needs_wq_completion() (the UNWRITTEN flag and xfs_ioend_is_append()).</remarks>
    public bool NeedsCompletionWork(long offset, long length) =>
        offset + length > DiskSize || Map(offset, length).Any(e => e.State == ExtentState.Unwritten);

    /// <summary>After the data of a write is on disk: converts the unwritten extents in the range
    /// to written and raises the on-disk size to the end of the write (bounded by i_size), in one
    /// transaction; nothing when neither is needed.</summary>
    /// <remarks>Kernel: xfs_end_ioend → xfs_iomap_write_unwritten and xfs_setfilesize. Context:
    /// Process context — it starts a transaction, which is why this work cannot run in the
    /// interrupt that completes the bio. May sleep.</remarks>
    public Errno EndWrite(long offset, long length)
    {
        var (first, count) = Blocks(offset, length);
        ILock.DownWrite();
        try
        {
            var newSize = Math.Min(Size, offset + length);
            var unwritten = _map.Map(first, count).Count(e => e.State == ExtentState.Unwritten);
            if (unwritten == 0 && newSize <= DiskSize)
            {
                return Errno.None;
            }

            // Only the extents at the two ends of the range can split (XFS_IEXT_WRITE_UNWRITTEN_CNT).
            var err = Room(2);
            if (err != Errno.None)
            {
                return err;
            }

            return Mount.RunTransaction(tx =>
            {
                _map.Convert(first, count, ExtentState.Unwritten, ExtentState.Written);
                Log(tx, Math.Max(DiskSize, newSize));
                return Errno.None;
            });
        }
        finally
        {
            ILock.UpWrite();
        }
    }

    /// <summary>Preallocates unwritten extents over the holes in the range, and unless
    /// <paramref name="keepSize"/> raises the size to its end (fallocate mode 0 or
    /// FALLOC_FL_KEEP_SIZE). <see cref="Errno.ENOSPC"/> when the space is not there, with nothing changed.</summary>
    /// <remarks>Kernel: xfs_alloc_file_space(). Context: Process context. May sleep.</remarks>
    public Errno Fallocate(long offset, long length, bool keepSize)
    {
        var (first, count) = Blocks(offset, length);
        ILock.DownWrite();
        try
        {
            // Data and the extent blocks the new extents may need come out of the same free
            // blocks: check both up front, so that ENOSPC changes nothing.
            var holes = _map.Map(first, count).Where(e => e.State == ExtentState.Hole).ToList();
            var extentBlocks = Mount.Inodes.ExtentBlocksFor(_map.OnDiskCount + holes.Count) - Core.ExtentBlocks.Count;
            if (holes.Sum(e => (long)e.Length) + Math.Max(0, extentBlocks) > Mount.Allocator.AvailableBlocks)
            {
                return Errno.ENOSPC;
            }

            var err = AllocateRange(first, count, ExtentState.Hole, AllocKind.Data);
            if (err == Errno.None && !keepSize && offset + length > Size)
            {
                Interlocked.Exchange(ref _size, offset + length);
                Touch();
                err = Mount.RunTransaction(tx =>
                {
                    Log(tx, offset + length);
                    return Errno.None;
                });
            }

            return err;
        }
        finally
        {
            ILock.UpWrite();
        }
    }

    /// <summary>Sets the size: down, the blocks past the new end are freed (delalloc ones
    /// unreserved) in as many transactions as it takes, the new size logged first; up, the
    /// file gains a hole.</summary>
    /// <remarks>Kernel: xfs_setattr_size → xfs_itruncate_extents. The caller has written back
    /// or thrown away the page cache past the new size and zeroed the partial block. Context:
    /// Process context. May sleep.</remarks>
    public Errno Truncate(long newSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(newSize);
        ILock.DownWrite();
        try
        {
            Interlocked.Exchange(ref _size, newSize);
            Touch();
            var err = Mount.RunTransaction(tx =>
            {
                Log(tx, newSize);
                return Errno.None;
            });
            var firstGone = (ulong)((newSize + BlockSize - 1) / BlockSize);
            return err != Errno.None ? err : FreeRange(firstGone, ulong.MaxValue - firstGone);
        }
        finally
        {
            ILock.UpWrite();
        }
    }

    /// <summary>Frees the whole blocks in the range (delalloc ones unreserved); the size stays
    /// (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE).</summary>
    /// <remarks>Kernel: xfs_free_file_space(). Partial blocks at the edges keep their blocks;
    /// zeroing them is the caller's. Context: Process context. May sleep.</remarks>
    public Errno PunchHole(long offset, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var first = (ulong)((offset + BlockSize - 1) / BlockSize);
        var end = (ulong)((offset + length) / BlockSize);
        ILock.DownWrite();
        try
        {
            Touch();
            if (end <= first)
            {
                return Mount.RunTransaction(tx =>
                {
                    Log(tx, DiskSize);
                    return Errno.None;
                });
            }

            // Punching the middle of an extent splits it in two.
            var err = Room(1);
            return err != Errno.None ? err : FreeRange(first, end - first);
        }
        finally
        {
            ILock.UpWrite();
        }
    }

    /// <summary>Logs the in-memory timestamps if they changed (the metadata part of fsync;
    /// fdatasync passes <paramref name="dataOnly"/> and skips it, timestamps not being needed
    /// to read the data back).</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public Errno LogTimestamps(bool dataOnly)
    {
        if (dataOnly || !TimesDirty)
        {
            return Errno.None;
        }

        ILock.DownWrite();
        try
        {
            return Mount.RunTransaction(tx =>
            {
                Log(tx, DiskSize);
                return Errno.None;
            });
        }
        finally
        {
            ILock.UpWrite();
        }
    }

    // The first opener's I/O paths win; a racing opener's are dropped.
    internal XfsAops AttachAops(XfsAops aops) => Interlocked.CompareExchange(ref _aops, aops, null) ?? aops;

    internal void Grab() => Interlocked.Increment(ref _refs);

    internal int Drop()
    {
        var left = Interlocked.Decrement(ref _refs);
        if (left < 0)
        {
            Bug.Fail($"inode {Number}: released more often than taken");
        }

        return left;
    }

    // A transaction changed the record (a namespace one: link count and ctime): keep the
    // in-core copy in step, timestamps never going back.
    internal void SetCore(DiskInode core)
    {
        Volatile.Write(ref _core, core);
        MtimeNs = Math.Max(MtimeNs, core.MtimeNs);
        CtimeNs = Math.Max(CtimeNs, core.CtimeNs);
    }

    // Frees every block, then the inode itself (its last link and last reference are gone).
    // Context: Process context, in no transaction. May sleep.
    internal Errno Inactivate()
    {
        ILock.DownWrite();
        try
        {
            var err = FreeRange(0, ulong.MaxValue);
            return err != Errno.None ? err : Mount.RunTransaction(tx =>
            {
                Mount.Inodes.Free(tx, Number);
                return Errno.None;
            });
        }
        finally
        {
            ILock.UpWrite();
        }
    }

    private static (ulong First, ulong Count) Blocks(long offset, long length, int blockSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        var first = (ulong)(offset / blockSize);
        var end = (ulong)((offset + length + blockSize - 1) / blockSize);
        return (first, end - first);
    }

    private (ulong First, ulong Count) Blocks(long offset, long length) => Blocks(offset, length, BlockSize);

    private ulong DropDelalloc(ulong first, ulong count)
    {
        var dropped = (ulong)_map.Remove(first, count, ExtentState.Delalloc).Sum(e => (long)e.Length);
        if (dropped > 0)
        {
            Mount.Allocator.UnreserveDelalloc(dropped);
        }

        return dropped;
    }

    // EFBIG unless the file can gain `extra` on-disk extents.
    private Errno Room(int extra) => _map.OnDiskCount + extra > Mount.Inodes.MaxExtentsPerInode ? Errno.EFBIG : Errno.None;

    // Allocates every piece of `state` in the range, a transaction per piece.
    private Errno AllocateRange(ulong first, ulong count, ExtentState state, AllocKind kind)
    {
        while (_map.Map(first, count).FirstOrDefault(e => e.State == state) is { Length: > 0 } piece)
        {
            var err = AllocateInto(piece.FileBlock, Math.Min(piece.Length, _maxAllocation), kind);
            if (err != Errno.None)
            {
                return err;
            }
        }

        return Errno.None;
    }

    // One transaction: allocates up to `count` blocks for the file blocks from `fileBlock` (a
    // hole or delalloc piece), as an unwritten extent, and logs the inode.
    private Errno AllocateInto(ulong fileBlock, ulong count, AllocKind kind)
    {
        var err = Room(1);
        if (err != Errno.None)
        {
            return err;
        }

        var before = _map.Within(0, fileBlock).LastOrDefault(e => e.IsAllocated);
        var goal = before.Length > 0 ? before.DiskBlock + before.Length : Mount.Superblock.Geometry.DataStart;
        return Mount.RunTransaction(tx =>
        {
            var got = Mount.Allocator.Allocate(tx, count, goal, out var start, out var length, kind);
            if (got != Errno.None)
            {
                return got;
            }

            if (kind == AllocKind.Delalloc)
            {
                _map.Remove(fileBlock, length, ExtentState.Delalloc);
            }

            _map.Insert(new Extent(fileBlock, start, (uint)length, ExtentState.Unwritten));
            Log(tx, DiskSize);
            return Errno.None;
        });
    }

    // Frees the blocks in the range, rolling the transaction before it fills up.
    private Errno FreeRange(ulong first, ulong count)
    {
        DropDelalloc(first, count);
        var bitsPerBitmapBlock = (ulong)BlockSize * 8;

        // Logging the inode may rewrite every extent block and allocate or free one.
        var reserve = Mount.Inodes.MaxExtentBlocks + 4;
        while (true)
        {
            var pieces = _map.Within(first, count);
            if (pieces.Count == 0)
            {
                return Errno.None;
            }

            var err = Mount.RunTransaction(tx =>
            {
                foreach (var piece in pieces)
                {
                    // A chunk of at most one bitmap block's bits touches at most two bitmap blocks.
                    if (piece != pieces[0] && tx.Room < reserve + 2)
                    {
                        break;
                    }

                    foreach (var gone in _map.Remove(piece.FileBlock, Math.Min(piece.Length, bitsPerBitmapBlock)))
                    {
                        Mount.Allocator.Free(tx, gone.DiskBlock, gone.Length);
                    }
                }

                Log(tx, DiskSize);
                return Errno.None;
            });
            if (err != Errno.None)
            {
                return err;
            }
        }
    }

    // Writes the in-core state into the inode record in `tx`: the on-disk extents, `diskSize`
    // and the timestamps. Transactions run one at a time, so Core is the current record.
    private void Log(Transaction tx, long diskSize)
    {
        var core = Core with
        {
            Extents = [.. _map.OnDisk],
            FileSize = diskSize,
            MtimeNs = MtimeNs,
            CtimeNs = CtimeNs,
        };
        Volatile.Write(ref _timesDirty, 0);
        SetCore(Mount.Inodes.Write(tx, core));
    }
}
