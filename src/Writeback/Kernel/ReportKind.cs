namespace Writeback.Kernel;

/// <summary>The kinds of report a machine prints to its log.</summary>
public enum ReportKind
{
    /// <summary>A lockdep report (inconsistent lock state, circular dependency, irq inversion).</summary>
    Lockdep,

    /// <summary>A sleep in atomic context ("BUG: sleeping function called from invalid context").</summary>
    SleepInAtomic,

    /// <summary>A detected real deadlock (spinlock recursion, all CPUs stuck).</summary>
    Deadlock,

    /// <summary>A WARN_ON.</summary>
    Warning,
}
