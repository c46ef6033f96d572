using System.Threading;
using Writeback.Block;
using Writeback.Fs.Inode;
using Writeback.Fs.Iomap;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Fs;

/// <summary>A file's page cache and its I/O paths: the address-space operations, the iomap
/// operations for buffered I/O, and writeback with its completion — deferred to the filesystem's
/// completion workqueue in IRQ-completion mode, inline in task-completion mode.</summary>
/// <remarks>Kernel: fs/xfs/xfs_aops.c and xfs_iomap.c, bound to one inode (the kernel finds the
/// inode through mapping->host).
/// <para>Submission (xfs_writeback_submit): an ioend needs completion work when it wrote
/// unwritten blocks or ends past the on-disk size (xfs_ioend_needs_wq_completion), or — in IRQ
/// mode, as XFS did from 6.16 until the merged series — when it wrote dropbehind folios, whose
/// invalidation cannot run in interrupt context.</para>
/// <para>IRQ mode: such an ioend's bio completes in xfs_end_bio, which puts the ioend on the
/// inode's ioend list under an irqsave spinlock and, if the list was empty, queues the inode's
/// work on "xfs-conv/&lt;dev&gt;"; the worker (xfs_end_io) splices the list, sorts and merges
/// the ioends, runs each one's transaction (unwritten conversion, on-disk size) and only then
/// ends writeback on its folios. Other ioends end writeback in the interrupt.</para>
/// <para>Task mode (the BIO_COMPLETE_IN_TASK design): every writeback bio is flagged at
/// submission; its end-io runs in task context, does the transaction inline and ends
/// writeback; the workqueue and the ioend list are never used.</para>
/// <para>Either way the metadata is done before writeback ends, so fdatawait returning means the
/// conversion and size update are done.</para></remarks>
public sealed class XfsAops : IIomapInode, IIomapWritebackOps, IIomapDioOps, IAddressSpaceOperations
{
    private static readonly LockClassKey s_ioendLockKey = LockClassKey.ForName("&ip->i_ioend_lock");
    private readonly Writeback.Kernel.SpinLock _ioendLock = new(s_ioendLockKey);
    private readonly List<Ioend> _ioendList = [];
    private static readonly LockClassKey s_dioWaitKey = LockClassKey.ForName("&inode->i_dio_wait");
    private readonly WorkStruct _ioendWork;
    private readonly WaitQueueHead _dioWait = new(s_dioWaitKey);
    private int _dioCount;

    internal XfsAops(FileSystem fs, XfsInode inode)
    {
        FileSystem = fs;
        Inode = inode;
        // The superblock's errseq hangs off the mapping, as mapping->host->i_sb->s_wb_err does.
        Mapping = new AddressSpace(fs.Cache, $"{fs.Device.Name}:ino{inode.Number}", this, fs.Bdi) { SuperblockWbErr = fs.SbWbErr };
        _ioendWork = new WorkStruct(_ => EndIoWork());
    }

    /// <summary>The filesystem.</summary>
    public FileSystem FileSystem { get; }

    /// <summary>The inode.</summary>
    public XfsInode Inode { get; }

    /// <inheritdoc/>
    public AddressSpace Mapping { get; }

    /// <inheritdoc/>
    public BlockDevice Device => FileSystem.Device;

    /// <inheritdoc/>
    public int BlockSize => Inode.BlockSize;

    /// <inheritdoc/>
    public long Size => Inode.Size;

    /// <inheritdoc/>
    public void ExtendSize(long end) => Inode.WriteSizeAndTimes(end);

    /// <inheritdoc/>
    /// <remarks>Kernel: xfs_read_iomap_begin, xfs_buffered_write_iomap_begin (delalloc over
    /// holes), xfs_direct_write_iomap_begin (unwritten over holes and delalloc).</remarks>
    public Errno Begin(long pos, long length, IomapOperation op, out IomapExtent iomap)
    {
        IReadOnlyList<Extent> map;
        var err = Errno.None;
        if (FileSystem.IsShutdown)
        {
            // Each iomap_begin of XFS refuses a shut-down filesystem.
            iomap = default;
            return Errno.EIO;
        }

        if ((op & IomapOperation.Direct) != 0 && (op & IomapOperation.Write) != 0)
        {
            err = Inode.AllocateDirect(pos, length, out map);
        }
        else if ((op & IomapOperation.Write) != 0)
        {
            err = Inode.ReserveDelalloc(pos, length, out map);
        }
        else
        {
            map = Inode.Map(pos, length);
        }

        iomap = err == Errno.None ? ToIomap(map[0]) : default;
        return err;
    }

    /// <inheritdoc/>
    /// <remarks>Kernel: xfs_buffered_write_iomap_end(): a short write gives back the delalloc
    /// reserved for the blocks it did not reach, except under dirty folios (their data is
    /// another write's).</remarks>
    public Errno End(long pos, long length, long done, IomapOperation op, IomapExtent iomap)
    {
        if (op != IomapOperation.Write || done >= length || iomap.Type != IomapType.Delalloc)
        {
            return Errno.None;
        }

        var bs = (long)BlockSize;
        var start = (pos + done + bs - 1) / bs * bs;
        var end = Math.Min(iomap.End, pos + length);

        // Punch what no dirty folio covers: data dirtied there (by an earlier write) keeps its
        // reservation (iomap_write_delalloc_release). Folio edges are block edges.
        var at = start;
        while (at < end)
        {
            var next = (ulong)(at / Folio.PageSize);
            if (Mapping.Pages.Find(ref next, (ulong)((end - 1) / Folio.PageSize)) is not { } folio)
            {
                Inode.PunchDelalloc(at, end - at);
                break;
            }

            var folioStart = Math.Max(at, (long)folio.Index * Folio.PageSize);
            var folioEnd = Math.Min(end, ((long)folio.Index * Folio.PageSize) + folio.Size);
            if (folioStart > at)
            {
                Inode.PunchDelalloc(at, folioStart - at);
            }

            if (!folio.Test(FolioFlags.Dirty) && folioEnd > folioStart)
            {
                Inode.PunchDelalloc(folioStart, folioEnd - folioStart);
            }

            at = folioEnd;
        }

        return Errno.None;
    }

    /// <inheritdoc/>
    /// <remarks>Kernel: xfs_map_blocks(): a delalloc range gets its blocks now
    /// (xfs_bmapi_convert_delalloc); on a shut-down filesystem EIO, so that writeback fails the
    /// folio — error recorded, folio cleaned — without I/O.</remarks>
    public Errno MapBlocks(long pos, long length, out IomapExtent iomap)
    {
        if (FileSystem.IsShutdown)
        {
            iomap = default;
            return Errno.EIO;
        }

        var at = Inode.Map(pos, length)[0];
        if (at.State == ExtentState.Delalloc)
        {
            var err = Inode.ConvertDelalloc(pos, out at);
            if (err != Errno.None)
            {
                iomap = default;
                return err;
            }
        }

        iomap = ToIomap(at);
        return Errno.None;
    }

    /// <inheritdoc/>
    public void Submit(Ioend ioend, Errno error)
    {
        ArgumentNullException.ThrowIfNull(ioend);
        var stats = FileSystem.Stats;
        Interlocked.Increment(ref stats.IoendsSubmitted);
        if (error != Errno.None)
        {
            // Nothing to write: complete it with the error, here, so its folios end writeback.
            ioend.Error = error;
            ioend.FinishBuffered();
            return;
        }

        var task = FileSystem.Mode == CompletionMode.Task;
        var needsWork = (ioend.Flags & IoendFlags.Unwritten) != 0 || ioend.End > Inode.DiskSize
            || (!task && (ioend.Flags & IoendFlags.Dontcache) != 0);
        if (needsWork)
        {
            Interlocked.Increment(ref stats.IoendsNeedingWork);
        }

        var bio = ioend.BuildBio();
        if (task)
        {
            bio.SetFlag(BioFlags.CompleteInTask);
            bio.EndIoHandler = needsWork ? EndBioInline : EndBio;
        }
        else
        {
            bio.EndIoHandler = needsWork ? EndBioDeferred : EndBio;
        }

        bio.Submit();
    }

    /// <inheritdoc/>
    public bool CompleteInTask => FileSystem.Mode == CompletionMode.Task;

    /// <summary>Direct I/Os in flight (i_dio_count).</summary>
    public int DioInFlight => Volatile.Read(ref _dioCount);

    /// <inheritdoc/>
    public void QueueCompletion(WorkStruct work) => FileSystem.DioWorkqueue.QueueWork(work);

    /// <inheritdoc/>
    /// <remarks>Kernel: xfs_dio_write_end_io(): i_size first, then the conversion and on-disk
    /// size in one transaction.</remarks>
    public Errno WriteEndIo(long offset, long length)
    {
        if (offset + length > Inode.Size)
        {
            Inode.WriteSizeAndTimes(offset + length);
        }

        return Inode.EndWrite(offset, length);
    }

    /// <inheritdoc/>
    /// <remarks>Kernel: vfs_fsync_range → xfs_file_fsync: write back and wait, log what the
    /// inode needs, flush the device's cache.</remarks>
    public Errno SyncRange(long start, long end, bool dataOnly) => SyncRange(start, end, dataOnly, null);

    /// <summary>fsync of a byte range: write back and wait — reporting the error through
    /// <paramref name="file"/>'s own sample when given (file_write_and_wait_range), else the
    /// mapping's — then log the inode's changed timestamps unless <paramref name="dataOnly"/>,
    /// then flush the device's cache. On a shut-down filesystem: the write-back (which fails
    /// without I/O), then EIO.</summary>
    /// <remarks>Kernel: xfs_file_fsync() tests for shutdown after file_write_and_wait_range().
    /// Context: Process context. May sleep.</remarks>
    public Errno SyncRange(long start, long end, bool dataOnly, Mm.OpenFile? file)
    {
        var err = file is not null ? file.WriteAndWaitRange(start, end) : Mapping.WriteAndWaitRange(start, end);
        if (FileSystem.IsShutdown)
        {
            return Errno.EIO;
        }

        var logged = Inode.LogTimestamps(dataOnly);
        var flush = FileSystem.Cache.Machine.Options.InjectedBugs.HasFlag(InjectedBug.SkipFsyncFlush) ? Errno.None : new Bio(Device, BioOp.Flush).SubmitWait();
        return err != Errno.None ? err : logged != Errno.None ? logged : flush;
    }

    /// <inheritdoc/>
    public void CountCompletion(bool queued) => Interlocked.Increment(ref queued ? ref FileSystem.Stats.DioWorkItems : ref FileSystem.Stats.DioInline);

    /// <inheritdoc/>
    public void DioBegin() => Interlocked.Increment(ref _dioCount);

    /// <inheritdoc/>
    public void DioEnd(DirectIo dio)
    {
        ArgumentNullException.ThrowIfNull(dio);
        if (dio.DeviceDoneNs > 0)
        {
            FileSystem.Stats.RecordCompletion(direct: true, FileSystem.Cache.Machine.NowNs - dio.DeviceDoneNs);
        }

        if (Interlocked.Decrement(ref _dioCount) == 0)
        {
            _dioWait.WakeUpAll();
        }
    }

    /// <summary>Waits until no direct I/O is in flight (inode_dio_wait).</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public void DioWait()
    {
        if (DioInFlight != 0)
        {
            _dioWait.WaitEvent(() => DioInFlight == 0);
        }
    }

    /// <inheritdoc/>
    /// <remarks>Kernel: xfs_discard_folio() → xfs_bmap_punch_delalloc_range().</remarks>
    public void Discard(long pos, long length) => Inode.PunchDelalloc(pos, length);

    /// <inheritdoc/>
    public Errno Writepages(AddressSpace mapping, WritebackControl wbc) => IomapWriteback.Writepages(this, wbc, this);

    /// <inheritdoc/>
    public Errno ReadFolio(AddressSpace mapping, Folio folio)
    {
        ArgumentNullException.ThrowIfNull(folio);
        var err = IomapBufferedIo.FillFolio(this, folio);
        folio.Unlock();
        return err;
    }

    /// <inheritdoc/>
    public void InvalidateFolio(AddressSpace mapping, Folio folio, int offset, int length)
    {
        ArgumentNullException.ThrowIfNull(folio);
        if (offset == 0 && length == folio.Size)
        {
            folio.Private = null;
        }
        else if (folio.Private is IomapFolioState state)
        {
            state.Invalidate(offset, length, BlockSize);
        }
    }

    private static Errno ToErrno(Bio bio) => bio.Status == BlkStatus.Ok ? Errno.None : bio.Status.ToErrno();

    // ioend_writeback_end_bio: no metadata to change; ends writeback wherever it runs.
    private void EndBio(Bio bio)
    {
        var ioend = (Ioend)bio.Private!;
        ioend.Error = ToErrno(bio);
        ioend.FinishBuffered();
        RecordCompletion(ioend);
    }

    // Task mode: the flagged bio's end-io runs in task context, so the transaction runs here.
    private void EndBioInline(Bio bio)
    {
        if (!Context.InTask)
        {
            Bug.Fail("xfs: a flagged writeback bio completed outside task context");
        }

        var ioend = (Ioend)bio.Private!;
        ioend.Error = ToErrno(bio);
        FinishIoend(ioend);
    }

    // IRQ mode (xfs_end_bio): queue the ioend on the inode and kick the completion work.
    private void EndBioDeferred(Bio bio)
    {
        var ioend = (Ioend)bio.Private!;
        ioend.Error = ToErrno(bio);
        var flags = _ioendLock.LockIrqSave();
        var wasEmpty = _ioendList.Count == 0;
        _ioendList.Add(ioend);
        Interlocked.Increment(ref FileSystem.Stats.IoendListAdds);
        if (wasEmpty)
        {
            if (!FileSystem.ConvWorkqueue.QueueWork(_ioendWork))
            {
                Bug.Fail("xfs_end_bio: the inode's ioend work was already queued");
            }

            Interlocked.Increment(ref FileSystem.Stats.ConvWorkItems);
        }

        _ioendLock.UnlockIrqRestore(flags);
    }

    // xfs_end_io: splice, sort, merge, and finish each ioend after its transaction.
    private void EndIoWork()
    {
        var flags = _ioendLock.LockIrqSave();
        var spliced = _ioendList.ToList();
        _ioendList.Clear();
        _ioendLock.UnlockIrqRestore(flags);
        foreach (var ioend in Ioend.SortAndMerge(spliced))
        {
            FinishIoend(ioend);
            Context.CondResched();
        }
    }

    // The ioend's metadata work, then the end of writeback on its folios — in that order, or a
    // reader (or a crash) could find data the extents and size do not yet cover.
    private void FinishIoend(Ioend ioend)
    {
        if (FileSystem.Cache.Machine.Options.InjectedBugs.HasFlag(InjectedBug.EndWritebackBeforeConversion))
        {
            ioend.FinishBuffered();
            EndIoend(ioend);
        }
        else
        {
            EndIoend(ioend);
            ioend.FinishBuffered();
        }

        RecordCompletion(ioend);
    }

    private void RecordCompletion(Ioend ioend)
    {
        if (ioend.Bio is { CompletedNs: > 0 } bio)
        {
            FileSystem.Stats.RecordCompletion(direct: false, FileSystem.Cache.Machine.NowNs - bio.CompletedNs);
        }
    }

    // xfs_end_ioend: after a failed write nothing is converted or exposed; otherwise convert the
    // unwritten blocks and raise the on-disk size, in a transaction. Shut down, the write counts
    // as failed: its data may be on disk, but nothing can record it.
    private void EndIoend(Ioend ioend)
    {
        if (ioend.Error == Errno.None && FileSystem.IsShutdown)
        {
            ioend.Error = Errno.EIO;
        }

        if (ioend.Error != Errno.None)
        {
            return;
        }

        var err = Inode.EndWrite(ioend.Offset, ioend.Size);
        if (err != Errno.None)
        {
            ioend.Error = err;
        }
    }

    private IomapExtent ToIomap(Extent e)
    {
        var bs = (long)BlockSize;
        var type = e.State switch
        {
            ExtentState.Written => IomapType.Mapped,
            ExtentState.Unwritten => IomapType.Unwritten,
            ExtentState.Delalloc => IomapType.Delalloc,
            _ => IomapType.Hole,
        };
        return new IomapExtent((long)e.FileBlock * bs, (long)e.Length * bs, type, e.IsAllocated ? (long)e.DiskBlock * bs : -1);
    }
}
