namespace Writeback.Kernel.Engines;

/// <summary>Unwinds a task's thread when its machine is torn down. Never escapes the engine.</summary>
internal sealed class TaskKilledException : Exception
{
    public TaskKilledException() : base("task killed: machine torn down")
    {
    }

    public TaskKilledException(string message) : base(message)
    {
    }

    public TaskKilledException(string message, Exception inner) : base(message, inner)
    {
    }
}
