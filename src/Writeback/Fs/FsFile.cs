using System.Threading;
using Writeback.Block;
using Writeback.Fs.Iomap;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Fs;

/// <summary>An open regular file: reads and writes at a position, fsync and fdatasync,
/// truncate, fallocate, punch hole, close.</summary>
/// <remarks>Kernel: struct file on XFS (fs/xfs/xfs_file.c: xfs_file_read_iter,
/// xfs_file_write_iter, xfs_file_fsync, xfs_setattr_size, xfs_file_fallocate). Named FsFile to
/// stay apart from <see cref="Mm.OpenFile"/>, which it uses for its writeback-error sample: each
/// open file sees each writeback error once, at its next fsync.
/// <para>Writes take i_rwsem exclusive (direct writes shared unless they extend the file),
/// stamp mtime/ctime, zero the gap between the old EOF and the write, then go through the page
/// cache (<see cref="IomapBufferedIo"/>) or, with <see cref="OpenFlags.Direct"/>, around it
/// (<see cref="IomapDirectIo"/>). O_DSYNC/O_SYNC buffered writes sync their range before
/// returning. fsync = write back and wait (reporting this file's unseen error), log the
/// inode's changed timestamps (fdatasync skips that: the size and extents a read needs are
/// logged by writeback's completion already), then flush the device's cache.</para>
/// <para>Bad input — a negative offset or length, a misaligned direct I/O, a write past
/// <see cref="MaxFileSize"/>, use after close — is an error that changes nothing.</para>
/// <para>On a shut-down filesystem every operation returns <see cref="Errno.EIO"/> (after
/// EBADF for a closed file) — reads, even of cached data, as XFS's read_iter does; fsync and
/// fdatasync first write back (failing the dirty folios without I/O and consuming this file's
/// error sample) — except <see cref="Close"/>, which works and frees nothing.</para>
/// <para>Each file also samples the filesystem's error sequence (<see cref="FileSystem.SbWbErr"/>,
/// f_sb_err) at open, for <see cref="Syncfs"/>.</para></remarks>
public sealed class FsFile
{
    /// <summary>The largest file (16 TiB): offsets past it are EFBIG.</summary>
    public const long MaxFileSize = 1L << 44;

    private static readonly LockClassKey s_lockKey = LockClassKey.ForName("&f->f_lock");
    private readonly Mm.OpenFile _errors;
    private readonly ReadaheadState _readahead = new();
    private readonly Writeback.Kernel.SpinLock _lock = new(s_lockKey);
    private uint _sbErr;
    private int _closed;

    internal FsFile(FileSystem fs, XfsAops aops, OpenFlags flags)
    {
        FileSystem = fs;
        Aops = aops;
        Flags = flags;
        _errors = new Mm.OpenFile(aops.Mapping);
        _sbErr = fs.SbWbErr.Sample();
    }

    /// <summary>The filesystem.</summary>
    public FileSystem FileSystem { get; }

    /// <summary>The file's page cache and I/O paths.</summary>
    public XfsAops Aops { get; }

    /// <summary>The inode.</summary>
    public XfsInode Inode => Aops.Inode;

    /// <summary>How it was opened.</summary>
    public OpenFlags Flags { get; }

    /// <summary>The file's size (i_size).</summary>
    public long Size => Inode.Size;

    /// <summary>Whether <see cref="Close"/> was called.</summary>
    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    private bool Direct => (Flags & OpenFlags.Direct) != 0;

    /// <summary>Reads from <paramref name="pos"/> into <paramref name="destination"/>; fewer bytes at EOF.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public Errno Read(long pos, Span<byte> destination, out int read)
    {
        read = 0;
        var err = Check(pos, destination.Length, writing: false);
        if (err != Errno.None)
        {
            return err;
        }

        Inode.IoLock.DownRead();
        try
        {
            return Direct ? IomapDirectIo.Read(Aops, pos, destination, out read) : IomapBufferedIo.Read(Aops, pos, destination, _readahead, out read);
        }
        finally
        {
            Inode.IoLock.UpRead();
        }
    }

    /// <summary>Writes <paramref name="data"/> at <paramref name="pos"/>; with
    /// <paramref name="dontcache"/> (RWF_DONTCACHE) the folios leave the cache once written back.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public Errno Write(long pos, ReadOnlySpan<byte> data, out long written, bool dontcache = false)
    {
        written = 0;
        var err = Check(pos, data.Length, writing: true);
        if (err != Errno.None || data.IsEmpty)
        {
            return err;
        }

        var dsync = (Flags & (OpenFlags.Dsync | OpenFlags.Sync)) != 0;
        var sync = (Flags & OpenFlags.Sync) != 0;
        if (Direct)
        {
            err = DirectWrite(pos, data, dsync, sync, null);
            written = err == Errno.None ? data.Length : 0;
            return err;
        }

        Inode.IoLock.DownWrite();
        try
        {
            err = WriteChecks(pos);
            if (err == Errno.None)
            {
                err = IomapBufferedIo.Write(Aops, pos, data, dontcache, out written);
            }
        }
        finally
        {
            Inode.IoLock.UpWrite();
        }

        if (written > 0 && dsync)
        {
            var synced = Fsync(pos, pos + written, dataOnly: !sync);
            err = err != Errno.None ? err : synced;
        }

        return err;
    }

    /// <summary>An asynchronous direct write (io_uring/libaio style): returns once the bios are
    /// submitted; <paramref name="onComplete"/> gets the result, from whatever context the
    /// completion runs in (an interrupt, for an inline completion in IRQ mode).</summary>
    /// <returns>EINVAL if the file is not open for direct I/O or the write is misaligned; other
    /// errors found before submission.</returns>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public Errno WriteDirectAsync(long pos, ReadOnlySpan<byte> data, Action<Errno, long> onComplete)
    {
        ArgumentNullException.ThrowIfNull(onComplete);
        var err = Check(pos, data.Length, writing: true);
        if (err != Errno.None)
        {
            return err;
        }

        if (!Direct)
        {
            return Errno.EINVAL;
        }

        var dsync = (Flags & (OpenFlags.Dsync | OpenFlags.Sync)) != 0;
        return DirectWrite(pos, data, dsync, (Flags & OpenFlags.Sync) != 0, onComplete);
    }

    /// <summary>Makes everything written durable, with the inode's metadata.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public Errno Fsync() => Fsync(0, long.MaxValue, dataOnly: false);

    /// <summary>Makes everything written durable, with what reading it back needs.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public Errno Fdatasync() => Fsync(0, long.MaxValue, dataOnly: true);

    /// <summary>Syncs the whole filesystem this file is on and reports, once, any writeback error
    /// of any of its files that this file description has not yet been told of.</summary>
    /// <returns>The sync's own error (the device flush; EIO once shut down) if any, else the
    /// filesystem's unseen writeback error, else <see cref="Errno.None"/>; EBADF after close.</returns>
    /// <remarks>Kernel: syncfs(2): sync_filesystem(), then errseq_check_and_advance(&amp;sb-&gt;s_wb_err,
    /// &amp;file-&gt;f_sb_err) under f_lock. The sample moves even when the sync itself failed.
    /// Context: Process context. May sleep.</remarks>
    public Errno Syncfs()
    {
        if (IsClosed)
        {
            return Errno.EBADF;
        }

        Context.MightSleep();
        var err = FileSystem.SyncFilesystem();
        var seen = Errno.None;
        var sb = FileSystem.SbWbErr;
        if (sb.Check(Volatile.Read(ref _sbErr)) != Errno.None)
        {
            _lock.Lock();
            seen = sb.CheckAndAdvance(ref _sbErr);
            _lock.Unlock();
        }

        return err != Errno.None ? err : seen;
    }

    /// <summary>Sets the size (ftruncate).</summary>
    /// <remarks>Kernel: xfs_setattr_size(): wait for direct I/O; going up, zero the old EOF block's
    /// tail and write back what lies between the on-disk size and the new one; going down, zero
    /// the new EOF block's tail (written back before the size changes on disk), drop the cache
    /// past it; then the transactions. Context: Process context. May sleep.</remarks>
    public Errno Truncate(long size)
    {
        var err = Check(size, 0, writing: true);
        if (err != Errno.None)
        {
            return err;
        }

        Inode.IoLock.DownWrite();
        try
        {
            Aops.DioWait();
            var old = Inode.Size;
            if (size > old)
            {
                err = IomapBufferedIo.ZeroRange(Aops, old, size - old);
                err = err != Errno.None ? err : Aops.Mapping.WriteAndWaitRange(Inode.DiskSize, size);
            }
            else if (size < old)
            {
                var blockEnd = Math.Min(old, RoundUp(size));
                if (blockEnd > size)
                {
                    err = IomapBufferedIo.ZeroRange(Aops, size, blockEnd - size);
                    err = err != Errno.None ? err : Aops.Mapping.WriteAndWaitRange(size, blockEnd);
                }

                Aops.Mapping.TruncatePages(size);
            }

            return err != Errno.None ? err : Inode.Truncate(size);
        }
        finally
        {
            Inode.IoLock.UpWrite();
        }
    }

    /// <summary>Preallocates (fallocate mode 0, or FALLOC_FL_KEEP_SIZE).</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public Errno Fallocate(long offset, long length, bool keepSize = false)
    {
        var err = CheckRange(offset, length);
        if (err != Errno.None)
        {
            return err;
        }

        Inode.IoLock.DownWrite();
        try
        {
            Aops.DioWait();
            if (!keepSize && offset + length > Inode.Size)
            {
                // Before the new size is logged, the data below it must be on disk (as truncate does).
                err = Aops.Mapping.WriteAndWaitRange(Inode.DiskSize, offset + length);
                if (err != Errno.None)
                {
                    return err;
                }
            }

            return Inode.Fallocate(offset, length, keepSize);
        }
        finally
        {
            Inode.IoLock.UpWrite();
        }
    }

    /// <summary>Frees the range's blocks and zeroes its partial blocks; the size stays
    /// (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE).</summary>
    /// <remarks>Kernel: xfs_free_file_space(): write back and drop the cache over the range
    /// rounded out to blocks, free the whole blocks, zero the partial ones. Context: Process
    /// context. May sleep.</remarks>
    public Errno PunchHole(long offset, long length)
    {
        var err = CheckRange(offset, length);
        if (err != Errno.None)
        {
            return err;
        }

        Inode.IoLock.DownWrite();
        try
        {
            Aops.DioWait();
            // Rounded out as xfs_flush_unmap_range does, to max(block, page).
            var rounding = Math.Max(Inode.BlockSize, Folio.PageSize);
            var start = offset / rounding * rounding;
            var end = (offset + length + rounding - 1) / rounding * rounding;
            err = Aops.Mapping.WriteAndWaitRange(start, end);
            if (err != Errno.None)
            {
                return err;
            }

            // Written back above: every folio that overlaps goes whole (a large folio cut in part
            // would keep zeros over bytes outside the hole), to be read again from disk.
            Aops.Mapping.InvalidatePagesRange(start, end);
            err = Inode.PunchHole(offset, length);
            var zeroEnd = Math.Min(offset + length, Inode.Size);
            return err != Errno.None || zeroEnd <= offset ? err : IomapBufferedIo.ZeroRange(Aops, offset, zeroEnd - offset);
        }
        finally
        {
            Inode.IoLock.UpWrite();
        }
    }

    /// <summary>Closes the file; the last close of an unlinked file frees it.</summary>
    /// <returns>EBADF if already closed.</returns>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public Errno Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return Errno.EBADF;
        }

        // An asynchronous direct write still in flight must not outlive the inode's blocks.
        Aops.DioWait();
        return FileSystem.Meta.Irele(Inode);
    }

    private Errno DirectWrite(long pos, ReadOnlySpan<byte> data, bool dsync, bool sync, Action<Errno, long>? onComplete)
    {
        // Writes that extend the file serialise with everything; overwrites share the lock. The
        // size is looked at again under the shared lock: a truncate may have got in between.
        var extending = pos + data.Length > Inode.Size;
        if (!extending)
        {
            Inode.IoLock.DownRead();
            if (pos + data.Length > Inode.Size)
            {
                Inode.IoLock.UpRead();
                extending = true;
            }
        }

        if (extending)
        {
            Inode.IoLock.DownWrite();
        }

        try
        {
            var err = extending ? WriteChecks(pos) : Errno.None;
            if (!extending)
            {
                Inode.Touch();
            }

            return err != Errno.None ? err : IomapDirectIo.Write(Aops, Aops, pos, data, dsync, sync, onComplete);
        }
        finally
        {
            if (extending)
            {
                Inode.IoLock.UpWrite();
            }
            else
            {
                Inode.IoLock.UpRead();
            }
        }
    }

    // xfs_file_write_checks: a write past EOF first zeroes the gap from the old EOF; then the
    // timestamps (file_update_time). Called with i_rwsem held exclusive.
    private Errno WriteChecks(long pos)
    {
        Aops.DioWait();
        var size = Inode.Size;
        var err = pos > size ? IomapBufferedIo.ZeroRange(Aops, size, pos - size, extendSize: false) : Errno.None;
        Inode.Touch();
        return err;
    }

    private Errno Fsync(long start, long end, bool dataOnly)
    {
        if (IsClosed)
        {
            return Errno.EBADF;
        }

        return Aops.SyncRange(start, end, dataOnly, _errors);
    }

    private Errno Check(long pos, long length, bool writing)
    {
        if (IsClosed)
        {
            return Errno.EBADF;
        }

        if (FileSystem.IsShutdown)
        {
            return Errno.EIO;
        }

        if (pos < 0 || length < 0)
        {
            return Errno.EINVAL;
        }

        // Compared without adding, which could overflow near long.MaxValue.
        return writing && pos > MaxFileSize - length ? Errno.EFBIG : Errno.None;
    }

    private Errno CheckRange(long offset, long length)
    {
        var err = Check(offset, length, writing: true);
        return err != Errno.None ? err : length == 0 ? Errno.EINVAL : Errno.None;
    }

    private long RoundUp(long pos) => (pos + Inode.BlockSize - 1) / Inode.BlockSize * Inode.BlockSize;
}
