using Writeback.Block;

namespace Writeback.Workloads.Torture.Crash;

/// <summary>A workload's starting state, made once per setup and reused: the synced, checkpointed
/// image, and the model of what is in it (the files' contents and sizes, the tree).</summary>
internal sealed class CrashBase
{
    /// <summary>The image after the setup, a sync and a journal checkpoint.</summary>
    public required DiskImage Image { get; init; }

    /// <summary>Each file with a name: label, model id, inode number, contents, size.</summary>
    public required IReadOnlyList<(string Label, int Id, ulong Ino, Dictionary<long, int> Content, long Size)> Files { get; init; }

    /// <summary>The tree.</summary>
    public required IReadOnlyDictionary<string, CrashNsEntry> Tree { get; init; }

    /// <summary>The last write generation the setup used.</summary>
    public required int Gen { get; init; }
}
