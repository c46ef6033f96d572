namespace Writeback.Lib;

/// <summary>Internal entries: never returned to callers of the normal API.</summary>
/// <remarks>Kernel: XA_RETRY_ENTRY (a reader that meets it restarts its walk: the node it is in
/// has been taken out of the tree) and XA_ZERO_ENTRY (a reserved slot: busy for insert, NULL
/// for load, skipped by iteration).</remarks>
internal sealed class XaInternal
{
    private XaInternal(string name) => Name = name;

    public static XaInternal Retry { get; } = new("retry");

    public static XaInternal Zero { get; } = new("zero");

    public string Name { get; }

    public override string ToString() => Name;
}
