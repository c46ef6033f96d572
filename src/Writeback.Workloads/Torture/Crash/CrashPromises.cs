namespace Writeback.Workloads.Torture.Crash;

/// <summary>Which promises the crash checker holds the filesystem to.</summary>
public enum CrashPromises
{
    /// <summary>What POSIX and Linux promise: a completed fsync or fdatasync makes the file's
    /// data and size durable; an O_DSYNC or O_SYNC write its range (and a size at least its end);
    /// a completed fsync of a directory the directory's entries; a completed sync all of these
    /// for every file and directory; the synced starting state is promised whole. Other
    /// operations promise nothing until one of those covers them (fsync of a file does not
    /// promise its name: that takes fsync of the directory). Whatever is promised or not, a file
    /// shows inside its size only sectors it wrote itself, of a generation it held since its
    /// last promise, or zeros it held; and its size is one it had since its last promise.</summary>
    Posix,

    /// <summary>The above, and what this model's synchronous journal promises besides (XFS's
    /// wsync mount option): every operation that commits a transaction — create, mkdir, rename,
    /// link, unlink, truncate, a fallocate that raises the size, a hole punch — is durable when
    /// it returns, so the tree after a crash is the tree after the last namespace operation that
    /// returned (or the one in progress), and sizes and freed ranges are as those operations left them.</summary>
    Wsync,
}
