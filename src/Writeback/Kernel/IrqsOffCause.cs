namespace Writeback.Kernel;

/// <summary>Interrupts-off time attributed to one cause (a lock class, hardirq handlers, a primitive).</summary>
public sealed class IrqsOffCause
{
    /// <summary>Sections.</summary>
    public long Count { get; internal set; }

    /// <summary>Total interrupts-off time, ns.</summary>
    public long TotalNs { get; internal set; }

    /// <summary>Longest section, ns.</summary>
    public long MaxNs { get; internal set; }

    internal void Add(long ns)
    {
        Count++;
        TotalNs += ns;
        MaxNs = Math.Max(MaxNs, ns);
    }

    internal void Add(IrqsOffCause other)
    {
        Count += other.Count;
        TotalNs += other.TotalNs;
        MaxNs = Math.Max(MaxNs, other.MaxNs);
    }
}
