using System.Collections;

namespace Writeback.Fs.Inode;

/// <summary>A file's in-memory extent map (the data fork): sorted, non-overlapping extents,
/// neighbours of the same kind merged, holes implicit.</summary>
/// <remarks>Kernel: struct xfs_ifork's incore extent tree (xfs_iext_*), with the mapping walk of
/// xfs_bmapi_read and the splitting and merging done by xfs_bmap_add_extent_* and
/// xfs_bmap_del_extent_*. It holds delalloc extents as well as the on-disk written and
/// unwritten ones. Model: a sorted list with binary search rather than a B+tree. Not
/// thread-safe: the owner's ILOCK protects it.</remarks>
public sealed class ExtentMap : IReadOnlyList<Extent>
{
    /// <summary>The longest extent (XFS's MAXEXTLEN is 2^21 - 1 blocks).</summary>
    public const uint MaxLength = (1u << 21) - 1;

    private readonly List<Extent> _extents = [];

    /// <summary>An empty map.</summary>
    public ExtentMap()
    {
    }

    /// <summary>A map of <paramref name="extents"/> (as read from disk).</summary>
    /// <exception cref="InvalidDataException">They overlap, are out of order, or are holes.</exception>
    public ExtentMap(IEnumerable<Extent> extents)
    {
        ArgumentNullException.ThrowIfNull(extents);
        foreach (var e in extents)
        {
            if (e.Length == 0 || e.State == ExtentState.Hole || (_extents.Count > 0 && _extents[^1].FileEnd > e.FileBlock))
            {
                throw new InvalidDataException($"extent map: extent {e} is empty, a hole, or overlaps the one before it");
            }

            _extents.Add(e);
        }
    }

    /// <inheritdoc/>
    public int Count => _extents.Count;

    /// <summary>Extents stored on disk (written and unwritten).</summary>
    public IEnumerable<Extent> OnDisk => _extents.Where(e => e.IsAllocated);

    /// <summary>Extents stored on disk.</summary>
    public int OnDiskCount => _extents.Count(e => e.IsAllocated);

    /// <summary>Delalloc blocks in the map.</summary>
    public ulong DelallocBlocks => (ulong)_extents.Where(e => e.State == ExtentState.Delalloc).Sum(e => (long)e.Length);

    /// <inheritdoc/>
    public Extent this[int index] => _extents[index];

    /// <summary>A copy to restore if a change must be undone.</summary>
    public ExtentMap Clone() => new(_extents);

    /// <summary>How <paramref name="count"/> blocks from <paramref name="fileBlock"/> are mapped:
    /// consecutive pieces that cover the range exactly, holes included (xfs_bmapi_read).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is longer than 2^40 blocks (use <see cref="Within"/> for open-ended ranges).</exception>
    public IReadOnlyList<Extent> Map(ulong fileBlock, ulong count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, 1UL << 40);
        var result = new List<Extent>();
        var at = fileBlock;
        var end = End(fileBlock, count);
        for (var i = FirstEndingAfter(fileBlock); at < end; i++)
        {
            var next = i < _extents.Count ? _extents[i].FileBlock : ulong.MaxValue;
            if (next > at)
            {
                var holeEnd = Math.Min(end, next);
                AddHole(result, at, holeEnd);
                at = holeEnd;
                if (at >= end)
                {
                    break;
                }
            }

            var piece = _extents[i].Slice(at, end - at);
            result.Add(piece);
            at = piece.FileEnd;
        }

        return result;
    }

    /// <summary>The extents (clipped to the range) within <paramref name="count"/> blocks from
    /// <paramref name="fileBlock"/>, holes left out; the range may run to the end of the file space.</summary>
    public IReadOnlyList<Extent> Within(ulong fileBlock, ulong count)
    {
        var result = new List<Extent>();
        var end = End(fileBlock, count);
        for (var i = FirstEndingAfter(fileBlock); i < _extents.Count && _extents[i].FileBlock < end; i++)
        {
            result.Add(_extents[i].Slice(fileBlock, end - fileBlock));
        }

        return result;
    }

    /// <summary>The mapping at <paramref name="fileBlock"/>, as long as it stays the same kind,
    /// up to <paramref name="maxCount"/> blocks.</summary>
    public Extent Lookup(ulong fileBlock, ulong maxCount = MaxLength) => Map(fileBlock, Math.Clamp(maxCount, 1, MaxLength))[0];

    /// <summary>Adds <paramref name="extent"/> where the map has a hole, merging it with
    /// neighbours of the same kind.</summary>
    /// <exception cref="InvalidOperationException">Part of its range is already mapped.</exception>
    public void Insert(Extent extent)
    {
        if (extent.Length is 0 or > MaxLength || extent.State == ExtentState.Hole)
        {
            throw new ArgumentOutOfRangeException(nameof(extent), extent, $"extent map: only extents of 1 to {MaxLength} blocks can be inserted");
        }

        if (extent.State == ExtentState.Delalloc)
        {
            extent = extent with { DiskBlock = 0 };
        }

        var i = FirstEndingAfter(extent.FileBlock);
        if (i < _extents.Count && _extents[i].FileBlock < extent.FileEnd)
        {
            throw new InvalidOperationException($"extent map: inserting {extent} over {_extents[i]}");
        }

        _extents.Insert(i, extent);
        MergeAround(i);
    }

    /// <summary>Removes whatever maps <paramref name="count"/> blocks from <paramref name="fileBlock"/>,
    /// splitting extents at the edges; returns the removed pieces (for freeing or unreserving).</summary>
    public IReadOnlyList<Extent> Remove(ulong fileBlock, ulong count) => Remove(fileBlock, count, null);

    /// <summary>Removes the pieces of <paramref name="state"/> in the range.</summary>
    public IReadOnlyList<Extent> Remove(ulong fileBlock, ulong count, ExtentState? state)
    {
        var removed = new List<Extent>();
        var end = End(fileBlock, count);
        if (end == fileBlock)
        {
            return removed;
        }

        var i = FirstEndingAfter(fileBlock);
        while (i < _extents.Count && _extents[i].FileBlock < end)
        {
            var e = _extents[i];
            if (state is { } s && e.State != s)
            {
                i++;
                continue;
            }

            var cut = e.Slice(fileBlock, end - fileBlock);
            removed.Add(cut);
            _extents.RemoveAt(i);
            if (e.FileBlock < cut.FileBlock)
            {
                _extents.Insert(i++, e.Slice(e.FileBlock, cut.FileBlock - e.FileBlock));
            }

            if (cut.FileEnd < e.FileEnd)
            {
                _extents.Insert(i++, e.Slice(cut.FileEnd, e.FileEnd - cut.FileEnd));
            }
        }

        return removed;
    }

    /// <summary>Changes the pieces of state <paramref name="from"/> in the range to
    /// <paramref name="to"/> (both allocated states), merging afterwards; returns the blocks changed.</summary>
    public ulong Convert(ulong fileBlock, ulong count, ExtentState from, ExtentState to)
    {
        if (from is not (ExtentState.Written or ExtentState.Unwritten) || to is not (ExtentState.Written or ExtentState.Unwritten))
        {
            throw new ArgumentOutOfRangeException(nameof(to), to, "extent map: only written and unwritten extents convert in place");
        }

        var changed = 0UL;
        if (from == to)
        {
            return changed;
        }

        foreach (var piece in Remove(fileBlock, count, from))
        {
            Insert(piece with { State = to });
            changed += piece.Length;
        }

        return changed;
    }

    /// <inheritdoc/>
    public IEnumerator<Extent> GetEnumerator() => _extents.GetEnumerator();

    /// <inheritdoc/>
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    // The block after the range, saturating at the end of the file space.
    private static ulong End(ulong fileBlock, ulong count) => count > ulong.MaxValue - fileBlock ? ulong.MaxValue : fileBlock + count;

    private static void AddHole(List<Extent> result, ulong from, ulong to)
    {
        // A hole can be longer than one extent may be; split it so lengths fit.
        while (from < to)
        {
            var length = (uint)Math.Min(to - from, MaxLength);
            result.Add(new Extent(from, 0, length, ExtentState.Hole));
            from += length;
        }
    }

    private static bool CanMerge(Extent a, Extent b) =>
        a.State == b.State && a.FileEnd == b.FileBlock && (ulong)a.Length + b.Length <= MaxLength
        && (a.State == ExtentState.Delalloc || a.DiskBlock + a.Length == b.DiskBlock);

    private void MergeAround(int i)
    {
        if (i + 1 < _extents.Count && CanMerge(_extents[i], _extents[i + 1]))
        {
            _extents[i] = _extents[i] with { Length = _extents[i].Length + _extents[i + 1].Length };
            _extents.RemoveAt(i + 1);
        }

        if (i > 0 && CanMerge(_extents[i - 1], _extents[i]))
        {
            _extents[i - 1] = _extents[i - 1] with { Length = _extents[i - 1].Length + _extents[i].Length };
            _extents.RemoveAt(i);
        }
    }

    // The index of the first extent that ends after fileBlock (Count if none).
    private int FirstEndingAfter(ulong fileBlock)
    {
        int lo = 0, hi = _extents.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (_extents[mid].FileEnd <= fileBlock)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }
}
