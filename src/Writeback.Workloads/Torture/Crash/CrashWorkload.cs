using System.Globalization;
using Writeback.Fs;

namespace Writeback.Workloads.Torture.Crash;

/// <summary>A sequence of filesystem operations with persistence points, to be run on a fresh
/// filesystem while the disk records its write log, then crashed at every flush boundary of
/// that log (<see cref="CrashEnumerator"/>). Build it with the fluent methods; everything added
/// before <see cref="Synced"/> is the starting state, made and synced before the log starts.</summary>
/// <remarks>Each file is created under a label that names it from then on (its inode: a rename
/// or an unlink does not change it) and stays open until the workload ends, so data operations on
/// an unlinked file still run. A write whose flags differ from the file's first handle opens
/// another handle with those flags, through the file's current name. Sizes, offsets and
/// lengths are multiples of 512; direct writes must also be aligned to the block size.</remarks>
public sealed class CrashWorkload
{
    private const int Sector = 512;
    private readonly List<CrashOp> _setup = [];
    private readonly List<CrashOp> _ops = [];

    /// <summary>An empty workload named <paramref name="name"/>.</summary>
    public CrashWorkload(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
    }

    /// <summary>A workload that uses every operation and every kind of write at least once:
    /// buffered writes, overwrites and appends, O_DSYNC and O_SYNC writes, direct and direct
    /// O_DSYNC writes, truncate down and up, fallocate with and without keep-size, a hole punch,
    /// link, rename (also over an existing file), unlink of a file still open and writes to it,
    /// mkdir, fsync and fdatasync, fsync of both directories, and sync — ending with a write left
    /// unsynced. Every size and offset is a multiple of 4 KiB where a direct write needs it.</summary>
    public static CrashWorkload EveryOperation()
    {
        const long K = 1024;
        return new CrashWorkload("every-operation") { Source = "CrashWorkload.EveryOperation()" }
            .Create("a", "/a").Mkdir("/d").Create("b", "/d/b").Write("a", 0, 8 * K).Synced()
            .Write("a", 8 * K, 6 * K, tag: "append")
            .Write("b", 0, 12 * K)
            .Fsync("b")
            .Write("a", 1 * K, 2 * K, tag: "overwrite")
            .Fdatasync("a")
            .Create("c", "/d/c")
            .Write("c", 0, 8 * K, OpenFlags.Dsync)
            .Write("c", 8 * K, 4 * K, OpenFlags.Sync, "append")
            .Write("b", 0, 4 * K, OpenFlags.Direct, "overwrite")
            .Write("b", 16 * K, 8 * K, OpenFlags.Direct | OpenFlags.Dsync)
            .Truncate("a", 5 * K)
            .Fallocate("a", 8 * K, 8 * K, keepSize: true)
            .Write("a", 5 * K, 6 * K, tag: "append")
            .Fsync("a")
            .PunchHole("b", 4 * K, 4 * K)
            .Fallocate("c", 12 * K, 8 * K)
            .Link("/d/c", "/c2")
            .Rename("/a", "/d/a2")
            .FsyncDir("/d")
            .Unlink("/d/b")
            .Write("b", 24 * K, 4 * K)
            .Fsync("b")
            .Rename("/c2", "/d/a2")
            .FsyncDir("/")
            .Mkdir("/e")
            .Create("f", "/e/f")
            .Write("f", 0, 4 * K)
            .Truncate("c", 16 * K)
            .Truncate("f", 10 * K)
            .Sync()
            .Write("c", 0, 1 * K, tag: "overwrite")
            .Write("f", 12 * K, 2 * K);
    }

    /// <summary>A random workload of <paramref name="operations"/> operations drawn from
    /// <paramref name="seed"/> — every kind of operation and of write, files created, renamed
    /// (also over one another), linked and unlinked while open, persistence points between — on
    /// a starting state of /f1 (16 KiB), /D and /D/f2 (8 KiB); named "random#seed". The same seed
    /// and count give the same workload.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="operations"/> is less than 1.</exception>
    public static CrashWorkload Random(ulong seed, int operations)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(operations, 1);
        return CrashWorkloadGenerator.Generate(seed, operations);
    }

    /// <summary>The workload's name ("ace#123", "hand-written").</summary>
    public string Name { get; }

    /// <summary>How to make this workload again, for a replay line (e.g. "AceWorkloads.Get(123)");
    /// null: the operations themselves are the replay.</summary>
    public string? Source { get; init; }

    /// <summary>The operations that make the starting state (run, then synced, before the log starts).</summary>
    public IReadOnlyList<CrashOp> Setup => _setup;

    /// <summary>The operations under test, in order.</summary>
    public IReadOnlyList<CrashOp> Operations => _ops;

    /// <summary>The operations as one line, the setup in brackets first.</summary>
    public string Describe()
    {
        var ops = string.Join("; ", _ops.Select(o => o.ToString()));
        return _setup.Count == 0 ? ops : $"[{string.Join("; ", _setup.Select(o => o.ToString()))}; sync] {ops}";
    }

    /// <summary>The name and the operations.</summary>
    public override string ToString() => $"{Name}: {Describe()}";

    /// <summary>Makes everything added so far the starting state: it runs first, then a sync,
    /// and only then does the disk start its write log.</summary>
    public CrashWorkload Synced()
    {
        _setup.AddRange(_ops);
        _ops.Clear();
        return this;
    }

    /// <summary>Adds <paramref name="op"/>.</summary>
    /// <exception cref="ArgumentException">An argument the operation needs is missing, a path is
    /// not absolute, or an offset, length or size is negative or not a multiple of 512.</exception>
    public CrashWorkload Add(CrashOp op)
    {
        ArgumentNullException.ThrowIfNull(op);
        Validate(op);
        _ops.Add(op);
        return this;
    }

    /// <summary>Creates a regular file at <paramref name="path"/>, labelled <paramref name="file"/>.</summary>
    public CrashWorkload Create(string file, string path) => Add(new CrashOp { Kind = CrashOpKind.Create, File = file, Path = path });

    /// <summary>Makes a directory.</summary>
    public CrashWorkload Mkdir(string path) => Add(new CrashOp { Kind = CrashOpKind.Mkdir, Path = path });

    /// <summary>Writes <paramref name="length"/> stamped bytes at <paramref name="offset"/>.</summary>
    public CrashWorkload Write(string file, long offset, long length, OpenFlags flags = OpenFlags.None, string? tag = null) =>
        Add(new CrashOp { Kind = CrashOpKind.Write, File = file, Offset = offset, Length = length, Flags = flags, Tag = tag });

    /// <summary>Sets the file's size.</summary>
    public CrashWorkload Truncate(string file, long size) => Add(new CrashOp { Kind = CrashOpKind.Truncate, File = file, Length = size });

    /// <summary>Preallocates a range (mode 0 raises the size; keep-size does not).</summary>
    public CrashWorkload Fallocate(string file, long offset, long length, bool keepSize = false) =>
        Add(new CrashOp { Kind = CrashOpKind.Fallocate, File = file, Offset = offset, Length = length, KeepSize = keepSize });

    /// <summary>Punches a hole (the size stays).</summary>
    public CrashWorkload PunchHole(string file, long offset, long length) =>
        Add(new CrashOp { Kind = CrashOpKind.PunchHole, File = file, Offset = offset, Length = length });

    /// <summary>Renames <paramref name="from"/> to <paramref name="to"/>.</summary>
    public CrashWorkload Rename(string from, string to) => Add(new CrashOp { Kind = CrashOpKind.Rename, Path = from, NewPath = to });

    /// <summary>Adds the name <paramref name="newPath"/> for the file at <paramref name="existing"/>.</summary>
    public CrashWorkload Link(string existing, string newPath) => Add(new CrashOp { Kind = CrashOpKind.Link, Path = existing, NewPath = newPath });

    /// <summary>Removes a name.</summary>
    public CrashWorkload Unlink(string path) => Add(new CrashOp { Kind = CrashOpKind.Unlink, Path = path });

    /// <summary>fsync of a file.</summary>
    public CrashWorkload Fsync(string file) => Add(new CrashOp { Kind = CrashOpKind.Fsync, File = file });

    /// <summary>fdatasync of a file.</summary>
    public CrashWorkload Fdatasync(string file) => Add(new CrashOp { Kind = CrashOpKind.Fdatasync, File = file });

    /// <summary>fsync of a directory.</summary>
    public CrashWorkload FsyncDir(string path) => Add(new CrashOp { Kind = CrashOpKind.FsyncDir, Path = path });

    /// <summary>syncfs.</summary>
    public CrashWorkload Sync() => Add(new CrashOp { Kind = CrashOpKind.Sync });

    private static void Validate(CrashOp op)
    {
        var needsFile = op.Kind is CrashOpKind.Create or CrashOpKind.Write or CrashOpKind.Truncate or CrashOpKind.Fallocate
            or CrashOpKind.PunchHole or CrashOpKind.Fsync or CrashOpKind.Fdatasync;
        var needsPath = op.Kind is CrashOpKind.Create or CrashOpKind.Mkdir or CrashOpKind.Rename or CrashOpKind.Link
            or CrashOpKind.Unlink or CrashOpKind.FsyncDir;
        var needsNewPath = op.Kind is CrashOpKind.Rename or CrashOpKind.Link;
        if (needsFile && string.IsNullOrWhiteSpace(op.File))
        {
            throw new ArgumentException($"crash workload: '{op}' needs a file label", nameof(op));
        }

        CheckPath(op, op.Path, needsPath, allowRoot: op.Kind == CrashOpKind.FsyncDir);
        CheckPath(op, op.NewPath, needsNewPath, allowRoot: false);
        var sized = op.Kind is CrashOpKind.Write or CrashOpKind.Truncate or CrashOpKind.Fallocate or CrashOpKind.PunchHole;
        if (sized && (op.Offset < 0 || op.Length < 0 || op.Offset % Sector != 0 || op.Length % Sector != 0))
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"crash workload: '{op}': offsets, lengths and sizes must be non-negative multiples of {Sector}"), nameof(op));
        }

        if (op.Kind is CrashOpKind.Write or CrashOpKind.Fallocate or CrashOpKind.PunchHole && op.Length == 0)
        {
            throw new ArgumentException($"crash workload: '{op}' has no bytes", nameof(op));
        }
    }

    private static void CheckPath(CrashOp op, string? path, bool needed, bool allowRoot)
    {
        if (!needed || (allowRoot && path == "/"))
        {
            return;
        }

        if (string.IsNullOrWhiteSpace(path) || !path.StartsWith('/') || path.Length < 2 || path.EndsWith('/') || path.Contains("//", StringComparison.Ordinal))
        {
            throw new ArgumentException($"crash workload: '{op}' needs an absolute path{(allowRoot ? string.Empty : " that is not the root")}", nameof(op));
        }
    }
}
