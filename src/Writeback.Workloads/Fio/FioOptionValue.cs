namespace Writeback.Workloads.Fio;

/// <summary>An option as written in a job file, with where it was written.</summary>
/// <param name="Name">The option.</param>
/// <param name="Value">Its value ("1" for a bare flag), after ${ENV} expansion.</param>
/// <param name="File">The file it came from.</param>
/// <param name="Line">Its line (1-based).</param>
public sealed record FioOptionValue(string Name, string Value, string File, int Line);
