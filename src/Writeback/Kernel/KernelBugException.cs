namespace Writeback.Kernel;

/// <summary>A broken kernel invariant, lockdep report in fail mode, or detected deadlock.</summary>
public class KernelBugException : Exception
{
    /// <summary>Creates the exception with its report text.</summary>
    public KernelBugException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with its report text and cause.</summary>
    public KernelBugException(string message, Exception inner) : base(message, inner)
    {
    }

    /// <summary>Creates an empty exception.</summary>
    public KernelBugException()
    {
    }
}
