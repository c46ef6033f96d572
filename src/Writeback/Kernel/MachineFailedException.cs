namespace Writeback.Kernel;

/// <summary>Thrown by <see cref="Machine.Run"/> when a run ended in a failure: a task threw, a
/// lockdep report in fail mode, a detected deadlock. The message carries the seed that replays it.</summary>
public sealed class MachineFailedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public MachineFailedException(string message, Exception? inner) : base(message, inner)
    {
    }

    /// <summary>Creates the exception.</summary>
    public MachineFailedException(string message) : base(message)
    {
    }

    /// <summary>Creates an empty exception.</summary>
    public MachineFailedException()
    {
    }
}
