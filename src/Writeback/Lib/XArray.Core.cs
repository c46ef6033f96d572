using System.Numerics;
using System.Threading;
using Writeback.Kernel;

namespace Writeback.Lib;

/// <summary>The tree itself: walking, growing, storing, erasing and shrinking (lib/xarray.c).</summary>
public sealed partial class XArray<T>
{
    // ---------------- the lock ----------------

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

    /// <summary>Allocates a node with the caller's lock dropped and retaken, as __xas_nomem() does
    /// for a caller that holds the lock: the lock is dropped by the array's recorded flavour, so
    /// an <see cref="XaLockType.IrqSave"/> holder allocates with interrupts still off (which a
    /// sleeping allocation reports, as the kernel's might_sleep() would).</summary>
    /// <remarks>Context: Caller holds the xa_lock. May sleep (with the lock dropped).</remarks>
    private void AllocateRelocking(ref int prealloc)
    {
        switch (_lockType)
        {
            case XaLockType.Bh:
                Lock.UnlockBh();
                break;
            case XaLockType.Irq:
                Lock.UnlockIrq();
                break;
            default:
                Lock.Unlock();
                break;
        }

        try
        {
            AllocateBlocking(ref prealloc);
        }
        finally
        {
            switch (_lockType)
            {
                case XaLockType.Bh:
                    Lock.LockBh();
                    break;
                case XaLockType.Irq:
                    Lock.LockIrq();
                    break;
                default:
                    Lock.Lock();
                    break;
            }
        }
    }

    // ---------------- node allocation ----------------

    /// <summary>Takes <paramref name="needed"/> nodes, from the preallocated ones first and then by
    /// non-blocking allocations under the lock (GFP_NOWAIT), which fault injection can fail; on
    /// failure whatever was obtained stays preallocated for the retry, and nothing is taken.</summary>
    private bool TryAllocNodes(int needed, ref int prealloc)
    {
        var got = prealloc;
        while (got < needed)
        {
            if (AllocationFault?.Invoke(false) == true)
            {
                prealloc = got;
                return false;
            }

            got++;
        }

        prealloc = got - needed;
        return true;
    }

    /// <summary>A blocking allocation (GFP_KERNEL) of one node into the preallocation.</summary>
    /// <remarks>Context: Process context, lock not held. May sleep.</remarks>
    /// <exception cref="InsufficientMemoryException">Fault injection failed the allocation (-ENOMEM).</exception>
    private void AllocateBlocking(ref int prealloc)
    {
        if (!TryAllocateBlocking())
        {
            throw new InsufficientMemoryException("xarray: node allocation failed (-ENOMEM)");
        }

        prealloc++;
    }

    internal bool TryAllocateBlocking()
    {
        Context.MightSleep();
        return AllocationFault?.Invoke(true) != true;
    }

    // ---------------- geometry ----------------

    private bool RootMarked(XaMark mark) => (Volatile.Read(ref _rootMarks) & (1 << (int)mark)) != 0;

    private int SlotOf(XaNode node, ulong index) => (int)((index >> node.Shift) & _chunkMask);

    /// <summary>Bits of the index a node spans: its slot bits plus its own shift.</summary>
    private int SpanBits(XaNode node) => node.Shift + _chunkShift;

    /// <summary>The largest index a top node at <paramref name="shift"/> can hold.</summary>
    private ulong Coverage(int shift) => shift + _chunkShift >= 64 ? ulong.MaxValue : (1UL << (shift + _chunkShift)) - 1;

    /// <summary>The first index of the range <paramref name="node"/> covers that contains <paramref name="index"/>.</summary>
    private ulong NodeBase(XaNode node, ulong index) => SpanBits(node) >= 64 ? 0 : index & ~((1UL << SpanBits(node)) - 1);

    /// <summary>Slots an entry occupies: its canonical slot and the siblings that follow it.</summary>
    private int RunLength(XaNode node, int slot)
    {
        var end = slot + 1;
        while (end < _chunkSize && ReferenceEquals(Volatile.Read(ref node.Slots[end]), XaInternal.Sibling(slot)))
        {
            end++;
        }

        return end - slot;
    }

    /// <summary>The first index covered by the entry whose canonical slot is <paramref name="slot"/>
    /// in <paramref name="node"/> (null: the head); <paramref name="index"/> is any index in the node's range.</summary>
    private ulong EntryFirst(XaNode? node, int slot, ulong index) =>
        node is null ? 0 : NodeBase(node, index) + ((ulong)slot << node.Shift);

    /// <summary>The last index covered by that entry.</summary>
    internal ulong EntryLast(XaNode? node, int slot, ulong index) =>
        node is null ? 0 : EntryFirst(node, slot, index) + (((ulong)RunLength(node, slot) << node.Shift) - 1);

    private static bool IsValueSlot(XaNode node, int slot) => node.Slots[slot] switch
    {
        XaInternal { IsValue: true } => true,
        XaInternal { IsSibling: true } s => node.Slots[s.SiblingOffset] is XaInternal { IsValue: true },
        _ => false,
    };

    // ---------------- walking ----------------

    /// <summary>True when <paramref name="index"/> is 0 and the head is not a node: a walk to it ends at the head.</summary>
    internal bool AtHead(ulong index) => index == 0 && Volatile.Read(ref _head) is not XaNode;

    /// <summary>What the slot <paramref name="slot"/> of <paramref name="node"/> (null: the head) holds now.</summary>
    internal object? SlotContent(XaNode? node, int slot) =>
        node is null ? Volatile.Read(ref _head) : Volatile.Read(ref node.Slots[slot]);

    /// <summary>The entry covering <paramref name="index"/> (internal and value entries included,
    /// a sibling followed to its canonical slot), and where it lives: <paramref name="node"/> is
    /// null for the head. Returns null when nothing covers the index.</summary>
    /// <remarks>Lock-free: a walk that meets a retry entry restarts from the head. Also used under
    /// the lock, where it never meets one.</remarks>
    internal object? Locate(ulong index, out XaNode? node, out int slot)
    {
    restart:
        node = null;
        slot = 0;
        var e = Volatile.Read(ref _head);
        if (e is not XaNode n)
        {
            return index == 0 ? e : null;
        }

        if (index > n.MaxIndex)
        {
            return null;
        }

        while (true)
        {
            var off = SlotOf(n, index);
            e = Volatile.Read(ref n.Slots[off]);
            if (e is XaInternal { IsSibling: true } sibling)
            {
                off = sibling.SiblingOffset;
                e = Volatile.Read(ref n.Slots[off]);
                if (e is XaNode)
                {
                    // The entry went and a node took its slot while we hopped: that node covers
                    // the canonical slot's range, not ours. Start again from the head.
                    goto restart;
                }
            }

            node = n;
            slot = off;
            if (e is XaNode child)
            {
                n = child;
                continue;
            }

            if (ReferenceEquals(e, XaInternal.Retry))
            {
                goto restart;
            }

            return e;
        }
    }

    // ---------------- storing ----------------

    /// <summary>Stores a non-null slot content (an entry, a value or the reservation marker) over
    /// the aligned 2^<paramref name="order"/> range holding <paramref name="index"/>, and returns
    /// what covered that range's first index before (internal entries included). Sets
    /// <paramref name="nomem"/>, changing nothing, when a node could not be allocated.</summary>
    /// <remarks>Kernel: xas_create() and xas_store(). As in the kernel, a store inside an existing
    /// larger entry replaces that entry over its whole range, and a store over smaller entries and
    /// subtrees replaces them all and unions their marks. Model: the nodes a store needs are
    /// allocated before the tree changes, so a failed allocation leaves no empty node behind.
    /// Context: Caller holds the xa_lock.</remarks>
    internal object? StoreEntry(ulong index, int order, object entry, ref int prealloc, out bool nomem)
    {
        nomem = false;
        var size = 1UL << order;
        index &= ~(size - 1);
        var head = _head;
        if (order == 0 && index == 0 && head is not XaNode)
        {
            Volatile.Write(ref _head, entry);
            return head;
        }

        var previous = order == 0 ? null : Locate(index, out _, out _);
        var targetShift = order - (order % _chunkShift);
        if (!Expand(index + (size - 1), targetShift, ref prealloc, out var added))
        {
            nomem = true;
            return null;
        }

        var node = (XaNode)_head!;
        if (MissingNodes(node, index, targetShift) is var missing && missing > 0 && !TryAllocNodes(missing, ref prealloc))
        {
            // Undo the expansion (an empty top goes, levels that only use slot 0 shrink away) and
            // keep its nodes preallocated, so that each retry gets further than the last.
            if (node.Count == 0)
            {
                DeleteEmptyNodes(node);
            }

            Shrink();
            prealloc += added;
            nomem = true;
            return null;
        }

        while (node.Shift > targetShift)
        {
            var off = SlotOf(node, index);
            var next = node.Slots[off];
            if (next is XaInternal { IsSibling: true } sibling)
            {
                off = sibling.SiblingOffset;
                next = node.Slots[off];
            }

            if (next is XaNode child)
            {
                node = child;
                continue;
            }

            if (next is not null)
            {
                // A larger entry already covers the range: replace it whole (xa_sibs = 0).
                var replaced = ReplaceSlots(node, off, 0, entry);
                return order == 0 ? replaced : previous;
            }

            var created = new XaNode(node.Shift - _chunkShift, _chunkSize, node, off);
            Volatile.Write(ref node.Slots[off], created);
            node.Count++;
            node = created;
        }

        var slot = SlotOf(node, index);
        if (node.Slots[slot] is XaInternal { IsSibling: true } inside)
        {
            slot = inside.SiblingOffset;
        }

        var old = ReplaceSlots(node, slot, (1 << (order % _chunkShift)) - 1, entry);
        return order == 0 ? old : previous;
    }

    /// <summary>Nodes to allocate below <paramref name="top"/> so that the slot for
    /// <paramref name="index"/> at <paramref name="targetShift"/> exists.</summary>
    private int MissingNodes(XaNode top, ulong index, int targetShift)
    {
        var node = top;
        while (node.Shift > targetShift)
        {
            var next = node.Slots[SlotOf(node, index)];
            if (next is XaInternal { IsSibling: true } sibling)
            {
                next = node.Slots[sibling.SiblingOffset];
            }

            if (next is not XaNode child)
            {
                return next is null ? (node.Shift - targetShift) / _chunkShift : 0;
            }

            node = child;
        }

        return 0;
    }

    /// <summary>Writes <paramref name="entry"/> into the canonical <paramref name="slot"/> and
    /// sibling entries into the next <paramref name="sibs"/> slots, squashing their marks onto the
    /// canonical slot and freeing replaced subtrees; returns the old canonical content.</summary>
    /// <remarks>Kernel: the store loop of xas_store(), xas_squash_marks(), xas_free_nodes(),
    /// update_node(). Context: Caller holds the xa_lock.</remarks>
    private object? ReplaceSlots(XaNode node, int slot, int sibs, object entry)
    {
        var old = node.Slots[slot];
        var oldWasValue = old is XaInternal { IsValue: true };
        var isValue = entry is XaInternal { IsValue: true };
        if (sibs > 0)
        {
            SquashMarks(node, slot, sibs);
        }

        var last = slot + sibs;
        var values = node.NrValues;
        for (var i = slot; i <= last; i++)
        {
            values += (isValue ? 1 : 0) - (IsValueSlot(node, i) ? 1 : 0);
        }

        // Siblings of a larger old entry beyond the run now belong to the new entry.
        var tail = last + 1;
        while (tail < _chunkSize && ReferenceEquals(node.Slots[tail], XaInternal.Sibling(slot)))
        {
            values += (isValue ? 1 : 0) - (oldWasValue ? 1 : 0);
            tail++;
        }

        for (var i = slot; i <= last; i++)
        {
            var prev = node.Slots[i];
            if (prev is null)
            {
                node.Count++;
            }

            Volatile.Write(ref node.Slots[i], i == slot ? entry : XaInternal.Sibling(slot));
            if (prev is XaNode child)
            {
                // Readers still inside the replaced subtree restart and find the new entry.
                RetireSubtree(child);
            }
        }

        node.NrValues = values;
        return old;
    }

    private void SquashMarks(XaNode node, int slot, int sibs)
    {
        var run = sibs + 1 >= 64 ? ulong.MaxValue : ((1UL << (sibs + 1)) - 1) << slot;
        for (var m = 0; m < 3; m++)
        {
            var bits = node.Marks[m];
            if ((bits & run) != 0)
            {
                Volatile.Write(ref node.Marks[m], (bits & ~run) | (1UL << slot));
            }
        }
    }

    /// <summary>Makes the head a node at least <paramref name="minShift"/> high whose range holds
    /// <paramref name="last"/>, adding levels on top; false (nothing changed) if the nodes could
    /// not be allocated. <paramref name="added"/> is the number of nodes it added.</summary>
    /// <remarks>Kernel: xas_expand(). Context: Caller holds the xa_lock.</remarks>
    private bool Expand(ulong last, int minShift, ref int prealloc, out int added)
    {
        added = 0;
        var head = _head;
        var shift = Math.Max(head is XaNode current ? current.Shift : 0, minShift);
        while (Coverage(shift) < last)
        {
            shift += _chunkShift;
        }

        var needed = head switch
        {
            XaNode t => (shift - t.Shift) / _chunkShift,
            null => 1,
            _ => (shift / _chunkShift) + 1,
        };
        if (needed == 0)
        {
            return true;
        }

        if (!TryAllocNodes(needed, ref prealloc))
        {
            return false;
        }

        added = needed;
        if (head is null)
        {
            // An empty array gets one node at the height the range needs; the store adds the rest.
            Volatile.Write(ref _head, new XaNode(shift, _chunkSize, null, 0));
            return true;
        }

        if (head is not XaNode top)
        {
            // The entry at index 0 moves into slot 0 of a leaf, with its marks.
            top = new XaNode(0, _chunkSize, null, 0);
            top.Slots[0] = head;
            top.Count = 1;
            top.NrValues = head is XaInternal { IsValue: true } ? 1 : 0;
            CopyRootMarksToSlotZero(top);
            Volatile.Write(ref _head, top);
        }

        while (top.Shift < shift)
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

        return true;
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

    // ---------------- erasing ----------------

    /// <summary>Erases the entry covering <paramref name="index"/> (all of a multi-index entry),
    /// frees emptied nodes upward and shrinks the tree; returns the old content.</summary>
    /// <remarks>Kernel: xas_store(NULL), xas_delete_node(), xas_shrink(). Context: Caller holds the xa_lock.</remarks>
    internal object? EraseEntry(ulong index)
    {
        var old = Locate(index, out var node, out var slot);
        if (old is null)
        {
            return null;
        }

        if (node is null)
        {
            Volatile.Write(ref _head, null);
            _rootMarks = 0;
            return old;
        }

        EraseSlots(node, slot);
        return old;
    }

    /// <summary>Erases what covers the aligned 2^<paramref name="order"/> range holding
    /// <paramref name="index"/>; returns what covered its first index.</summary>
    /// <remarks>Context: Caller holds the xa_lock.</remarks>
    internal object? EraseOrder(ulong index, int order)
    {
        if (order == 0)
        {
            return EraseEntry(index);
        }

        var first = index & ~((1UL << order) - 1);
        var previous = Locate(first, out _, out _);
        EraseRange(first, first + ((1UL << order) - 1));
        return previous;
    }

    /// <summary>Erases every entry that overlaps [<paramref name="first"/>, <paramref name="last"/>], each over its whole range.</summary>
    /// <remarks>Kernel: xas_store(NULL) of a multi-index state. Context: Caller holds the xa_lock.</remarks>
    internal void EraseRange(ulong first, ulong last)
    {
        var at = first;
        while (FindCore(ref at, last, -1, raw: true, out var node, out var slot) is not null)
        {
            var end = EntryLast(node, slot, at);
            if (node is null)
            {
                Volatile.Write(ref _head, null);
                _rootMarks = 0;
            }
            else
            {
                EraseSlots(node, slot);
            }

            if (end >= last)
            {
                return;
            }

            at = end + 1;
        }
    }

    private void EraseSlots(XaNode node, int slot)
    {
        // Marks go before the entry: no reader may see a mark on a NULL slot.
        ClearAllMarks(node, slot);
        var run = RunLength(node, slot);
        var values = node.Slots[slot] is XaInternal { IsValue: true } ? run : 0;
        for (var i = slot; i < slot + run; i++)
        {
            Volatile.Write(ref node.Slots[i], null);
        }

        node.Count -= run;
        node.NrValues -= values;
        DeleteEmptyNodes(node);
        Shrink();
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
            node.NrValues = 0;
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
}
