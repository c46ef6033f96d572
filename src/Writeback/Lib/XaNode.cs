namespace Writeback.Lib;

/// <summary>One node of the radix tree: its slots, per-mark bitmaps, and place in the tree.</summary>
/// <remarks>Kernel: struct xa_node in include/linux/xarray.h. Model: the chunk has at most 64
/// slots, so each mark is one 64-bit word; freed nodes are left to the garbage collector, which
/// never reuses memory a lock-free reader still references — the guarantee RCU gives the kernel.</remarks>
internal sealed class XaNode
{
    public XaNode(int shift, int chunkSize, XaNode? parent, int offset)
    {
        Shift = shift;
        Parent = parent;
        Offset = offset;
        Slots = new object?[chunkSize];
    }

    /// <summary>Bits of the index below this node's slot number (0 for leaves).</summary>
    public int Shift { get; }

    /// <summary>Slot of this node in its parent.</summary>
    public int Offset { get; set; }

    /// <summary>Non-null slots.</summary>
    public int Count { get; set; }

    /// <summary>The parent node, or null for the top node.</summary>
    public XaNode? Parent { get; set; }

    /// <summary>Entries, child nodes or internal entries.</summary>
    public object?[] Slots { get; }

    /// <summary>One bitmap per mark: bit n set when slot n holds a marked entry, or a child with any entry so marked.</summary>
    public ulong[] Marks { get; } = new ulong[3];
}
