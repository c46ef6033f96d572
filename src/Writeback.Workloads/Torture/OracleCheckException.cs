namespace Writeback.Workloads.Torture;

/// <summary>Thrown inside the machine by an oracle check that failed; the run turns it into a
/// <see cref="TortureViolation"/>.</summary>
internal sealed class OracleCheckException : Exception
{
    /// <summary>Creates the exception; <paramref name="message"/> says what was wrong.</summary>
    public OracleCheckException(string message) : base(message)
    {
    }

    /// <summary>Creates an empty exception.</summary>
    public OracleCheckException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public OracleCheckException(string message, Exception? inner) : base(message, inner)
    {
    }
}
