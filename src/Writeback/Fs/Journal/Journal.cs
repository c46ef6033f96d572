using System.Buffers.Binary;
using System.Threading;
using Writeback.Block;
using Writeback.Fs.Buffer;
using Writeback.Fs.Format;
using Writeback.Kernel;
using Writeback.Lib;

namespace Writeback.Fs.Journal;

/// <summary>A physical, whole-block journal in the manner of jbd2: each transaction is written to
/// the log as a descriptor block, copies of the blocks it changed and a checksummed commit block;
/// the changed blocks are written in place later (checkpoint), after which the log tail moves on.
/// Recovery at mount replays every committed transaction and stops at the first torn one.</summary>
/// <remarks>Kernel: fs/jbd2 (descriptor, commit and journal superblock; checkpointing). Layout:
/// block 0 of the log region is the journal header (magic, the sequence and offset of the
/// oldest transaction still needed, a CRC-32C); transactions follow from offset 1 and wrap.
/// A commit is durable when it returns: the records are written with a cache flush before the
/// commit block and the commit block itself is FUA. A committed block is written home only by a
/// checkpoint, from the copy that was logged (jbd2's frozen copy), never from the live buffer —
/// which a later transaction may be changing — and the buffer stays pinned (held, so never
/// reclaimed) until then. A checkpoint submits all its copies before waiting for any, as
/// uncached buffer writes (<see cref="BufTarget.WriteUncached"/>, xfs_buf_delwri_submit). Model: transactions run one at a time — <see cref="Begin"/> takes a
/// mutex that the commit releases — where the kernel runs many at once under log-space
/// reservations and ordered locking; a transaction may not be larger than half the log.
/// Commits are synchronous (as with XFS's wsync mount option): there is no delayed logging, so
/// a committed transaction is durable. A transaction that joined no buffer — an operation that
/// failed its own checks, or found nothing to change — is clean, and its commit does no I/O at
/// all: no log record, no cache flush (XFS's commit of a transaction without XFS_TRANS_DIRTY).
/// <para>Shutdown (XFS's log shutdown, xlog_force_shutdown): a log write or a checkpoint write
/// or flush that fails leaves memory ahead of the disk — the failed transaction's changes are
/// in the buffers, and the disk can only be brought to them by writing what may now be wrong
/// — so the journal shuts down rather than go on: from then on every commit and checkpoint
/// returns <see cref="Errno.EIO"/> without any I/O, and the buffer cache refuses I/O too. What
/// the disk holds is then exactly the last successful commit, which recovery replays at the
/// next mount.</para></remarks>
public sealed class Journal
{
    private const uint HeaderMagic = 0x4A484257;     // "WBHJ"
    private const uint DescriptorMagic = 0x4A444257; // "WBDJ"
    private const uint CommitMagic = 0x4A434257;     // "WBCJ"
    private static readonly LockClassKey s_commitKey = LockClassKey.ForName("&journal->j_commit_mutex");
    private static readonly LockClassKey s_txKey = LockClassKey.ForName("&journal->j_running");
    private readonly Writeback.Kernel.Mutex _commit = new(s_commitKey);
    private readonly Writeback.Kernel.Mutex _running = new(s_txKey);
    private readonly BufTarget _target;
    private readonly FsGeometry _geometry;
    private readonly Dictionary<ulong, (XfsBuf Buffer, byte[] Copy)> _pinned = [];
    private ulong _tailSeq;
    private ulong _tailOffset;
    private ulong _headSeq;
    private ulong _headOffset;
    private int _shutdown;

    private Journal(BufTarget target, FsGeometry geometry)
    {
        _target = target;
        _geometry = geometry;
    }

    /// <summary>Transactions committed to the log since mount: those that joined a buffer.</summary>
    public long Commits { get; private set; }

    /// <summary>Clean transactions (they joined no buffer) ended by a commit since mount: nothing
    /// was written for them.</summary>
    /// <remarks>Kernel: the xs_trans_empty statistic.</remarks>
    public long CleanCommits { get; private set; }

    /// <summary>Transactions replayed by the last recovery.</summary>
    public int Replayed { get; private set; }

    /// <summary>Whether the journal has shut down: nothing is committed or written home any more.</summary>
    /// <remarks>Kernel: xlog_is_shutdown(). Context: Any context.</remarks>
    public bool IsShutdown => Volatile.Read(ref _shutdown) != 0;

    // Runs after every checkpoint, when nothing logged before it can be replayed any more (the
    // allocator lets its busy blocks be reused here).
    internal Action? Checkpointed { get; set; }

    /// <summary>Blocks one transaction may change.</summary>
    public int MaxBlocksPerTransaction => MaxBlocksFor(_geometry);

    private ulong Capacity => _geometry.LogBlocks - 1;

    /// <summary>Blocks one transaction may change on a filesystem of <paramref name="geometry"/>:
    /// at most half the log, and what one descriptor block can list.</summary>
    public static int MaxBlocksFor(FsGeometry geometry)
    {
        ArgumentNullException.ThrowIfNull(geometry);
        return (int)Math.Min(((geometry.LogBlocks - 1) / 2) - 2, (ulong)((geometry.BlockSize - 24) / 8));
    }

    /// <summary>Writes an empty journal (mkfs).</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public static Journal Create(BufTarget target, FsGeometry geometry)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(geometry);
        var journal = new Journal(target, geometry) { _tailSeq = 1, _tailOffset = 1, _headSeq = 1, _headOffset = 1 };
        journal.WriteHeader();
        return journal;
    }

    /// <summary>Opens the journal at mount and replays what committed transactions it holds.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    /// <exception cref="InvalidDataException">The journal header is missing or corrupt.</exception>
    public static Journal Recover(BufTarget target, FsGeometry geometry)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(geometry);
        var journal = new Journal(target, geometry);
        journal.ReadHeader();
        journal.Replay();
        return journal;
    }

    /// <summary>Starts a transaction.</summary>
    /// <remarks>Kernel: jbd2_journal_start() / xfs_trans_alloc(). Context: Process context — it
    /// may sleep (for log space, for the running transaction before it), which is why
    /// completion work that needs a transaction cannot run in interrupt context.</remarks>
    public Transaction Begin()
    {
        if (!Context.InTask || Context.BioInAtomic)
        {
            Bug.Fail("journal: a transaction started outside task context");
        }

        Context.MightSleep();
        _running.Lock();
        return new Transaction(this, MaxBlocksPerTransaction);
    }

    internal void End() => _running.Unlock();

    /// <summary>Shuts the journal down (and with it the buffer cache's I/O) because of
    /// <paramref name="reason"/>; returns false if it was already down.</summary>
    /// <remarks>Kernel: xlog_force_shutdown(), which also marks the mount shut down
    /// (XFS_OPSTATE_SHUTDOWN). It only sets state and logs a line, so it may run anywhere — in a
    /// commit holding the commit mutex, or in a bio completion's transaction. Context: Any context.</remarks>
    public bool ForceShutdown(string reason)
    {
        ArgumentNullException.ThrowIfNull(reason);
        if (Interlocked.Exchange(ref _shutdown, 1) != 0)
        {
            return false;
        }

        _target.Shutdown();
        _target.Device.Layer.Machine.Printk($"XFS ({_target.Device.Name}): filesystem shut down: {reason}; unmount it and mount it again to recover from the log");
        return true;
    }

    /// <summary>Drops the journal's holds on the logged buffers without writing them home: the
    /// unmount of a shut-down filesystem (the log keeps them for recovery).</summary>
    /// <remarks>Kernel: the buffer items' unpin with the log shut down (xfs_buf_item_unpin
    /// marking them stale). Context: Process context. May sleep.</remarks>
    internal void ReleasePinned()
    {
        Bug.On(!IsShutdown, "journal: releasing the logged buffers of a live journal");
        _commit.Lock();
        try
        {
            foreach (var (buffer, _) in _pinned.Values)
            {
                _target.Rele(buffer);
            }

            _pinned.Clear();
        }
        finally
        {
            _commit.Unlock();
        }
    }

    /// <summary>Writes every checkpointed-but-not-yet-in-place block home, flushes, and moves the tail to the head.</summary>
    /// <remarks>Kernel: jbd2_log_do_checkpoint(). Context: Process context. May sleep.</remarks>
    public Errno Checkpoint()
    {
        _running.Lock();
        try
        {
            return CheckpointInTransaction();
        }
        finally
        {
            _running.Unlock();
        }
    }

    /// <summary>A checkpoint from inside a running transaction (the allocator's busy-block flush).</summary>
    internal Errno CheckpointInTransaction()
    {
        _commit.Lock();
        try
        {
            return CheckpointLocked();
        }
        finally
        {
            _commit.Unlock();
        }
    }

    // A clean transaction (it joined no buffer) changed nothing: it writes nothing to the log,
    // flushes nothing and is not a log commit, even once shut down — there is nothing to refuse
    // (__xfs_trans_commit frees a transaction without XFS_TRANS_DIRTY without touching the log).
    // A caller that needs the device's cache flushed (fsync) flushes it itself. The caller holds
    // the running-transaction mutex, so the counter needs no other lock.
    internal Errno Commit(Transaction tx)
    {
        if (!tx.IsDirty)
        {
            CleanCommits++;
            return Errno.None;
        }

        _commit.Lock();
        try
        {
            if (IsShutdown)
            {
                return Errno.EIO;
            }

            var blocks = tx.Buffers;
            var needed = (ulong)blocks.Count + 2;
            // Never fill the log completely: a head that wraps onto the tail would read as an
            // empty log, and the next commit would overwrite transactions not yet checkpointed.
            if (Used + needed >= Capacity)
            {
                var err = CheckpointLocked();
                if (err != Errno.None)
                {
                    return err;
                }
            }

            var seq = _headSeq;
            var descriptor = new byte[_geometry.BlockSize];
            BinaryPrimitives.WriteUInt32LittleEndian(descriptor, DescriptorMagic);
            BinaryPrimitives.WriteUInt64LittleEndian(descriptor.AsSpan(4), seq);
            BinaryPrimitives.WriteInt32LittleEndian(descriptor.AsSpan(12), blocks.Count);
            for (var i = 0; i < blocks.Count; i++)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(descriptor.AsSpan(24 + (8 * i)), blocks[i].Block);
            }

            var crc = Crc32c.Update(uint.MaxValue, descriptor);
            var offset = _headOffset;
            var err2 = WriteLogBlock(ref offset, descriptor, BioOpFlags.None);
            foreach (var bp in blocks)
            {
                crc = Crc32c.Update(crc, bp.Data);
                err2 = err2 != Errno.None ? err2 : WriteLogBlock(ref offset, bp.Data, BioOpFlags.None);
            }

            var commit = new byte[_geometry.BlockSize];
            BinaryPrimitives.WriteUInt32LittleEndian(commit, CommitMagic);
            BinaryPrimitives.WriteUInt64LittleEndian(commit.AsSpan(4), seq);
            BinaryPrimitives.WriteUInt32LittleEndian(commit.AsSpan(12), ~crc);
            err2 = err2 != Errno.None ? err2 : WriteLogBlock(ref offset, commit, BioOpFlags.Preflush | BioOpFlags.Fua);
            if (err2 != Errno.None)
            {
                // The transaction's changes are in memory and not in the log: nothing may be
                // committed or written home after this (xlog_ioend_work on a failed iclog write).
                ForceShutdown($"writing transaction {seq} to the log failed ({err2})");
                return Errno.EIO;
            }

            _headSeq = seq + 1;
            _headOffset = offset;
            foreach (var bp in blocks)
            {
                // What was logged is the block's content now, whether or not it was ever read.
                bp.SetFlag(BufFlags.Done);
                if (!_pinned.ContainsKey(bp.Block))
                {
                    bp.Hold();
                }

                _pinned[bp.Block] = (bp, bp.Data.ToArray());
            }

            Commits++;
            return Errno.None;
        }
        finally
        {
            _commit.Unlock();
        }
    }

    private ulong Used => _headOffset >= _tailOffset ? _headOffset - _tailOffset : Capacity - (_tailOffset - _headOffset);

    private Errno CheckpointLocked()
    {
        if (IsShutdown)
        {
            return Errno.EIO;
        }

        // A failed write home leaves the log as the only good copy: the tail must not move past
        // it, and nothing more may be written (XFS shuts down on a failed metadata writeback).
        var written = _target.WriteUncached(_pinned.OrderBy(p => p.Key).Select(p => (p.Key, p.Value.Copy)));
        if (written != Errno.None)
        {
            ForceShutdown($"writing logged metadata home failed ({written})");
            return Errno.EIO;
        }

        var flushed = RawIo(BioOp.Flush, 0, null, BioOpFlags.None);
        if (flushed != Errno.None)
        {
            ForceShutdown($"flushing the device's cache at a checkpoint failed ({flushed})");
            return Errno.EIO;
        }

        foreach (var (buffer, _) in _pinned.Values)
        {
            _target.Rele(buffer);
        }

        _pinned.Clear();
        _tailSeq = _headSeq;
        _tailOffset = _headOffset;
        var header = WriteHeader();
        if (header != Errno.None)
        {
            ForceShutdown($"writing the journal header failed ({header})");
            return Errno.EIO;
        }

        Checkpointed?.Invoke();
        return Errno.None;
    }

    private void Replay()
    {
        var seq = _tailSeq;
        var offset = _tailOffset;
        var block = new byte[_geometry.BlockSize];
        var replayed = new List<(ulong Home, byte[] Data)>();
        while (true)
        {
            var at = offset;
            if (ReadLogBlock(ref at, block) != Errno.None || BinaryPrimitives.ReadUInt32LittleEndian(block) != DescriptorMagic || BinaryPrimitives.ReadUInt64LittleEndian(block.AsSpan(4)) != seq)
            {
                break;
            }

            var count = BinaryPrimitives.ReadInt32LittleEndian(block.AsSpan(12));
            if (count < 0 || count > MaxBlocksPerTransaction)
            {
                break;
            }

            var crc = Crc32c.Update(uint.MaxValue, block);
            var homes = Enumerable.Range(0, count).Select(i => BinaryPrimitives.ReadUInt64LittleEndian(block.AsSpan(24 + (8 * i)))).ToList();
            var copies = new List<byte[]>();
            for (var i = 0; i < count; i++)
            {
                var data = new byte[_geometry.BlockSize];
                ReadLogBlock(ref at, data);
                crc = Crc32c.Update(crc, data);
                copies.Add(data);
            }

            var commit = new byte[_geometry.BlockSize];
            ReadLogBlock(ref at, commit);
            if (BinaryPrimitives.ReadUInt32LittleEndian(commit) != CommitMagic || BinaryPrimitives.ReadUInt64LittleEndian(commit.AsSpan(4)) != seq || BinaryPrimitives.ReadUInt32LittleEndian(commit.AsSpan(12)) != ~crc)
            {
                // A torn transaction: it never committed, and nothing after it can have.
                break;
            }

            replayed.AddRange(homes.Zip(copies));
            seq++;
            offset = at;
            Replayed++;
        }

        foreach (var (home, data) in replayed)
        {
            if (RawIo(BioOp.Write, home, data, BioOpFlags.None) is var written && written != Errno.None)
            {
                throw new IOException($"journal recovery: writing block {home} failed: {written}");
            }
        }

        _headSeq = seq;
        _headOffset = offset;
        if (CheckpointLocked() is var err && err != Errno.None)
        {
            throw new IOException($"journal recovery: writing the replayed blocks failed: {err}");
        }
    }

    private Errno WriteHeader()
    {
        var header = new byte[_geometry.BlockSize];
        BinaryPrimitives.WriteUInt32LittleEndian(header, HeaderMagic);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(4), _tailSeq);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(12), _tailOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(20), Crc32c.Compute(header.AsSpan(0, 20)));
        return RawIo(BioOp.Write, _geometry.LogStart, header, BioOpFlags.Preflush | BioOpFlags.Fua);
    }

    private void ReadHeader()
    {
        var header = new byte[_geometry.BlockSize];
        if (RawIo(BioOp.Read, _geometry.LogStart, header, BioOpFlags.None) is var err && err != Errno.None)
        {
            throw new InvalidDataException($"journal: reading the header failed: {err}");
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(header) != HeaderMagic || BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(20)) != Crc32c.Compute(header.AsSpan(0, 20)))
        {
            throw new InvalidDataException("journal: the header is missing or its checksum does not match");
        }

        _tailSeq = BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(4));
        _tailOffset = BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(12));
        if (_tailOffset < 1 || _tailOffset > Capacity)
        {
            throw new InvalidDataException($"journal: the header's tail offset {_tailOffset} is outside the log");
        }
    }

    private Errno WriteLogBlock(ref ulong offset, byte[] data, BioOpFlags flags)
    {
        var err = RawIo(BioOp.Write, _geometry.LogStart + offset, data, flags);
        offset = offset == Capacity ? 1 : offset + 1;
        return err;
    }

    private Errno ReadLogBlock(ref ulong offset, byte[] data)
    {
        var err = RawIo(BioOp.Read, _geometry.LogStart + offset, data, BioOpFlags.None);
        offset = offset == Capacity ? 1 : offset + 1;
        return err;
    }

    private Errno RawIo(BioOp op, ulong block, byte[]? data, BioOpFlags flags)
    {
        // REQ_META on every log bio, as XFS's log writes carry it.
        var bio = new Bio(_target.Device, op, flags | BioOpFlags.Meta) { Sector = block * (ulong)(_geometry.BlockSize / BlockDevice.SectorSize) };
        if (data is not null)
        {
            bio.AddVec(data);
        }

        return bio.SubmitWait();
    }
}
