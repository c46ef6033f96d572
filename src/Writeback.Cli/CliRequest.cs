namespace Writeback.Cli;

/// <summary>A parsed <c>wbsim run</c> or <c>wbsim compare</c> command line.</summary>
/// <param name="JobPath">The job file, or null for the built-in default.</param>
/// <param name="ModelOptions">The model options given on the command line, by [wbsim] name.</param>
/// <param name="Compare">Whether to compare designs.</param>
/// <param name="Variants">compare: "all" for every task variant, or null.</param>
/// <param name="Format">normal, json or both.</param>
/// <param name="OutputPath">Where to write the report, or null for standard output.</param>
/// <param name="PlotDirectory">Where to write charts, or null.</param>
internal sealed record CliRequest(
    string? JobPath,
    IReadOnlyList<(string Name, string Value)> ModelOptions,
    bool Compare,
    string? Variants,
    string Format,
    string? OutputPath,
    string? PlotDirectory);
