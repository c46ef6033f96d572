using System.Numerics;
using System.Threading;
using Writeback.Kernel;

namespace Writeback.Lib;

/// <summary>The tree itself: walking, growing, shrinking, marks and searching (lib/xarray.c).</summary>
public sealed partial class XArray<T>
{
    private IrqFlags TakeLock()
    {
        switch (_lockType)
        {
            case XaLockType.Bh:
                Lock.LockBh();
                return default;
            case XaLockType.Irq:
                Lock.LockIrq();
                return default;
            case XaLockType.IrqSave:
                return Lock.LockIrqSave();
            default:
                Lock.Lock();
                return default;
        }
    }

    private void DropLock(IrqFlags flags)
    {
        switch (_lockType)
        {
            case XaLockType.Bh:
                Lock.UnlockBh();
                break;
            case XaLockType.Irq:
                Lock.UnlockIrq();
                break;
            case XaLockType.IrqSave:
                Lock.UnlockIrqRestore(flags);
                break;
            default:
                Lock.Unlock();
                break;
        }
    }

    private bool RootMarked(XaMark mark) => (Volatile.Read(ref _rootMarks) & (1 << (int)mark)) != 0;

    private int SlotOf(XaNode node, ulong index) => (int)((index >> node.Shift) & _chunkMask);

    /// <summary>Bits of the index a node spans: its slot bits plus its own shift.</summary>
    private int SpanBits(XaNode node) => node.Shift + _chunkShift;

    /// <summary>The largest index under a top node (max_index()).</summary>
    private static ulong MaxIndex(XaNode node) => node.MaxIndex;

    /// <summary>The first index of the range <paramref name="node"/> covers that contains <paramref name="index"/>.</summary>
    private ulong NodeBase(XaNode node, ulong index) => SpanBits(node) >= 64 ? 0 : index & ~((1UL << SpanBits(node)) - 1);

    /// <summary>The slot content at <paramref name="index"/> including internal entries (null if absent).</summary>
    /// <remarks>Context: Caller holds the xa_lock.</remarks>
    private object? LoadRawLocked(ulong index)
    {
        var head = _head;
        if (head is not XaNode node)
        {
            return index == 0 ? head : null;
        }

        return LeafLocked(node, index) is { } leaf ? leaf.Slots[SlotOf(leaf, index)] : null;
    }

    /// <summary>Stores a non-null entry (or the reservation marker); returns the previous entry.</summary>
    /// <remarks>Kernel: xas_store() after xas_create(). Context: Caller holds the xa_lock.</remarks>
    private T? StoreLocked(ulong index, object entry)
    {
        var head = _head;
        if (index == 0 && head is not XaNode)
        {
            Volatile.Write(ref _head, entry);
            return head as T;
        }

        var node = Expand(index);
        while (node.Shift > 0)
        {
            var off = SlotOf(node, index);
            var next = node.Slots[off];
            if (next is null)
            {
                next = new XaNode(node.Shift - _chunkShift, _chunkSize, node, off);
                Volatile.Write(ref node.Slots[off], next);
                node.Count++;
            }

            if (next is not XaNode child)
            {
                throw new KernelBugException($"xarray: entry above leaf level at index {index}");
            }

            node = child;
        }

        var slot = SlotOf(node, index);
        var old = node.Slots[slot];
        if (old is null)
        {
            node.Count++;
        }

        Volatile.Write(ref node.Slots[slot], entry);
        return old as T;
    }

    /// <summary>Makes the head a node whose range covers <paramref name="index"/>, adding levels on top.</summary>
    /// <remarks>Kernel: xas_expand(). Context: Caller holds the xa_lock.</remarks>
    private XaNode Expand(ulong index)
    {
        var head = _head;
        XaNode top;
        if (head is XaNode existing)
        {
            top = existing;
        }
        else if (head is null)
        {
            // An empty array gets one node at the height the index needs.
            var shift = 0;
            while (shift + _chunkShift < 64 && index > (1UL << (shift + _chunkShift)) - 1)
            {
                shift += _chunkShift;
            }

            top = new XaNode(shift, _chunkSize, null, 0);
            Volatile.Write(ref _head, top);
            return top;
        }
        else
        {
            // The entry at index 0 moves into slot 0 of a leaf, with its marks.
            top = new XaNode(0, _chunkSize, null, 0);
            top.Slots[0] = head;
            top.Count = 1;
            CopyRootMarksToSlotZero(top);
            Volatile.Write(ref _head, top);
        }

        while (index > MaxIndex(top))
        {
            var up = new XaNode(top.Shift + _chunkShift, _chunkSize, null, 0);
            up.Slots[0] = top;
            up.Count = 1;
            CopyRootMarksToSlotZero(up);
            top.Parent = up;
            top.Offset = 0;
            Volatile.Write(ref _head, up);
            top = up;
        }

        return top;
    }

    private void CopyRootMarksToSlotZero(XaNode node)
    {
        for (var m = 0; m < 3; m++)
        {
            if ((_rootMarks & (1 << m)) != 0)
            {
                node.Marks[m] |= 1;
            }
        }
    }

    /// <summary>Erases the entry at <paramref name="index"/>, frees emptied nodes upward and shrinks the tree.</summary>
    /// <remarks>Kernel: xas_store(NULL), xas_delete_node(), xas_shrink(). Context: Caller holds the xa_lock.</remarks>
    private T? EraseLocked(ulong index)
    {
        var head = _head;
        if (head is not XaNode node)
        {
            if (index != 0 || head is null)
            {
                return null;
            }

            Volatile.Write(ref _head, null);
            _rootMarks = 0;
            return head as T;
        }

        if (LeafLocked(node, index) is not { } leaf)
        {
            return null;
        }

        node = leaf;
        var slot = SlotOf(node, index);
        var old = node.Slots[slot];
        if (old is null)
        {
            return null;
        }

        // Marks go before the entry: no reader may see a mark on a NULL slot.
        ClearAllMarks(node, slot);
        Volatile.Write(ref node.Slots[slot], null);
        node.Count--;
        DeleteEmptyNodes(node);
        Shrink();
        return old as T;
    }

    private void DeleteEmptyNodes(XaNode node)
    {
        while (node.Count == 0)
        {
            var parent = node.Parent;
            if (parent is null)
            {
                Volatile.Write(ref _head, null);
                _rootMarks = 0;
                return;
            }

            Volatile.Write(ref parent.Slots[node.Offset], null);
            parent.Count--;
            node.Parent = null;
            node = parent;
        }
    }

    /// <summary>Drops top nodes that only use slot 0.</summary>
    /// <remarks>Kernel: xas_shrink(). Context: Caller holds the xa_lock.</remarks>
    private void Shrink()
    {
        while (_head is XaNode node && node.Count == 1)
        {
            var entry = node.Slots[0];
            if (entry is null || (entry is not XaNode && node.Shift != 0))
            {
                return;
            }

            Volatile.Write(ref _head, entry);
            node.Count = 0;
            if (entry is not XaNode child)
            {
                // A reader still in the old node must not trust it: send it back to the head.
                Volatile.Write(ref node.Slots[0], XaInternal.Retry);
                return;
            }

            child.Parent = null;
            child.Offset = 0;
        }
    }

    private void RetireSubtree(XaNode node)
    {
        for (var i = 0; i < _chunkSize; i++)
        {
            if (node.Slots[i] is XaNode child)
            {
                RetireSubtree(child);
            }

            Volatile.Write(ref node.Slots[i], XaInternal.Retry);
        }
    }

    /// <summary>The leaf whose range holds <paramref name="index"/> under the top node, or null
    /// when the index is beyond the tree or its path is not populated.</summary>
    /// <remarks>Context: Caller holds the xa_lock.</remarks>
    private XaNode? LeafLocked(XaNode top, ulong index)
    {
        if (index > MaxIndex(top))
        {
            return null;
        }

        var node = top;
        while (node.Shift > 0)
        {
            if (node.Slots[SlotOf(node, index)] is not XaNode child)
            {
                return null;
            }

            node = child;
        }

        return node;
    }

    // ---------------- marks ----------------

    private void SetMarkLocked(ulong index, XaMark mark)
    {
        var bit = 1 << (int)mark;
        var head = _head;
        if (head is not XaNode node)
        {
            if (index == 0 && head is not null)
            {
                _rootMarks |= bit;
            }

            return;
        }

        if (LeafLocked(node, index) is not { } leaf)
        {
            return;
        }

        node = leaf;

        // Any non-NULL slot takes a mark, a reservation included (iteration skips it).
        var slot = SlotOf(node, index);
        if (node.Slots[slot] is null)
        {
            return;
        }

        // Set upward until an ancestor already has the bit.
        var m = (int)mark;
        while (true)
        {
            var mask = 1UL << slot;
            if ((node.Marks[m] & mask) != 0)
            {
                return;
            }

            Volatile.Write(ref node.Marks[m], node.Marks[m] | mask);
            if (node.Parent is not { } parent)
            {
                _rootMarks |= bit;
                return;
            }

            slot = node.Offset;
            node = parent;
        }
    }

    private void ClearMarkLocked(ulong index, XaMark mark)
    {
        var head = _head;
        if (head is not XaNode node)
        {
            if (index == 0)
            {
                _rootMarks &= ~(1 << (int)mark);
            }

            return;
        }

        if (LeafLocked(node, index) is not { } leaf)
        {
            return;
        }

        node = leaf;

        ClearMarkUpward(node, SlotOf(node, index), (int)mark);
    }

    private void ClearAllMarks(XaNode node, int slot)
    {
        for (var m = 0; m < 3; m++)
        {
            ClearMarkUpward(node, slot, m);
        }
    }

    /// <summary>Clears a slot's mark and, while no sibling keeps it, the parent's.</summary>
    private void ClearMarkUpward(XaNode node, int slot, int m)
    {
        while (true)
        {
            var mask = 1UL << slot;
            if ((node.Marks[m] & mask) == 0)
            {
                return;
            }

            Volatile.Write(ref node.Marks[m], node.Marks[m] & ~mask);
            if (node.Marks[m] != 0)
            {
                return;
            }

            if (node.Parent is not { } parent)
            {
                _rootMarks &= ~(1 << m);
                return;
            }

            slot = node.Offset;
            node = parent;
        }
    }

    // ---------------- search ----------------

    private IEnumerable<(ulong Index, T Entry)> Iterate(ulong start, ulong max, int mark)
    {
        // The cursor stays in the leaf it found the last entry in, as xas_next_entry() does,
        // so that a walk costs a slot scan per entry rather than a descent from the head.
        var index = start;
        XaNode? leaf = null;
        while (index <= max)
        {
            var found = leaf is not null && index != 0 && NodeBase(leaf, index) == NodeBase(leaf, index - 1)
                ? Scan(leaf, index, max, mark, out index, out leaf)
                : FindCore(ref index, max, mark, out leaf);
            if (found is null)
            {
                yield break;
            }

            yield return (index, found);
            if (index == ulong.MaxValue)
            {
                yield break;
            }

            index++;
        }
    }

    private T? FindCore(ref ulong index, ulong max, int mark) => FindCore(ref index, max, mark, out _);

    /// <summary>Lock-free search for the first (marked) entry in [index, max].</summary>
    /// <remarks>Kernel: xas_find() and xas_find_marked(): marked searches skip whole subtrees
    /// whose bit is clear. A reader that meets a retry entry restarts from the head.</remarks>
    private T? FindCore(ref ulong index, ulong max, int mark, out XaNode? leaf)
    {
        leaf = null;
        if (index > max)
        {
            return null;
        }

        var head = Volatile.Read(ref _head);
        if (head is not XaNode node)
        {
            return index == 0 && head is T t && (mark < 0 || RootMarked((XaMark)mark)) ? t : null;
        }

        if ((mark >= 0 && !RootMarked((XaMark)mark)) || index > MaxIndex(node))
        {
            return null;
        }

        return Scan(node, index, max, mark, out index, out leaf);
    }

    /// <summary>Searches from <paramref name="start"/> within <paramref name="node"/> and onwards
    /// (descending into children, climbing to parents); restarts from the head on a retry entry.</summary>
    private T? Scan(XaNode node, ulong start, ulong max, int mark, out ulong foundAt, out XaNode? leaf)
    {
        var at = start;
        foundAt = start;
        leaf = null;
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
                    var again = FindCore(ref from, max, mark, out leaf);
                    foundAt = from;
                    return again;
                }

                if (e is T found)
                {
                    foundAt = at;
                    leaf = node;
                    return found;
                }

                // Null (erased meanwhile) or reserved: step past this slot.
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
                var again = FindCore(ref from, max, mark, out leaf);
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
