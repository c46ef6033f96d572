namespace Writeback.Kernel;

/// <summary>What the lock validator does when it finds a problem.</summary>
public enum LockdepMode
{
    /// <summary>No validation (CONFIG_PROVE_LOCKING=n). Real deadlocks are still detected.</summary>
    Off,

    /// <summary>Print the report, keep it in <see cref="Machine.Reports"/>, and continue, as the kernel does.</summary>
    Report,

    /// <summary>Stop the machine at the first report: the run fails with the report as its message.</summary>
    Fail,
}
