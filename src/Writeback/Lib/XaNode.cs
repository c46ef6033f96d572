namespace Writeback.Lib;

/// <summary>One node of the radix tree: its slots, per-mark bitmaps, and place in the tree.</summary>
/// <remarks>Kernel: struct xa_node in include/linux/xarray.h. Model: the chunk has at most 64
/// slots, so each mark is one 64-bit word; freed nodes are left to the garbage collector, which
/// never reuses memory a lock-free reader still references — the guarantee RCU gives the kernel.</remarks>
internal sealed class XaNode
{
    /// <summary>The most slots a node has (chunk shift 6).</summary>
    public const int MaxChunkSize = 64;

    public XaNode(int shift, int chunkSize, XaNode? parent, int offset)
    {
        Shift = shift;
        var spanBits = shift + System.Numerics.BitOperations.Log2((uint)chunkSize);
        MaxIndex = spanBits >= 64 ? ulong.MaxValue : (1UL << spanBits) - 1;
        Parent = parent;
        Offset = offset;
    }

    /// <summary>Bits of the index below this node's slot number (0 for leaves).</summary>
    public readonly int Shift;

    /// <summary>The largest index this node's range holds, counted from the start of that range (max_index() for a top node).</summary>
    public readonly ulong MaxIndex;

    /// <summary>Slot of this node in its parent.</summary>
    public int Offset { get; set; }

    /// <summary>Non-null slots: entries, values, reservations, siblings and children.</summary>
    public int Count { get; set; }

    /// <summary>Slots holding a value entry or a sibling of one (nr_values).</summary>
    public int NrValues { get; set; }

    /// <summary>The parent node, or null for the top node.</summary>
    public XaNode? Parent { get; set; }

    /// <summary>Entries, child nodes or internal entries, inline in the node so that a walk costs
    /// one dependent load per level (only the first chunk-size slots are used).</summary>
    public XaSlots Slots;

    /// <summary>One bitmap per mark: bit n set when slot n holds a marked entry, or a child with any entry so marked.</summary>
    public XaMarks Marks;
}
