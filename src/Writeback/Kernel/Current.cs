using System.Threading;
namespace Writeback.Kernel;

/// <summary>The task the calling thread is running (the kernel's <c>current</c>).</summary>
/// <remarks>Kernel: get_current(). Model: each task has its own OS thread, so a thread-static
/// field identifies the task, its CPU and its machine.</remarks>
public static class Current
{
    [ThreadStatic]
    private static TaskStruct? t_task;

    /// <summary>The current task, or null when the caller is ordinary .NET code outside any machine.</summary>
    public static TaskStruct? TaskOrNull => t_task;

    /// <summary>The current task; throws outside a machine.</summary>
    public static TaskStruct Task => t_task ?? throw new InvalidOperationException("not running on a simulated CPU: call this from a task of a Machine");

    /// <summary>The CPU the current task runs on; throws outside a machine.</summary>
    public static Cpu Cpu => Task.Cpu!;

    /// <summary>The current machine; throws outside a machine.</summary>
    public static Machine Machine => Task.Machine;

    internal static void Set(TaskStruct? task) => t_task = task;
}
