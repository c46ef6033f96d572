using Writeback.Fs;

namespace Writeback.Workloads.Torture;

/// <summary>A worker's view of one file of an interleaved run: the model, the byte range the
/// worker may touch, and the worker's own open handles.</summary>
/// <remarks>A worker's own file: the whole range up to <see cref="OracleModel.MaxFileBytes"/>, and
/// every operation. The shared file: a folio-aligned range that no other worker touches (so that
/// writers never share a folio and the model stays exact), in a file whose size never changes —
/// no truncate, append or size-changing fallocate.</remarks>
internal sealed class InterleavedFile(OracleFile model, long start, long end, bool shared)
{
    /// <summary>The model (shared by every worker that has a range of the file).</summary>
    public OracleFile Model { get; } = model;

    /// <summary>The first byte the worker may touch.</summary>
    public long Start { get; } = start;

    /// <summary>The end of the worker's range (exclusive).</summary>
    public long End { get; } = end;

    /// <summary>Whether other workers have ranges of the file (its size is then fixed).</summary>
    public bool Shared { get; } = shared;

    /// <summary>How the log names the file.</summary>
    public string Label => Shared ? $"{Model.Label}[{Start}, {End})" : Model.Label;

    /// <summary>The worker's open buffered handle, if any.</summary>
    public FsFile? Buffered { get; set; }

    /// <summary>The worker's open O_DIRECT handle, if any.</summary>
    public FsFile? Direct { get; set; }
}
