namespace Writeback.Kernel;

/// <summary>Which engine runs a <see cref="Machine"/>.</summary>
public enum EngineKind
{
    /// <summary>One task at a time, chosen by a seeded generator; virtual time from a cost model.</summary>
    Deterministic,

    /// <summary>Tasks are OS threads; time is the host's monotonic clock.</summary>
    Real,
}
