using System.Threading;
using Writeback.Fs.Buffer;
using Writeback.Fs.Format;
using Writeback.Fs.Journal;
using Writeback.Kernel;

namespace Writeback.Fs.Alloc;

/// <summary>Free space: one bit per block in the bitmap blocks, changed inside transactions.</summary>
/// <remarks>Kernel: the role of XFS's free-space btrees (xfs_alloc_vextent), as a bitmap: an
/// allocation takes the first run of the wanted length at or after the goal (so a file that
/// grows stays contiguous), else the longest run it can find, and reports ENOSPC when the data
/// area is full. The bitmap blocks are joined to the caller's transaction; an in-memory copy of
/// the bitmap, read at open and changed with them, answers the searches, so that a transaction
/// can allocate several times without waiting on a bitmap buffer it holds itself.
/// <para>Accounting, as XFS's free-block counter does it: buffered writes reserve blocks for
/// their delalloc extents (<see cref="ReserveDelalloc"/>), so that ENOSPC is reported by the
/// write and never by writeback; data allocations may not take blocks reserved that way nor the
/// set-aside pool (XFS's reserve pool), which only metadata — directory and extent blocks — may
/// use. Blocks freed from metadata are busy (XFS's busy extents) until the next journal
/// checkpoint: reused as file data before then, a replay of their older logged copies would
/// overwrite that data.</para>
/// Context: Process context (it may sleep on a bitmap buffer's lock).</remarks>
public sealed class BlockAllocator
{
    private readonly BufTarget _target;
    private readonly FsGeometry _g;
    private readonly System.Collections.BitArray _used;
    private readonly HashSet<ulong> _busy = [];
    private long _free;
    private long _reserved;

    private BlockAllocator(BufTarget target, FsGeometry geometry)
    {
        _target = target;
        _g = geometry;
        _used = new System.Collections.BitArray(checked((int)geometry.Blocks));
        SetAside = (long)Math.Min((geometry.Blocks - geometry.DataStart) / 20, 1024);
    }

    /// <summary>Free blocks in the data area (busy ones included).</summary>
    public long FreeBlocks => Interlocked.Read(ref _free);

    /// <summary>Blocks reserved for delalloc extents.</summary>
    public long ReservedBlocks => Interlocked.Read(ref _reserved);

    /// <summary>Blocks only metadata may take (5% of the data area, at most 1,024).</summary>
    public long SetAside { get; }

    /// <summary>Blocks file data may still reserve or take.</summary>
    public long AvailableBlocks => Math.Max(0, FreeBlocks - ReservedBlocks - SetAside);

    /// <summary>Blocks freed from metadata that wait for a checkpoint before reuse.</summary>
    public int BusyBlocks => _busy.Count;

    /// <summary>What makes busy blocks reusable (a journal checkpoint); called when an allocation finds nothing else.</summary>
    public Func<Errno>? FlushBusy { get; set; }

    /// <summary>Reserves <paramref name="count"/> blocks for delalloc extents, or returns <see cref="Errno.ENOSPC"/>.</summary>
    /// <remarks>Kernel: xfs_dec_fdblocks() from xfs_bmapi_reserve_delalloc().</remarks>
    public Errno ReserveDelalloc(ulong count)
    {
        while (true)
        {
            var reserved = Interlocked.Read(ref _reserved);
            if (FreeBlocks - reserved - SetAside < (long)count)
            {
                return Errno.ENOSPC;
            }

            if (Interlocked.CompareExchange(ref _reserved, reserved + (long)count, reserved) == reserved)
            {
                return Errno.None;
            }
        }
    }

    /// <summary>Gives back a delalloc reservation (the extent was punched or truncated away).</summary>
    public void UnreserveDelalloc(ulong count)
    {
        if (Interlocked.Add(ref _reserved, -(long)count) < 0)
        {
            Bug.Fail($"block allocator: unreserving {count} blocks left the delalloc reservation negative");
        }
    }

    /// <summary>Lets busy blocks be reused: nothing logged before now can be replayed over them.</summary>
    public void ClearBusy() => _busy.Clear();

    private ulong BitsPerBlock => (ulong)_g.BlockSize * 8;

    /// <summary>Opens the allocator of a mounted filesystem, counting the free blocks.</summary>
    public static BlockAllocator Open(BufTarget target, FsGeometry geometry)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(geometry);
        var a = new BlockAllocator(target, geometry);
        var bitsPerBlock = (ulong)geometry.BlockSize * 8;
        for (ulong i = 0; i < geometry.BitmapBlocks; i++)
        {
            if (target.Read(geometry.BitmapStart + i, null, out var bp) is var err && err != Errno.None)
            {
                throw new IOException($"block allocator: reading bitmap block {i} failed: {err}");
            }

            for (var bit = 0UL; bit < bitsPerBlock && (i * bitsPerBlock) + bit < geometry.Blocks; bit++)
            {
                a._used[(int)((i * bitsPerBlock) + bit)] = (bp!.Data[bit / 8] & (1 << (int)(bit % 8))) != 0;
            }

            bp!.Relse();
        }

        long free = 0;
        for (var b = geometry.DataStart; b < geometry.Blocks; b++)
        {
            free += a._used[(int)b] ? 0 : 1;
        }

        a._free = free;
        return a;
    }

    /// <summary>Allocates up to <paramref name="count"/> contiguous blocks, preferring <paramref name="goal"/>;
    /// returns the first block and how many were given, or <see cref="Errno.ENOSPC"/>.</summary>
    /// <param name="tx">The transaction the bitmap changes join.</param>
    /// <param name="count">Blocks wanted.</param>
    /// <param name="goal">Where they would best start (after the file's previous extent).</param>
    /// <param name="start">The first block given.</param>
    /// <param name="length">Blocks given, 1 to <paramref name="count"/>.</param>
    /// <param name="kind">Whose blocks: data (within <see cref="AvailableBlocks"/>), delalloc
    /// (out of the caller's reservation, which shrinks by what is given), or metadata (may use the set-aside).</param>
    public Errno Allocate(Transaction tx, ulong count, ulong goal, out ulong start, out ulong length, AllocKind kind = AllocKind.Metadata)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentOutOfRangeException.ThrowIfZero(count);
        start = 0;
        length = 0;
        var allowed = kind switch
        {
            AllocKind.Data => AvailableBlocks,
            AllocKind.Delalloc => Math.Min(ReservedBlocks, FreeBlocks),
            _ => FreeBlocks - ReservedBlocks,
        };
        if (allowed <= 0)
        {
            return Errno.ENOSPC;
        }

        count = Math.Min(count, (ulong)allowed);
        var (bestStart, bestLength) = Search(count, goal);
        if (bestLength == 0 && _busy.Count > 0 && FlushBusy is { } flush && flush() == Errno.None)
        {
            (bestStart, bestLength) = Search(count, goal);
        }

        if (bestLength == 0)
        {
            return Errno.ENOSPC;
        }

        SetBits(tx, bestStart, bestLength, used: true);
        Interlocked.Add(ref _free, -(long)bestLength);
        if (kind == AllocKind.Delalloc)
        {
            UnreserveDelalloc(bestLength);
        }

        start = bestStart;
        length = bestLength;
        return Errno.None;
    }

    /// <summary>Frees <paramref name="count"/> blocks from <paramref name="start"/>; metadata
    /// blocks stay busy until the next checkpoint.</summary>
    /// <remarks>A freed metadata block that <paramref name="tx"/> has joined is forgotten by it
    /// (jbd2_journal_forget): what it changed there is not logged.</remarks>
    /// <exception cref="KernelBugException">A block is outside the data area or already free.</exception>
    public void Free(Transaction tx, ulong start, ulong count, bool metadata)
    {
        Free(tx, start, count);
        for (var b = start; metadata && b < start + count; b++)
        {
            tx.Forget(b);
            _busy.Add(b);
        }
    }

    private (ulong Start, ulong Length) Search(ulong count, ulong goal)
    {
        goal = Math.Clamp(goal, _g.DataStart, _g.Blocks - 1);
        var (bestStart, bestLength) = (0UL, 0UL);
        foreach (var from in new[] { goal, _g.DataStart })
        {
            for (var b = from; b < _g.Blocks;)
            {
                if (Unavailable(b))
                {
                    b++;
                    continue;
                }

                var runStart = b;
                while (b < _g.Blocks && b - runStart < count && !Unavailable(b))
                {
                    b++;
                }

                var runLength = b - runStart;
                if (runLength > bestLength)
                {
                    (bestStart, bestLength) = (runStart, runLength);
                }

                if (bestLength == count)
                {
                    break;
                }
            }

            if (bestLength == count)
            {
                break;
            }
        }

        return (bestStart, bestLength);
    }

    /// <summary>Frees <paramref name="count"/> blocks of file data from <paramref name="start"/>.</summary>
    /// <exception cref="KernelBugException">A block is outside the data area or already free.</exception>
    public void Free(Transaction tx, ulong start, ulong count)
    {
        ArgumentNullException.ThrowIfNull(tx);
        for (var b = start; b < start + count; b++)
        {
            if (b < _g.DataStart || b >= _g.Blocks || !IsUsed(b))
            {
                Bug.Fail($"block allocator: freeing block {b}, which is {(b < _g.DataStart || b >= _g.Blocks ? "outside the data area" : "already free")}");
            }
        }

        SetBits(tx, start, count, used: false);
        Interlocked.Add(ref _free, (long)count);
    }

    /// <summary>Whether <paramref name="block"/> is in use.</summary>
    public bool IsUsed(ulong block) => _used[checked((int)block)];

    private bool Unavailable(ulong block) => _used[checked((int)block)] || _busy.Contains(block);

    private void SetBits(Transaction tx, ulong start, ulong count, bool used)
    {
        var joined = new Dictionary<ulong, XfsBuf>();
        for (var b = start; b < start + count; b++)
        {
            var bitmapBlock = _g.BitmapStart + (b / BitsPerBlock);
            if (!joined.TryGetValue(bitmapBlock, out var bp))
            {
                bp = tx.Joined(bitmapBlock);
                if (bp is null)
                {
                    if (_target.Read(bitmapBlock, null, out bp) is var err && err != Errno.None)
                    {
                        throw new IOException($"block allocator: reading the bitmap failed: {err}");
                    }

                    tx.Join(bp!, releaseAtCommit: true);
                }

                joined[bitmapBlock] = bp!;
            }

            _used[checked((int)b)] = used;

            var bit = b % BitsPerBlock;
            if (used)
            {
                bp!.Data[bit / 8] |= (byte)(1 << (int)(bit % 8));
            }
            else
            {
                bp!.Data[bit / 8] &= (byte)~(1 << (int)(bit % 8));
            }
        }
    }
}
