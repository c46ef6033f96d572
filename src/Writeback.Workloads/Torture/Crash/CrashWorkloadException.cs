namespace Writeback.Workloads.Torture.Crash;

/// <summary>A crash workload could not run as written (an operation failed, or it names a file
/// or path that is not there), or the live filesystem disagreed with the model before any crash.</summary>
public sealed class CrashWorkloadException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CrashWorkloadException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public CrashWorkloadException(string message, Exception? inner) : base(message, inner)
    {
    }

    /// <summary>Creates an empty exception.</summary>
    public CrashWorkloadException()
    {
    }
}
