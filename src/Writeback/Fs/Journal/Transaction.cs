using Writeback.Fs.Buffer;
using Writeback.Kernel;

namespace Writeback.Fs.Journal;

/// <summary>A set of metadata buffers changed together: all of them reach the disk, or none.</summary>
/// <remarks>Kernel: handle_t / struct xfs_trans: join locked buffers, change them, commit. The
/// caller keeps each joined buffer locked until the commit; commit logs their contents and
/// queues them for writing in place.</remarks>
public sealed class Transaction
{
    private readonly Journal _journal;
    private readonly int _maxBlocks;
    private readonly List<XfsBuf> _buffers = [];
    private readonly List<XfsBuf> _owned = [];
    private bool _done;

    internal Transaction(Journal journal, int maxBlocks)
    {
        _journal = journal;
        _maxBlocks = maxBlocks;
    }

    internal IReadOnlyList<XfsBuf> Buffers => _buffers;

    /// <summary>Whether the transaction has joined a buffer (and so may have changed it): a
    /// failure after that cannot simply be committed or cancelled (XFS_TRANS_DIRTY).</summary>
    internal bool IsDirty { get; private set; }

    /// <summary>Blocks the transaction may still join.</summary>
    public int Room => _maxBlocks - _buffers.Count;

    /// <summary>The buffer of <paramref name="block"/> if this transaction has joined it (it holds its lock).</summary>
    public XfsBuf? Joined(ulong block) => _buffers.Find(b => b.Block == block);

    /// <summary>Adds a locked buffer the transaction changes (xfs_trans_bjoin / jbd2_journal_get_write_access);
    /// with <paramref name="releaseAtCommit"/> the commit unlocks and releases it, as
    /// xfs_trans_commit() does for buffers not held with xfs_trans_bhold().</summary>
    /// <exception cref="InvalidOperationException">The transaction would not fit the journal.</exception>
    public void Join(XfsBuf buffer, bool releaseAtCommit = false)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        buffer.AssertLocked("journal join");
        if (_buffers.Contains(buffer))
        {
            return;
        }

        if (releaseAtCommit)
        {
            _owned.Add(buffer);
        }

        if (_buffers.Count == _maxBlocks)
        {
            throw new InvalidOperationException($"journal: a transaction may change at most {_maxBlocks} blocks");
        }

        IsDirty = true;
        _buffers.Add(buffer);
    }

    /// <summary>Drops <paramref name="block"/> from the transaction, if it joined it, without
    /// logging it: the block is being freed (jbd2_journal_forget, xfs_trans_binval).</summary>
    public void Forget(ulong block)
    {
        var bp = Joined(block);
        if (bp is null)
        {
            return;
        }

        _buffers.Remove(bp);
        if (_owned.Remove(bp))
        {
            bp.Relse();
        }
    }

    /// <summary>Abandons the transaction: releases what it joined without logging anything.</summary>
    /// <remarks>Only for a transaction that failed before changing a buffer, or on the way to
    /// giving up on the filesystem (XFS shuts the filesystem down when a dirty transaction is
    /// cancelled): changed buffers are left changed in memory.</remarks>
    public void Cancel()
    {
        if (_done)
        {
            return;
        }

        _done = true;
        foreach (var bp in _owned)
        {
            bp.Relse();
        }

        _journal.End();
    }

    /// <summary>Makes the changes durable in the journal; buffers joined without
    /// <c>releaseAtCommit</c> stay locked and held by the caller. A clean transaction (one that
    /// joined no buffer) just ends: no I/O, no cache flush, not counted in <see cref="Journal.Commits"/>.</summary>
    /// <remarks>Kernel: xfs_trans_commit(). Context: Process context. May sleep.</remarks>
    public Errno Commit()
    {
        if (_done)
        {
            throw new InvalidOperationException("journal: the transaction was already committed");
        }

        _done = true;
        try
        {
            return _journal.Commit(this);
        }
        finally
        {
            foreach (var bp in _owned)
            {
                bp.Relse();
            }

            _journal.End();
        }
    }
}
