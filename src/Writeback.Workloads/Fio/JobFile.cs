namespace Writeback.Workloads.Fio;

/// <summary>A job file read: its jobs, in order, and the options of its <c>[wbsim]</c> sections.</summary>
/// <param name="Path">The file.</param>
/// <param name="Jobs">The jobs, each with its inherited options.</param>
/// <param name="ModelOptions">The <c>[wbsim]</c> options, in order (applied by <see cref="Running.WbsimOptions.With(IEnumerable{FioOptionValue})"/>).</param>
public sealed record JobFile(string Path, IReadOnlyList<FioJob> Jobs, IReadOnlyList<FioOptionValue> ModelOptions);
