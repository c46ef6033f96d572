using System.Threading;
using Writeback.Block;
using Writeback.Fs.Format;
using Writeback.Kernel;
using Writeback.Lib;
using Writeback.Mm;

namespace Writeback.Fs;

/// <summary>A mounted filesystem with a page cache: what users drive. Files are opened here and
/// read and written through <see cref="FsFile"/>.</summary>
/// <remarks>Kernel: the VFS super_block of a mounted XFS with its bdi, its
/// "xfs-conv/&lt;dev&gt;" completion workqueue (m_unwritten_workqueue: WQ_FREEZABLE |
/// WQ_MEM_RECLAIM) and the direct-I/O completion workqueue ("dio/&lt;dev&gt;",
/// s_dio_done_wq: WQ_MEM_RECLAIM), made at mount in IRQ mode; in task mode nothing is queued on
/// them and they are not made. The completion mode is the page cache's.
/// <para>Shutdown (XFS's xfs_force_shutdown): a failed log write or checkpoint, or
/// <see cref="Shutdown"/>, stops the filesystem where the disk is consistent — at the last
/// successful commit. Afterwards opening, every namespace operation and every file operation
/// but <see cref="FsFile.Close"/> return <see cref="Errno.EIO"/> (reads too, as on XFS, even
/// of cached data); writeback fails each dirty folio with EIO without I/O (the error recorded,
/// the folio cleaned); nothing reaches the device; and <see cref="Unmount"/> succeeds, dropping
/// every cached inode, folio and buffer, so that the next mount recovers the last committed
/// state from the log.</para>
/// <para>Writeback errors: besides each mapping's errseq, the superblock keeps one
/// (<see cref="SbWbErr"/>, sb-&gt;s_wb_err) that every file's failed writeback also sets, and
/// <see cref="FsFile.Syncfs"/> reports it once per open file.</para></remarks>
public sealed class FileSystem
{
    private Workqueue? _conv;
    private Workqueue? _dio;
    private int _unmounted;

    private FileSystem(FsMount meta, PageCache cache)
    {
        Meta = meta;
        Cache = cache;
        Bdi = cache.CreateBackingDevice(meta.Device.Name);
        Stats = new FsStats(cache.Machine);
        meta.Evicting = inode => inode.Aops?.Mapping.TruncatePages(0);
        if (Mode == CompletionMode.Irq)
        {
            // Made now: their first user is a bio completion, in an interrupt.
            _conv = NewConvWorkqueue();
            _dio = NewDioWorkqueue();
        }
    }

    /// <summary>The filesystem underneath: namespace, inodes, journal, buffer cache.</summary>
    public FsMount Meta { get; }

    /// <summary>The page cache.</summary>
    public PageCache Cache { get; }

    /// <summary>The backing device: the flusher of this filesystem's files.</summary>
    public BackingDevice Bdi { get; }

    /// <summary>The device.</summary>
    public BlockDevice Device => Meta.Device;

    /// <summary>How bios complete: the page cache's mode.</summary>
    public CompletionMode Mode => Cache.Options.Mode;

    /// <summary>Counters of the I/O paths.</summary>
    public FsStats Stats { get; }

    /// <summary>The filesystem's writeback error sequence: set with every mapping's, sampled by
    /// each <see cref="FsFile"/> at open and reported by <see cref="FsFile.Syncfs"/>.</summary>
    /// <remarks>Kernel: sb-&gt;s_wb_err, set by mapping_set_error() through
    /// <see cref="AddressSpace.SuperblockWbErr"/>. Context: Any context.</remarks>
    public Errseq SbWbErr { get; } = new();

    /// <summary>Whether the filesystem has shut down (see the type's remarks).</summary>
    /// <remarks>Kernel: xfs_is_shutdown(). Context: Any context.</remarks>
    public bool IsShutdown => Meta.IsShutdown;

    /// <summary>The buffered-write completion workqueue (xfs-conv): made at mount in IRQ mode;
    /// in task mode, where nothing is queued on it, only if something asks for it.</summary>
    public Workqueue ConvWorkqueue => Volatile.Read(ref _conv) ?? Interlocked.CompareExchange(ref _conv, NewConvWorkqueue(), null) ?? _conv!;

    /// <summary>The direct-I/O completion workqueue (dio): made at mount in IRQ mode.</summary>
    public Workqueue DioWorkqueue => Volatile.Read(ref _dio) ?? Interlocked.CompareExchange(ref _dio, NewDioWorkqueue(), null) ?? _dio!;

    /// <summary>Makes a filesystem on <paramref name="device"/> (the whole device unless
    /// <paramref name="geometry"/> says otherwise).</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public static Superblock Mkfs(BlockDevice device, FsGeometry? geometry = null, CompletionMode mode = CompletionMode.Irq)
    {
        ArgumentNullException.ThrowIfNull(device);
        return Format.Mkfs.Format(device, geometry ?? FsGeometry.For((long)device.CapacitySectors * BlockDevice.SectorSize), Guid.Empty, mode);
    }

    /// <summary>Mounts <paramref name="device"/> with <paramref name="cache"/>; on failure <paramref name="problem"/> says what is wrong.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public static Errno Mount(BlockDevice device, PageCache cache, out FileSystem? fs, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(cache);
        fs = null;
        var err = FsMount.Mount(device, cache.Options.Mode, out var meta, out problem);
        if (err == Errno.None)
        {
            fs = new FileSystem(meta!, cache);
        }

        return err;
    }

    /// <summary>Opens the regular file at <paramref name="path"/>.</summary>
    /// <returns>ENOENT without <see cref="OpenFlags.Create"/>, EEXIST with
    /// <see cref="OpenFlags.Exclusive"/>, EISDIR for a directory, the namespace's errors, or
    /// EIO after unmount or shutdown.</returns>
    /// <remarks>Kernel: xfs_file_open() refuses on a shut-down filesystem. Context: Process context. May sleep.</remarks>
    public Errno Open(string path, OpenFlags flags, out FsFile? file)
    {
        file = null;
        if (Volatile.Read(ref _unmounted) != 0 || IsShutdown)
        {
            return Errno.EIO;
        }

        if ((flags & OpenFlags.Create) != 0)
        {
            var created = Meta.Create(path);
            if (created != Errno.None && (created != Errno.EEXIST || (flags & OpenFlags.Exclusive) != 0))
            {
                return created;
            }
        }

        var err = Meta.Open(path, out var inode);
        if (err != Errno.None)
        {
            return err;
        }

        var aops = inode!.Aops ?? inode.AttachAops(new XfsAops(this, inode));
        file = new FsFile(this, aops, flags);
        if ((flags & OpenFlags.Truncate) != 0 && (err = file.Truncate(0)) != Errno.None)
        {
            file.Close();
            file = null;
        }

        return err;
    }

    /// <summary>Writes back every file and waits, then flushes the device (sync(2) for this
    /// filesystem); returns the first writeback error (the legacy, report-once kind) or the
    /// flush's. No open file's error sample moves: each still sees the errors at its next fsync
    /// or <see cref="FsFile.Syncfs"/>.</summary>
    /// <returns><see cref="Errno.EIO"/> on a shut-down filesystem, where the writeback fails
    /// every dirty folio without I/O and no flush is sent.</returns>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public Errno Sync()
    {
        var err = Bdi.SyncAll();
        if (IsShutdown)
        {
            return Errno.EIO;
        }

        var flush = new Bio(Device, BioOp.Flush).SubmitWait();
        return err != Errno.None ? err : flush;
    }

    /// <summary>Shuts the filesystem down now, as the godown ioctl does: see the type's remarks
    /// for what follows. Returns false if it was already down.</summary>
    /// <remarks>Kernel: XFS_IOC_GOINGDOWN with XFS_FSOP_GOING_FLAGS_NOLOGFLUSH (commits are
    /// synchronous here, so LOGFLUSH would do the same). Dirty data is not written: it fails at
    /// its writeback. Context: Any context.</remarks>
    public bool Shutdown() => Meta.ForceShutdown("shut down by request (XFS_IOC_GOINGDOWN)");

    /// <summary>syncfs's sync: writes back every file and waits, then flushes the device. Data
    /// writeback errors are not returned — they reach callers through the errseqs — only the
    /// flush's, or EIO once shut down.</summary>
    /// <remarks>Kernel: sync_filesystem() (writeback_inodes_sb, sync_inodes_sb, xfs_fs_sync_fs —
    /// whose log force fails on a shut-down filesystem — and the device flush). Context: Process
    /// context. May sleep.</remarks>
    internal Errno SyncFilesystem()
    {
        Bdi.SyncAll();
        return IsShutdown ? Errno.EIO : new Bio(Device, BioOp.Flush).SubmitWait();
    }

    /// <summary>Drops every file's clean cached folios (echo 1 &gt; /proc/sys/vm/drop_caches); returns how many.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public int DropCaches() => Meta.CachedInodes().Sum(i => i.Aops?.Mapping.InvalidateCleanPages() ?? 0);

    private Workqueue NewConvWorkqueue() => Cache.Machine.AllocWorkqueue($"xfs-conv/{Device.Name}", WqFlags.MemReclaim | WqFlags.Freezable);

    private Workqueue NewDioWorkqueue() => Cache.Machine.AllocWorkqueue($"dio/{Device.Name}", WqFlags.MemReclaim);

    /// <summary>Syncs, drops every file's cache and writes all metadata home. A shut-down
    /// filesystem writes nothing: its dirty folios fail their writeback without I/O, and every
    /// cached inode, folio and buffer is dropped.</summary>
    /// <returns>EBUSY while a file is open (nothing is changed); otherwise the sync's or the
    /// final checkpoint's error — EIO if the filesystem shuts down during the unmount — and
    /// <see cref="Errno.None"/> for a filesystem already shut down (the unmount itself succeeds,
    /// as XFS's does; the log holds the last committed state).</returns>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public Errno Unmount()
    {
        var cached = Meta.CachedInodes();
        if (cached.Any(i => i.References > 0))
        {
            return Errno.EBUSY;
        }

        var wasShutdown = IsShutdown;
        foreach (var inode in cached)
        {
            inode.Aops?.DioWait();
        }

        var err = Sync();
        _conv?.Flush();
        _dio?.Flush();
        foreach (var inode in cached)
        {
            inode.Aops?.Mapping.TruncatePages(0);
        }

        Volatile.Write(ref _unmounted, 1);
        var meta = Meta.Unmount();
        return wasShutdown ? Errno.None : err != Errno.None ? err : meta;
    }
}
