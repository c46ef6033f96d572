namespace Writeback.Lib;

/// <summary>Slot contents that are not entries of the array's type: the kernel's internal entries
/// (retry, zero, sibling) and its value entries.</summary>
/// <remarks>Kernel: XA_RETRY_ENTRY (a reader that meets it restarts its walk: the node it is in
/// has been taken out of the tree), XA_ZERO_ENTRY (a reserved slot: busy for insert, NULL for
/// load, skipped by iteration), xa_mk_sibling(offset) (a slot covered by the multi-index entry
/// whose canonical slot is at <c>offset</c> in the same node) and xa_mk_value(v) (an integer
/// stored in place of a pointer). Model: the kernel tags the low bits of a pointer; here one
/// sealed type carries the kind, so that a reader tells them apart with a single type check.</remarks>
internal sealed class XaInternal
{
    private static readonly XaInternal[] s_siblings = CreateSiblings();

    private XaInternal(XaInternalKind kind, ulong payload)
    {
        Kind = kind;
        Payload = payload;
    }

    public static XaInternal Retry { get; } = new(XaInternalKind.Retry, 0);

    public static XaInternal Zero { get; } = new(XaInternalKind.Zero, 0);

    public XaInternalKind Kind { get; }

    /// <summary>The canonical slot of a sibling, or the integer of a value entry.</summary>
    public ulong Payload { get; }

    public bool IsSibling => Kind == XaInternalKind.Sibling;

    public bool IsValue => Kind == XaInternalKind.Value;

    /// <summary>The canonical slot a sibling entry refers to.</summary>
    public int SiblingOffset => (int)Payload;

    /// <summary>The sibling entry that refers to canonical slot <paramref name="offset"/> (xa_mk_sibling()).</summary>
    public static XaInternal Sibling(int offset) => s_siblings[offset];

    /// <summary>A value entry (xa_mk_value()).</summary>
    public static XaInternal Value(ulong value) => new(XaInternalKind.Value, value);

    public override string ToString() => Kind switch
    {
        XaInternalKind.Sibling => $"sibling({Payload})",
        XaInternalKind.Value => $"value({Payload})",
        _ => Kind.ToString().ToLowerInvariant(),
    };

    private static XaInternal[] CreateSiblings()
    {
        var s = new XaInternal[XaNode.MaxChunkSize];
        for (var i = 0; i < s.Length; i++)
        {
            s[i] = new XaInternal(XaInternalKind.Sibling, (ulong)i);
        }

        return s;
    }
}
