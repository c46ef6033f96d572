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
/// can allocate several times without waiting on a bitmap buffer it holds itself. Context:
/// Process context (it may sleep on a bitmap buffer's lock).</remarks>
public sealed class BlockAllocator
{
    private readonly BufTarget _target;
    private readonly FsGeometry _g;
    private readonly System.Collections.BitArray _used;
    private long _free;

    private BlockAllocator(BufTarget target, FsGeometry geometry)
    {
        _target = target;
        _g = geometry;
        _used = new System.Collections.BitArray(checked((int)geometry.Blocks));
    }

    /// <summary>Free blocks in the data area.</summary>
    public long FreeBlocks => Interlocked.Read(ref _free);

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
    public Errno Allocate(Transaction tx, ulong count, ulong goal, out ulong start, out ulong length)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentOutOfRangeException.ThrowIfZero(count);
        start = 0;
        length = 0;
        if (FreeBlocks == 0)
        {
            return Errno.ENOSPC;
        }

        goal = Math.Clamp(goal, _g.DataStart, _g.Blocks - 1);
        var (bestStart, bestLength) = (0UL, 0UL);
        foreach (var from in new[] { goal, _g.DataStart })
        {
            for (var b = from; b < _g.Blocks;)
            {
                if (IsUsed(b))
                {
                    b++;
                    continue;
                }

                var runStart = b;
                while (b < _g.Blocks && b - runStart < count && !IsUsed(b))
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

        SetBits(tx, bestStart, bestLength, used: true);
        Interlocked.Add(ref _free, -(long)bestLength);
        start = bestStart;
        length = bestLength;
        return Errno.None;
    }

    /// <summary>Frees <paramref name="count"/> blocks from <paramref name="start"/>.</summary>
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
