namespace Writeback.Workloads.Fio;

/// <summary>A job file that cannot be used: names the file, the line and the option.</summary>
public sealed class JobFileException : Exception
{
    /// <summary>Creates the error.</summary>
    public JobFileException(string file, int line, string? option, string problem)
        : base($"{file}:{line}: {(option is null ? string.Empty : $"option '{option}': ")}{problem}")
    {
        File = file;
        Line = line;
        Option = option;
        Problem = problem;
    }

    /// <summary>Creates the error.</summary>
    public JobFileException()
        : this("<unknown>", 0, null, "invalid job file")
    {
    }

    /// <summary>Creates the error.</summary>
    public JobFileException(string message)
        : this("<unknown>", 0, null, message)
    {
    }

    /// <summary>Creates the error.</summary>
    public JobFileException(string message, Exception innerException)
        : base(message, innerException)
    {
        File = "<unknown>";
        Problem = message;
    }

    /// <summary>The job file.</summary>
    public string File { get; }

    /// <summary>The line (1-based).</summary>
    public int Line { get; }

    /// <summary>The option, if the problem is one option's.</summary>
    public string? Option { get; }

    /// <summary>What is wrong.</summary>
    public string Problem { get; }
}
