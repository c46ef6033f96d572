using System.Threading;

namespace Writeback.Workloads.Torture;

/// <summary>What one task of an interleaved run is doing, and since when (modelled ns), for the
/// stall watchdog: a worker, the hotplug task or the final checks.</summary>
internal sealed class InterleavedActivity(string name)
{
    private string? _current;
    private long _sinceNs;

    /// <summary>The task's name in the log ("w0", "hotplug", "final").</summary>
    public string Name { get; } = name;

    /// <summary>The step in progress, or null between steps.</summary>
    public string? Current => Volatile.Read(ref _current);

    /// <summary>When the step in progress began (modelled ns).</summary>
    public long SinceNs => Volatile.Read(ref _sinceNs);

    /// <summary>Notes that <paramref name="what"/> begins at <paramref name="nowNs"/>.</summary>
    public void Begin(string what, long nowNs)
    {
        Volatile.Write(ref _sinceNs, nowNs);
        Volatile.Write(ref _current, what);
    }

    /// <summary>Notes that the step in progress is over.</summary>
    public void End() => Volatile.Write(ref _current, null);
}
