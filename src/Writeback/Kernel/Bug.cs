namespace Writeback.Kernel;

/// <summary>BUG_ON and WARN_ON: a broken internal invariant stops the run.</summary>
/// <remarks>Kernel: BUG_ON() and WARN_ON() in include/asm-generic/bug.h. Model: a WARN is also
/// fatal when it happens on a machine whose lockdep mode is <see cref="LockdepMode.Fail"/>, so
/// tests treat any warning as a failure.</remarks>
public static class Bug
{
    /// <summary>Throws a <see cref="KernelBugException"/> when <paramref name="condition"/> holds.</summary>
    public static void On([System.Diagnostics.CodeAnalysis.DoesNotReturnIf(true)] bool condition, string what)
    {
        if (condition)
        {
            throw new KernelBugException("kernel BUG: " + what);
        }
    }

    /// <summary>Throws a <see cref="KernelBugException"/>. Call it behind an <c>if</c> when the
    /// message is interpolated, so that hot paths pay for the check only.</summary>
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Fail(string what) => throw new KernelBugException("kernel BUG: " + what);

    /// <summary>Records a warning (see <see cref="WarnOn"/>); for use behind an <c>if</c>.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Warn(string what) => WarnOn(true, what);

    /// <summary>Records a warning on the current machine (or throws outside one) when the condition holds.</summary>
    public static bool WarnOn(bool condition, string what)
    {
        if (!condition)
        {
            return false;
        }

        var machine = Current.TaskOrNull?.Machine;
        var text = "WARNING: " + what;
        if (machine is null)
        {
            throw new KernelBugException(text);
        }

        machine.Report(ReportKind.Warning, text);
        return true;
    }
}
