namespace Writeback.Kernel;

/// <summary>One report printed by the machine, with its kind and full text.</summary>
public sealed record KernelReport(ReportKind Kind, string Text)
{
    /// <summary>The first line of the report after its separator line.</summary>
    public string Title => Text.Split('\n').FirstOrDefault(l => l.Length > 0 && l[0] != '=' && l[0] != '-') ?? Text;
}
