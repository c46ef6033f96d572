using System.Threading;

namespace Writeback.Lib;

/// <summary>Marks: per-node bitmaps propagated upward, and the root "any entry marked" bits.</summary>
public sealed partial class XArray<T>
{
    /// <summary>Sets <paramref name="mark"/> on the entry covering <paramref name="index"/> (on the
    /// canonical slot of a multi-index entry); nothing if the slot is empty.</summary>
    /// <remarks>Kernel: xas_set_mark(): upward until an ancestor already has the bit. Context: Caller holds the xa_lock.</remarks>
    internal void SetMarkCore(ulong index, XaMark mark)
    {
        // Any non-NULL slot takes a mark, a reservation included (iteration skips it).
        if (Locate(index, out var node, out var slot) is null)
        {
            return;
        }

        var m = (int)mark;
        while (node is not null)
        {
            var bit = 1UL << slot;
            if ((node.Marks[m] & bit) != 0)
            {
                return;
            }

            Volatile.Write(ref node.Marks[m], node.Marks[m] | bit);
            slot = node.Offset;
            node = node.Parent;
        }

        _rootMarks |= 1 << m;
    }

    /// <summary>Clears <paramref name="mark"/> on the entry covering <paramref name="index"/>.</summary>
    /// <remarks>Kernel: xas_clear_mark(). Context: Caller holds the xa_lock.</remarks>
    internal void ClearMarkCore(ulong index, XaMark mark)
    {
        if (Locate(index, out var node, out var slot) is null)
        {
            return;
        }

        if (node is null)
        {
            _rootMarks &= ~(1 << (int)mark);
            return;
        }

        ClearMarkUpward(node, slot, (int)mark);
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
            var bit = 1UL << slot;
            if ((node.Marks[m] & bit) == 0)
            {
                return;
            }

            Volatile.Write(ref node.Marks[m], node.Marks[m] & ~bit);
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

    /// <summary>Whether the slot at <paramref name="slot"/> of <paramref name="node"/> (null: the head) has mark <paramref name="m"/>.</summary>
    internal bool SlotMarked(XaNode? node, int slot, int m) =>
        node is null ? RootMarked((XaMark)m) : (Volatile.Read(ref node.Marks[m]) & (1UL << slot)) != 0;
}
