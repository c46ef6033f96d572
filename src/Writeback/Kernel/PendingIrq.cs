namespace Writeback.Kernel;

/// <summary>An interrupt raised on a CPU and not yet handled.</summary>
internal sealed record PendingIrq(string Name, Action Handler, long RaisedAtNs);
