using System.Globalization;
using Writeback.Fs;

namespace Writeback.Workloads.Torture.Crash;

/// <summary>One operation of a <see cref="CrashWorkload"/>. Files are named by a label (the
/// workload's name for the inode, which keeps it across renames and unlinks); namespace
/// operations by absolute paths. Offsets, lengths and sizes are multiples of 512 bytes, so that
/// every sector of a file can carry a stamp saying which file and which write put it there.</summary>
public sealed record CrashOp
{
    /// <summary>What the operation does.</summary>
    public required CrashOpKind Kind { get; init; }

    /// <summary>The file's label: for <see cref="CrashOpKind.Create"/> and the data and file-sync operations.</summary>
    public string? File { get; init; }

    /// <summary>The path: created, made, renamed from, linked from, unlinked, or the directory synced.</summary>
    public string? Path { get; init; }

    /// <summary>The new path of a rename or link.</summary>
    public string? NewPath { get; init; }

    /// <summary>Byte offset of a write, fallocate or hole punch.</summary>
    public long Offset { get; init; }

    /// <summary>Bytes of a write, fallocate or hole punch; the new size of a truncate.</summary>
    public long Length { get; init; }

    /// <summary>How a write's handle is opened: <see cref="OpenFlags.None"/> (buffered), or any
    /// of <see cref="OpenFlags.Direct"/>, <see cref="OpenFlags.Dsync"/>, <see cref="OpenFlags.Sync"/>.</summary>
    public OpenFlags Flags { get; init; }

    /// <summary>FALLOC_FL_KEEP_SIZE for a fallocate.</summary>
    public bool KeepSize { get; init; }

    /// <summary>A name for the kind of operation in descriptions ("append", "overwrite"); null: the kind.</summary>
    public string? Tag { get; init; }

    /// <summary>Whether the operation is a persistence point: fsync, fdatasync, fsync of a
    /// directory, sync, or an O_DSYNC / O_SYNC write.</summary>
    public bool IsPersistence => Kind is CrashOpKind.Fsync or CrashOpKind.Fdatasync or CrashOpKind.FsyncDir or CrashOpKind.Sync
        || (Kind == CrashOpKind.Write && (Flags & (OpenFlags.Dsync | OpenFlags.Sync)) != 0);

    /// <summary>One line: "append A [16384, +3584)", "rename /A /D/A1", "fsync /D".</summary>
    public override string ToString()
    {
        var name = Tag ?? Kind switch
        {
            CrashOpKind.PunchHole => "punch",
            CrashOpKind.FsyncDir => "fsync",
            _ => Kind.ToString().ToLowerInvariant(),
        };
        return Kind switch
        {
            CrashOpKind.Create => $"{name} {File} {Path}",
            CrashOpKind.Mkdir or CrashOpKind.Unlink or CrashOpKind.FsyncDir => $"{name} {Path}",
            CrashOpKind.Rename or CrashOpKind.Link => $"{name} {Path} {NewPath}",
            CrashOpKind.Write => string.Create(CultureInfo.InvariantCulture, $"{name}{WriteFlags()} {File} [{Offset}, +{Length})"),
            CrashOpKind.Truncate => string.Create(CultureInfo.InvariantCulture, $"{name} {File} {Length}"),
            CrashOpKind.Fallocate => string.Create(CultureInfo.InvariantCulture, $"{name}{(KeepSize ? " keep-size" : string.Empty)} {File} [{Offset}, +{Length})"),
            CrashOpKind.PunchHole => string.Create(CultureInfo.InvariantCulture, $"{name} {File} [{Offset}, +{Length})"),
            CrashOpKind.Sync => name,
            _ => $"{name} {File}",
        };
    }

    private string WriteFlags()
    {
        var flags = new List<string>();
        if ((Flags & OpenFlags.Direct) != 0)
        {
            flags.Add("O_DIRECT");
        }

        if ((Flags & OpenFlags.Sync) != 0)
        {
            flags.Add("O_SYNC");
        }
        else if ((Flags & OpenFlags.Dsync) != 0)
        {
            flags.Add("O_DSYNC");
        }

        return flags.Count == 0 ? string.Empty : "(" + string.Join('|', flags) + ")";
    }
}
