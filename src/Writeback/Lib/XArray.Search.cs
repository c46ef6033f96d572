using System.Numerics;
using System.Runtime.CompilerServices;
using System.Threading;

namespace Writeback.Lib;

/// <summary>Searching and iterating: lock-free forward walks that skip unmarked subtrees.</summary>
public sealed partial class XArray<T>
{
    private IEnumerable<(ulong Index, T Entry)> Iterate(ulong start, ulong max, int mark)
    {
        // The cursor stays in the node it found the last entry in, as xas_next_entry() does: in a
        // leaf the walk goes slot by slot (passing over siblings, values and reservations), and
        // only a leaf's end or a retry entry costs a climb or a fresh descent.
        var index = start;
        var found = FindCore(ref index, max, mark, raw: false, out var node, out var slot);
        while (found is not null)
        {
            if (node is null)
            {
                yield return (index, Unsafe.As<T>(found));
                yield break;
            }

            // Each entry's extent is read before it is yielded: the caller may change the array
            // meanwhile, and the walk must go on after the entry as it was, never before it. A
            // store writes the canonical slot before the siblings, so if the canonical slot still
            // holds the entry after its siblings were read, they were read whole; if not, the
            // entry went while they were read: look again from here.
            var firstRun = RunLength(node, slot);
            if (!ReferenceEquals(Volatile.Read(ref node.Slots[slot]), found))
            {
                found = FindCore(ref index, max, mark, raw: false, out node, out slot);
                continue;
            }

            yield return (index, Unsafe.As<T>(found));
            if (node.Shift != 0)
            {
                var end = EntryFirst(node, slot, index) + (((ulong)firstRun << node.Shift) - 1);
                if (end >= max)
                {
                    yield break;
                }

                found = Continue(node, end + 1, max, mark, out index, out node, out slot);
                continue;
            }

            var leafBase = NodeBase(node, index);
            var retryAt = 0UL;
            for (var i = slot + firstRun; i < _chunkSize; i++)
            {
                if (mark >= 0 && (i = NextMarked(node, i, mark)) < 0)
                {
                    break;
                }

                var e = Volatile.Read(ref node.Slots[i]);
                if (e is null)
                {
                    continue;
                }

                var at = leafBase + (ulong)i;
                if (at > max)
                {
                    yield break;
                }

                if (e is XaInternal)
                {
                    if (ReferenceEquals(e, XaInternal.Retry))
                    {
                        retryAt = at;
                        break;
                    }

                    continue;
                }

                var run = RunLength(node, i);
                if (!ReferenceEquals(Volatile.Read(ref node.Slots[i]), e))
                {
                    // Replaced while its extent was read (see above): read the slot again.
                    i--;
                    continue;
                }

                yield return (at, Unsafe.As<T>(e));
                i += run - 1;
            }

            if (retryAt != 0)
            {
                // The leaf left the tree under us: find the rest from the head.
                index = retryAt;
                found = FindCore(ref index, max, mark, raw: false, out node, out slot);
                continue;
            }

            var after = leafBase + (ulong)_chunkSize;
            if (after == 0 || after > max)
            {
                yield break;
            }

            found = Continue(node, after, max, mark, out index, out node, out slot);
        }
    }

    /// <summary>Searches on from <paramref name="at"/>, the index after an entry found in <paramref name="node"/>.</summary>
    private object? Continue(XaNode node, ulong at, ulong max, int mark, out ulong foundAt, out XaNode? where, out int slot)
    {
        if (NodeBase(node, at) != NodeBase(node, at - 1))
        {
            if (Climb(node, at, out var top) is not { } ancestor)
            {
                where = null;
                slot = 0;
                foundAt = at;
                return ReferenceEquals(top, Volatile.Read(ref _head)) ? null : FindCore(ref foundAt, max, mark, raw: false, out where, out slot);
            }

            node = ancestor;
        }

        return Scan(node, at, max, mark, raw: false, out foundAt, out where, out slot);
    }

    /// <summary>Lock-free search for the first entry (of the array's type, or with
    /// <paramref name="raw"/> also values and reservations), with mark <paramref name="mark"/>
    /// unless it is negative, in [index, max]. An entry that begins before
    /// <paramref name="index"/> and covers it is found at <paramref name="index"/>.</summary>
    /// <remarks>Kernel: xas_find() and xas_find_marked(): marked searches skip whole subtrees
    /// whose bit is clear. A reader that meets a retry entry restarts from the head.</remarks>
    internal object? FindCore(ref ulong index, ulong max, int mark, bool raw, out XaNode? where, out int slot)
    {
        where = null;
        slot = 0;
        if (index > max)
        {
            return null;
        }

        var head = Volatile.Read(ref _head);
        if (head is not XaNode top)
        {
            return index == 0 && head is not null && Accepts(head, raw) && (mark < 0 || RootMarked((XaMark)mark)) ? head : null;
        }

        if ((mark >= 0 && !RootMarked((XaMark)mark)) || index > top.MaxIndex)
        {
            return null;
        }

        // An entry that starts before the index and covers it is the answer, or is skipped whole.
        var covering = Locate(index, out var node, out var at);
        if (covering is not null && node is not null && EntryFirst(node, at, index) < index)
        {
            if (Accepts(covering, raw) && (mark < 0 || SlotMarked(node, at, mark)))
            {
                where = node;
                slot = at;
                return covering;
            }

            var end = EntryLast(node, at, index);
            if (end >= max)
            {
                return null;
            }

            index = end + 1;
            if (index > top.MaxIndex)
            {
                return null;
            }
        }

        return Scan(top, index, max, mark, raw, out index, out where, out slot);
    }

    private static bool Accepts(object entry, bool raw) =>
        entry is not XaInternal i || (raw && i.Kind is XaInternalKind.Value or XaInternalKind.Zero);

    /// <summary>Searches from <paramref name="start"/> within <paramref name="node"/> and onwards
    /// (descending into children, climbing to parents); sibling slots are passed over, as the
    /// entry they belong to starts before them; restarts from the head on a retry entry.</summary>
    private object? Scan(XaNode node, ulong start, ulong max, int mark, bool raw, out ulong foundAt, out XaNode? where, out int slot)
    {
        var at = start;
        foundAt = start;
        where = null;
        slot = 0;
        while (true)
        {
            var off = SlotOf(node, at);
            var next = mark < 0 ? NextUsed(node, off) : NextMarked(node, off, mark);
            if (next >= 0)
            {
                var slotStart = NodeBase(node, at) + ((ulong)next << node.Shift);
                if (next != off)
                {
                    at = slotStart;
                }

                if (at > max)
                {
                    return null;
                }

                var e = Volatile.Read(ref node.Slots[next]);
                if (e is XaNode child)
                {
                    node = child;
                    continue;
                }

                if (ReferenceEquals(e, XaInternal.Retry))
                {
                    var from = at;
                    var again = FindCore(ref from, max, mark, raw, out where, out slot);
                    foundAt = from;
                    return again;
                }

                if (e is not null && Accepts(e, raw))
                {
                    foundAt = at;
                    where = node;
                    slot = next;
                    return e;
                }

                // Null (erased meanwhile), a sibling, or not wanted: step past this slot.
                var after = slotStart + (1UL << node.Shift);
                if (after == 0 || after > max)
                {
                    return null;
                }

                at = after;
                if (next < _chunkSize - 1)
                {
                    continue;
                }
            }
            else
            {
                // Nothing more in this node: continue after its range, in the parent.
                if (SpanBits(node) >= 64)
                {
                    return null;
                }

                var after = NodeBase(node, at) + (1UL << SpanBits(node));
                if (after == 0 || after > max)
                {
                    return null;
                }

                at = after;
            }

            if (Climb(node, at, out var top) is not { } ancestor)
            {
                // Past the top of the tree we walked. If that is no longer the array's tree (a
                // writer detached the nodes we were in), the walk restarts from the head.
                if (ReferenceEquals(top, Volatile.Read(ref _head)))
                {
                    return null;
                }

                var from = at;
                var again = FindCore(ref from, max, mark, raw, out where, out slot);
                foundAt = from;
                return again;
            }

            node = ancestor;
        }
    }

    /// <summary>The first ancestor whose range still holds <paramref name="at"/> (the node just
    /// left lies inside it, so its range holds at - 1), or null past the top.</summary>
    private XaNode? Climb(XaNode node, ulong at, out XaNode top)
    {
        while (node.Parent is { } parent)
        {
            if (NodeBase(parent, at) == NodeBase(parent, at - 1))
            {
                top = parent;
                return parent;
            }

            node = parent;
        }

        top = node;
        return null;
    }

    private int NextUsed(XaNode node, int from)
    {
        for (var i = from; i < _chunkSize; i++)
        {
            if (Volatile.Read(ref node.Slots[i]) is not null)
            {
                return i;
            }
        }

        return -1;
    }

    private static int NextMarked(XaNode node, int from, int mark)
    {
        var bits = Volatile.Read(ref node.Marks[mark]) >> from;
        return bits == 0 ? -1 : from + BitOperations.TrailingZeroCount(bits);
    }
}
