using System.Threading;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Fs.Iomap;

/// <summary>iomap's per-folio state: which blocks are uptodate and which dirty, and the bytes of
/// the folio still under write I/O.</summary>
/// <remarks>Kernel: struct iomap_folio_state (fs/iomap/buffered-io.c): state_lock (taken with
/// irqsave: read completion marks blocks uptodate from the bio's end-io), a bitmap of uptodate
/// and of dirty blocks, read_bytes_pending and write_bytes_pending. The folio ends writeback
/// when write_bytes_pending drops to zero — when its last block under I/O completes. Model: it is
/// attached to every folio of a file (the kernel skips it for one block per folio).</remarks>
public sealed class IomapFolioState
{
    private static readonly LockClassKey s_stateKey = LockClassKey.ForName("&ifs->state_lock");
    private readonly Writeback.Kernel.SpinLock _lock = new(s_stateKey);
    private readonly bool[] _uptodate;
    private readonly bool[] _dirty;
    private int _writePending;

    private IomapFolioState(int blocks)
    {
        _uptodate = new bool[blocks];
        _dirty = new bool[blocks];
    }

    /// <summary>Blocks in the folio.</summary>
    public int Blocks => _uptodate.Length;

    /// <summary>Bytes of the folio under write I/O (write_bytes_pending).</summary>
    public int WritePending => Volatile.Read(ref _writePending);

    /// <summary>The state of <paramref name="folio"/>, attached if it has none (ifs_alloc).</summary>
    /// <remarks>Context: the folio is locked.</remarks>
    public static IomapFolioState Of(Folio folio, int blockSize)
    {
        ArgumentNullException.ThrowIfNull(folio);
        if (folio.Private is IomapFolioState state)
        {
            return state;
        }

        state = new IomapFolioState(Math.Max(1, folio.Size / blockSize));
        if (folio.Test(FolioFlags.Uptodate))
        {
            Array.Fill(state._uptodate, true);
        }

        if (folio.Test(FolioFlags.Dirty))
        {
            Array.Fill(state._dirty, true);
        }

        folio.Private = state;
        return state;
    }

    /// <summary>Whether blocks [<paramref name="first"/>, first + <paramref name="count"/>) are uptodate.</summary>
    public bool IsUptodate(int first, int count)
    {
        var flags = _lock.LockIrqSave();
        var all = Array.IndexOf(_uptodate, false, first, count) < 0;
        _lock.UnlockIrqRestore(flags);
        return all;
    }

    /// <summary>Marks blocks uptodate, and the folio when all of them are (iomap_set_range_uptodate).</summary>
    /// <remarks>Context: Any context (read completion).</remarks>
    public void MarkUptodate(Folio folio, int first, int count)
    {
        ArgumentNullException.ThrowIfNull(folio);
        var flags = _lock.LockIrqSave();
        Array.Fill(_uptodate, true, first, count);
        var all = Array.IndexOf(_uptodate, false) < 0;
        _lock.UnlockIrqRestore(flags);
        if (all)
        {
            folio.MarkUptodate();
        }
    }

    /// <summary>Marks blocks uptodate and dirty under one hold of the lock (a buffered write's
    /// copy: iomap_set_range_uptodate + iomap_set_range_dirty); the folio too when all are uptodate.</summary>
    public void MarkUptodateAndDirty(Folio folio, int first, int count)
    {
        ArgumentNullException.ThrowIfNull(folio);
        var flags = _lock.LockIrqSave();
        Array.Fill(_uptodate, true, first, count);
        Array.Fill(_dirty, true, first, count);
        var all = Array.IndexOf(_uptodate, false) < 0;
        _lock.UnlockIrqRestore(flags);
        if (all)
        {
            folio.MarkUptodate();
        }
    }

    /// <summary>Marks blocks dirty (iomap_set_range_dirty); the caller then dirties the folio.</summary>
    public void MarkDirty(int first, int count)
    {
        var flags = _lock.LockIrqSave();
        Array.Fill(_dirty, true, first, count);
        _lock.UnlockIrqRestore(flags);
    }

    /// <summary>Takes the runs of dirty blocks below <paramref name="blocks"/>, clearing them
    /// (writeback: iomap_clear_range_dirty as each range is added to an ioend).</summary>
    public List<(int First, int Count)> TakeDirty(int blocks)
    {
        var runs = new List<(int, int)>();
        var flags = _lock.LockIrqSave();
        for (var b = 0; b < Math.Min(blocks, _dirty.Length); b++)
        {
            if (!_dirty[b])
            {
                continue;
            }

            var first = b;
            while (b < Math.Min(blocks, _dirty.Length) && _dirty[b])
            {
                _dirty[b++] = false;
            }

            runs.Add((first, b - first));
        }

        _lock.UnlockIrqRestore(flags);
        return runs;
    }

    /// <summary>Cleans the whole blocks in bytes [<paramref name="offset"/>, offset + <paramref name="length"/>)
    /// (a partial invalidation: the range was zeroed, so there is nothing to write there). They
    /// stay uptodate, as the folio does — the kernel's iomap_invalidate_folio leaves a partial
    /// range alone.</summary>
    public void Invalidate(int offset, int length, int blockSize)
    {
        var first = (offset + blockSize - 1) / blockSize;
        var end = Math.Min(_dirty.Length, (offset + length) / blockSize);
        var flags = _lock.LockIrqSave();
        for (var b = first; b < end; b++)
        {
            _dirty[b] = false;
        }

        _lock.UnlockIrqRestore(flags);
    }

    /// <summary>Counts <paramref name="bytes"/> more under write I/O.</summary>
    public void StartWrite(int bytes) => Interlocked.Add(ref _writePending, bytes);

    /// <summary>Counts <paramref name="bytes"/> done; returns whether they were the last (iomap_finish_folio_write).</summary>
    /// <remarks>Context: Any context (bio completion).</remarks>
    public bool FinishWrite(int bytes)
    {
        var left = Interlocked.Add(ref _writePending, -bytes);
        if (left < 0)
        {
            Bug.Fail($"iomap: write_bytes_pending went negative ({left})");
        }

        return left == 0;
    }
}
