using Writeback.Fs;

namespace Writeback.Workloads.Torture.Crash;

/// <summary>A file of a crash workload — an inode, not a name: its model contents (sector →
/// generation of the write that put it there; absent is zeros), its size, its open handles and
/// its history of operations.</summary>
internal sealed class CrashFile(int id, string label, FsFile main)
{
    /// <summary>The model's number for the file (stamped in its sectors).</summary>
    public int Id { get; } = id;

    /// <summary>The workload's label for the file.</summary>
    public string Label { get; } = label;

    /// <summary>The buffered handle opened at create.</summary>
    public FsFile Main { get; } = main;

    /// <summary>The inode number.</summary>
    public ulong Ino => Main.Inode.Number;

    /// <summary>Handles by open flags, the buffered one included.</summary>
    public Dictionary<OpenFlags, FsFile> Handles { get; } = new() { [OpenFlags.None] = main };

    /// <summary>The contents now: sector → generation.</summary>
    public Dictionary<long, int> Content { get; } = [];

    /// <summary>The size now.</summary>
    public long Size { get; set; }

    /// <summary>Every operation on the file since the log started, the first being its start.</summary>
    public List<CrashFileOp> Ops { get; } = [];
}
