using System.Diagnostics;

namespace Writeback.Kernel;

/// <summary>Captures the call chain for reports: the .NET frames of the model, innermost first,
/// without the runtime's own plumbing.</summary>
internal static class KernelStack
{
    private static readonly string[] s_hidden =
    [
        "Writeback.Kernel.Lockdep", "Writeback.Kernel.KernelStack", "Writeback.Kernel.Engines.",
        "Writeback.Kernel.Context", "Writeback.Kernel.Machine", "Writeback.Kernel.Cpu", "Writeback.Kernel.Bug",
        "Writeback.Kernel.SpinLock", "Writeback.Kernel.Mutex", "Writeback.Kernel.RwSemaphore", "Writeback.Kernel.SleepingLockCore",
        "Writeback.Kernel.WaitQueueHead", "Writeback.Kernel.Completion", "Writeback.Kernel.TaskStruct",
    ];

    public static IReadOnlyList<string> Capture(int max = 24)
    {
        var frames = new StackTrace(1, false).GetFrames();
        var list = new List<string>(max);
        foreach (var f in frames)
        {
            var m = f.GetMethod();
            var type = m?.DeclaringType;
            if (m is null || type is null)
            {
                continue;
            }

            var full = type.FullName ?? type.Name;
            if (!full.StartsWith("Writeback", StringComparison.Ordinal) || Array.Exists(s_hidden, h => full.StartsWith(h, StringComparison.Ordinal)))
            {
                continue;
            }

            // Lambdas and local functions compile to nested display classes: show the outer type.
            var plus = full.IndexOf('+', StringComparison.Ordinal);
            var shown = (plus >= 0 ? full[..plus] : full).Replace("Writeback.", string.Empty, StringComparison.Ordinal);
            list.Add(shown + "." + m.Name);
            if (list.Count == max)
            {
                break;
            }
        }

        return list;
    }
}
