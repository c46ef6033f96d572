namespace Writeback.Workloads.Torture.Crash;

/// <summary>What a <see cref="CrashOp"/> does.</summary>
public enum CrashOpKind
{
    /// <summary>creat(2) of a regular file, kept open (buffered) under the workload's label for it.</summary>
    Create,

    /// <summary>mkdir(2).</summary>
    Mkdir,

    /// <summary>pwrite(2) of stamped sectors through the file's handle of the op's open flags
    /// (buffered, O_DIRECT, O_DSYNC, O_SYNC): a write, an overwrite or an append.</summary>
    Write,

    /// <summary>ftruncate(2), up or down.</summary>
    Truncate,

    /// <summary>fallocate(2) mode 0, or with FALLOC_FL_KEEP_SIZE.</summary>
    Fallocate,

    /// <summary>fallocate(2) FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE.</summary>
    PunchHole,

    /// <summary>rename(2), replacing a file at the new name.</summary>
    Rename,

    /// <summary>link(2): another name for a file.</summary>
    Link,

    /// <summary>unlink(2): the file stays while the workload holds it open.</summary>
    Unlink,

    /// <summary>fsync(2) of a file: a persistence point for its data and size.</summary>
    Fsync,

    /// <summary>fdatasync(2) of a file: a persistence point for its data and size.</summary>
    Fdatasync,

    /// <summary>fsync(2) of a directory: a persistence point for its entries (the names in it and
    /// the inodes they point at), as they are when it is called.</summary>
    /// <remarks>Model: there is no open(2) of a directory, and the journal commits every namespace
    /// change synchronously (a preflush before the commit block, the commit block FUA) — XFS's
    /// wsync behaviour — so every change to the directory is durable before fsync of it is
    /// called, and it has nothing to write: as XFS's xfs_dir_fsync() finds when the directory's
    /// last transaction is already on disk. It looks the directory up and records the promise;
    /// the checker then requires, after a crash, that the directory hold the entries it had at
    /// its last completed fsync, or those of a later namespace state up to the crash (not the
    /// entries of any subdirectory, nor its own name in its parent).</remarks>
    FsyncDir,

    /// <summary>syncfs(2): a persistence point for every file and directory.</summary>
    Sync,
}
