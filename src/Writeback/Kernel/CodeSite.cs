namespace Writeback.Kernel;

/// <summary>A place in the code, captured with caller attributes: what reports print where the
/// kernel prints <c>func+0x1c/0x40</c>.</summary>
/// <param name="Function">The calling member.</param>
/// <param name="File">The source file (full path as compiled).</param>
/// <param name="Line">The source line.</param>
/// <param name="Op">The runtime primitive that was called there (for example <c>_raw_spin_lock_irqsave</c>).</param>
public readonly record struct CodeSite(string Function, string File, int Line, string Op)
{
    /// <summary>A site that names only a runtime operation (irq entry, softirq).</summary>
    public static CodeSite Of(string op) => new(op, string.Empty, 0, op);

    /// <summary>The site as reports print it: <c>Function (File.cs:Line)</c>.</summary>
    public override string ToString() =>
        Function is null ? "?"
        : Line != 0 ? $"{Function} ({System.IO.Path.GetFileName(File)}:{Line})"
        : Function == Op ? Op
        : $"{Op} <{Function}>";
}
