using System.Threading;
using Writeback.Block;
using Writeback.Fs.Format;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Fs;

/// <summary>A mounted filesystem with a page cache: what users drive. Files are opened here and
/// read and written through <see cref="FsFile"/>.</summary>
/// <remarks>Kernel: the VFS super_block of a mounted XFS with its bdi, its
/// "xfs-conv/&lt;dev&gt;" completion workqueue (m_unwritten_workqueue: WQ_FREEZABLE |
/// WQ_MEM_RECLAIM) and the direct-I/O completion workqueue ("dio/&lt;dev&gt;",
/// s_dio_done_wq: WQ_MEM_RECLAIM), made at mount in IRQ mode; in task mode nothing is queued on
/// them and they are not made. The completion mode is the page cache's.</remarks>
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
    /// EIO after unmount.</returns>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public Errno Open(string path, OpenFlags flags, out FsFile? file)
    {
        file = null;
        if (Volatile.Read(ref _unmounted) != 0)
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

    /// <summary>Writes back every file and waits, then flushes the device (syncfs).</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public Errno Sync()
    {
        var err = Bdi.SyncAll();
        var flush = new Bio(Device, BioOp.Flush).SubmitWait();
        return err != Errno.None ? err : flush;
    }

    /// <summary>Drops every file's clean cached folios (echo 1 &gt; /proc/sys/vm/drop_caches); returns how many.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public int DropCaches() => Meta.CachedInodes().Sum(i => i.Aops?.Mapping.InvalidateCleanPages() ?? 0);

    private Workqueue NewConvWorkqueue() => Cache.Machine.AllocWorkqueue($"xfs-conv/{Device.Name}", WqFlags.MemReclaim | WqFlags.Freezable);

    private Workqueue NewDioWorkqueue() => Cache.Machine.AllocWorkqueue($"dio/{Device.Name}", WqFlags.MemReclaim);

    /// <summary>Syncs, drops every file's cache and writes all metadata home.</summary>
    /// <returns>EBUSY while a file is open (nothing is changed).</returns>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public Errno Unmount()
    {
        var cached = Meta.CachedInodes();
        if (cached.Any(i => i.References > 0))
        {
            return Errno.EBUSY;
        }

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
        return err != Errno.None ? err : meta;
    }
}
