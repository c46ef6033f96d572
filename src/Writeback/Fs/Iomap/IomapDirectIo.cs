using System.Threading;
using Writeback.Block;
using Writeback.Kernel;

namespace Writeback.Fs.Iomap;

/// <summary>Direct I/O: reads and writes between the caller's buffer and the file's blocks,
/// bypassing the page cache, synchronous or asynchronous.</summary>
/// <remarks>Kernel: fs/iomap/direct-io.c (iomap_dio_rw, iomap_dio_bio_iter,
/// iomap_dio_bio_end_io, iomap_dio_done, iomap_dio_complete), with the 2026 completion rules
/// (KERNEL-REFERENCE §4.3): the page cache over the range is written back and invalidated
/// first; each mapping becomes bios (unwritten extents for writes into holes); the last bio to
/// complete decides where the completion runs —
/// <list type="bullet">
/// <item>synchronous: it only wakes the submitter, which completes in its own task;</item>
/// <item>asynchronous, IRQ-completion mode: inline in the bio's end-io for a pure overwrite
/// within i_size with no page-cache pages in the range and no error (with O_DSYNC only if
/// written through with FUA); otherwise queued on the dio workqueue (COMP_WORK: unwritten
/// conversion, size extension, sync, errors, cached pages);</item>
/// <item>asynchronous, task-completion mode: every bio is flagged, so the last end-io runs in
/// task context and completes inline.</item>
/// </list>
/// O_DSYNC is written through with FUA when every bio of the write is a pure overwrite and the
/// device honours FUA (or has no write cache); otherwise the completion syncs the range. Model:
/// the caller's bytes are copied into (or out of) a buffer of the model's, as the kernel pins
/// user pages; alignment is to the filesystem block.</remarks>
public static class IomapDirectIo
{
    /// <summary>Writes <paramref name="data"/> at <paramref name="pos"/>, bypassing the cache.</summary>
    /// <param name="inode">The file.</param>
    /// <param name="ops">The filesystem's completion work.</param>
    /// <param name="pos">The file offset (block-aligned).</param>
    /// <param name="data">The bytes (a multiple of the block size).</param>
    /// <param name="dsync">O_DSYNC: durable when complete, with what reading it back needs.</param>
    /// <param name="sync">O_SYNC: durable when complete, with all metadata.</param>
    /// <param name="onComplete">Null for a synchronous write (this call waits and returns the
    /// result); otherwise the write is asynchronous and this is called with the result when it
    /// completes (ki_complete), from whatever context the completion runs in.</param>
    /// <returns>EINVAL when misaligned; otherwise, for a synchronous write, the result.</returns>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public static Errno Write(IIomapInode inode, IIomapDioOps ops, long pos, ReadOnlySpan<byte> data, bool dsync, bool sync, Action<Errno, long>? onComplete)
    {
        ArgumentNullException.ThrowIfNull(inode);
        ArgumentNullException.ThrowIfNull(ops);
        if (!Aligned(inode, pos, data.Length))
        {
            return Errno.EINVAL;
        }

        var end = pos + data.Length;
        var err = inode.Mapping.WriteAndWaitRange(pos, end);
        if (err != Errno.None)
        {
            return err;
        }

        // Whole folios go, so that none is left uptodate over blocks this write changes.
        inode.Mapping.InvalidatePagesRange(pos, end);
        var dio = new DirectIo(inode, ops, pos, data.Length, write: true, onComplete);
        if (end > inode.Size)
        {
            dio.Flags |= DioFlags.ExtendSize | DioFlags.CompWork;
        }

        if (dsync || sync)
        {
            dio.Flags |= DioFlags.NeedSync | (sync ? DioFlags.SyncAll : DioFlags.None);
            if (!sync && (inode.Device.SupportsFua || !inode.Device.HasWriteCache))
            {
                dio.Flags |= DioFlags.WriteThrough;
            }
        }

        var buffer = data.ToArray();
        ops.DioBegin();
        var at = pos;
        while (at < end)
        {
            err = inode.Begin(at, end - at, IomapOperation.Write | IomapOperation.Direct, out var iomap);
            if (err != Errno.None)
            {
                dio.RecordError(err);
                break;
            }

            var n = (int)(Math.Min(end, iomap.End) - at);
            var pure = iomap.Type == IomapType.Mapped && (iomap.Flags & IomapFlags.New) == 0;
            if (!pure)
            {
                // Conversion and new blocks are metadata: FUA alone cannot make them durable.
                dio.Flags = (dio.Flags & ~DioFlags.WriteThrough) | DioFlags.CompWork | (iomap.Type == IomapType.Unwritten ? DioFlags.Unwritten : DioFlags.None);
            }

            var useFua = (dio.Flags & DioFlags.WriteThrough) != 0;
            var bio = new Bio(inode.Device, BioOp.Write, useFua ? BioOpFlags.Fua : BioOpFlags.None) { Sector = (ulong)(iomap.AddressOf(at) / BlockDevice.SectorSize), Private = dio, EndIoHandler = BioEndIo };
            bio.AddVec(buffer.AsMemory((int)(at - pos), n));
            dio.Submit(bio);
            at += n;
        }

        if ((dio.Flags & DioFlags.WriteThrough) != 0)
        {
            // Every bio went out with FUA: nothing left to sync.
            dio.Flags &= ~DioFlags.NeedSync;
        }

        return dio.SubmissionDone();
    }

    /// <summary>Reads into <paramref name="destination"/> from <paramref name="pos"/>, up to i_size, bypassing the cache.</summary>
    /// <returns>EINVAL when misaligned.</returns>
    /// <remarks>Dirty cached data over the range is written back first, so the read sees it.
    /// Holes, delalloc and unwritten blocks read as zeros. Context: Process context. May sleep.</remarks>
    public static Errno Read(IIomapInode inode, long pos, Span<byte> destination, out int read)
    {
        ArgumentNullException.ThrowIfNull(inode);
        read = 0;
        if (!Aligned(inode, pos, destination.Length))
        {
            return Errno.EINVAL;
        }

        var end = Math.Min(pos + destination.Length, inode.Size);
        if (end <= pos)
        {
            return Errno.None;
        }

        var err = inode.Mapping.WriteAndWaitRange(pos, end);
        if (err != Errno.None)
        {
            return err;
        }

        var at = pos;
        while (at < end)
        {
            err = inode.Begin(at, end - at, IomapOperation.Read | IomapOperation.Direct, out var iomap);
            if (err != Errno.None)
            {
                return err;
            }

            var n = (int)(Math.Min(end, iomap.End) - at);
            var target = destination.Slice((int)(at - pos), n);
            if (iomap.Type == IomapType.Mapped)
            {
                // Whole blocks from the disk; the tail past i_size is cut off when copying.
                var blocks = (n + inode.BlockSize - 1) / inode.BlockSize * inode.BlockSize;
                var buffer = new byte[blocks];
                var bio = new Bio(inode.Device, BioOp.Read) { Sector = (ulong)(iomap.AddressOf(at) / BlockDevice.SectorSize) };
                bio.AddVec(buffer);
                err = bio.SubmitWait();
                if (err != Errno.None)
                {
                    return err;
                }

                buffer.AsSpan(0, n).CopyTo(target);
            }
            else
            {
                target.Clear();
            }

            Context.Point(n);
            at += n;
        }

        read = (int)(end - pos);
        return Errno.None;
    }

    private static bool Aligned(IIomapInode inode, long pos, int length) =>
        pos >= 0 && pos % inode.BlockSize == 0 && length % inode.BlockSize == 0;

    // iomap_dio_bio_end_io: record the first error; the last reference decides where the completion runs.
    private static void BioEndIo(Bio bio)
    {
        var dio = (DirectIo)bio.Private!;
        dio.RecordDeviceDone(bio.CompletedNs);
        if (bio.Status != BlkStatus.Ok)
        {
            dio.RecordError(bio.Status.ToErrno());
        }

        dio.Put();
    }
}
