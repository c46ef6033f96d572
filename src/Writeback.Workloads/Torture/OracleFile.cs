using Writeback.Fs;

namespace Writeback.Workloads.Torture;

/// <summary>One file of the oracle's model — an inode, not a name: its bytes and size, its open
/// handles, and the names it has now (several after a link; none once its last name is unlinked
/// or renamed over). Bytes past the size are always zero.</summary>
public sealed class OracleFile
{
    private readonly List<string> _names = [];
    private byte[]? _data;

    internal OracleFile(int id, string path)
    {
        Id = id;
        _names.Add(path);
        LastPath = path;
    }

    /// <summary>The model's number for the file (the order in which the model made it).</summary>
    public int Id { get; }

    /// <summary>The file's first name now; null once it has none (held open: an orphan).</summary>
    public string? Path => _names.Count > 0 ? _names[0] : null;

    /// <summary>Every name the file has now, in the order it got them: its link count.</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>The last name the file had.</summary>
    public string LastPath { get; private set; }

    /// <summary>How the log names the file: its path, or for an orphan the name it had.</summary>
    public string Label => Path ?? $"{LastPath}(unlinked #{Id})";

    /// <summary>Whether the file exists (created and not yet freed).</summary>
    public bool Exists { get; internal set; }

    /// <summary>Whether the file exists with no name, kept by an open handle.</summary>
    public bool IsOrphan => Exists && Path is null;

    /// <summary>The file's size.</summary>
    public long Size { get; private set; }

    /// <summary>The file's bytes up to its size.</summary>
    public ReadOnlyMemory<byte> Contents => Data.AsMemory(0, (int)Size);

    /// <summary>The filesystem's inode number, once a handle has been opened on the file.</summary>
    public ulong? Ino { get; internal set; }

    /// <summary>The open buffered handle, if any.</summary>
    public FsFile? Buffered { get; internal set; }

    /// <summary>The open O_DIRECT handle, if any.</summary>
    public FsFile? Direct { get; internal set; }

    /// <summary>Whether a handle is open.</summary>
    public bool IsOpen => Buffered is not null || Direct is not null;

    /// <summary>The model's bytes (the whole largest file; zero past the size), made at first use:
    /// most names a rename or unlink leaves behind are never created.</summary>
    internal byte[] Data => _data ??= new byte[OracleModel.MaxFileBytes];

    /// <summary>Takes a write of <paramref name="data"/> at <paramref name="pos"/>.</summary>
    internal void Write(long pos, ReadOnlySpan<byte> data)
    {
        data.CopyTo(Data.AsSpan((int)pos));
        Size = Math.Max(Size, pos + data.Length);
    }

    /// <summary>Takes a size change: the bytes past a smaller size are gone (zero).</summary>
    internal void Truncate(long size)
    {
        if (size < Size)
        {
            Data.AsSpan((int)size, (int)(Size - size)).Clear();
        }

        Size = size;
    }

    /// <summary>Takes a punched hole: [<paramref name="start"/>, <paramref name="end"/>) reads as zeros; the size stays.</summary>
    internal void Zero(long start, long end)
    {
        end = Math.Min(end, Size);
        if (end > start)
        {
            Data.AsSpan((int)start, (int)(end - start)).Clear();
        }
    }

    /// <summary>Takes the loss of name <paramref name="path"/> (an unlink, or a rename over it).</summary>
    internal void Unname(string path) => _names.Remove(path);

    /// <summary>Takes a new name <paramref name="path"/> (a link, or the new name of a rename):
    /// the same inode, its handles and bytes.</summary>
    internal void AddName(string path)
    {
        _names.Add(path);
        LastPath = path;
    }

    /// <summary>A copy of what the file holds on disk once synced: names, bytes and size.</summary>
    internal OracleFileState Capture() => new([.. _names], Data[..(int)Size], Size, Exists, Ino);

    /// <summary>Puts back what <see cref="Capture"/> took: every handle is closed by then.</summary>
    internal void Restore(OracleFileState state)
    {
        _names.Clear();
        _names.AddRange(state.Names);
        Data.AsSpan().Clear();
        state.Data.CopyTo(Data.AsSpan());
        Size = state.Size;
        Exists = state.Exists;
        Ino = state.Ino;
        Buffered = null;
        Direct = null;
    }
}
