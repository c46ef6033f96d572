using System.Threading;
using Writeback.Block;
using Writeback.Kernel;

namespace Writeback.Fs.Iomap;

/// <summary>One direct I/O in flight: its bios, first error, flags and completion.</summary>
/// <remarks>Kernel: struct iomap_dio — ref (one for the submitter, one per bio), error,
/// flags (IOMAP_DIO_WRITE, _COMP_WORK, _NEED_SYNC, _WRITE_THROUGH, _UNWRITTEN), the waiter of a
/// synchronous dio, and the work item of a deferred completion.</remarks>
public sealed class DirectIo
{
    private readonly Action<Errno, long>? _onComplete;
    private readonly Completion _done = new();
    private int _refs = 1;
    private int _error;
    private long _deviceDoneNs;

    internal DirectIo(IIomapInode inode, IIomapDioOps ops, long offset, int length, bool write, Action<Errno, long>? onComplete)
    {
        Inode = inode;
        Ops = ops;
        Offset = offset;
        Length = length;
        IsWrite = write;
        _onComplete = onComplete;
    }

    /// <summary>The file.</summary>
    public IIomapInode Inode { get; }

    /// <summary>The filesystem's completion work.</summary>
    public IIomapDioOps Ops { get; }

    /// <summary>The first byte.</summary>
    public long Offset { get; }

    /// <summary>The bytes.</summary>
    public int Length { get; }

    /// <summary>A write (else a read).</summary>
    public bool IsWrite { get; }

    /// <summary>What the completion must do.</summary>
    public DioFlags Flags { get; internal set; }

    /// <summary>The first error.</summary>
    public Errno Error => (Errno)Volatile.Read(ref _error);

    /// <summary>Whether the caller waits (no completion callback).</summary>
    public bool IsSync => _onComplete is null;

    /// <summary>When the device completed the last of its bios (machine clock, ns).</summary>
    public long DeviceDoneNs => Interlocked.Read(ref _deviceDoneNs);

    internal void RecordDeviceDone(long ns)
    {
        long old;
        while (ns > (old = Interlocked.Read(ref _deviceDoneNs)) && Interlocked.CompareExchange(ref _deviceDoneNs, ns, old) != old)
        {
        }
    }

    internal void RecordError(Errno error) => Interlocked.CompareExchange(ref _error, (int)error, 0);

    internal void Submit(Bio bio)
    {
        Interlocked.Increment(ref _refs);
        if (Ops.CompleteInTask)
        {
            bio.SetFlag(BioFlags.CompleteInTask);
        }

        bio.Submit();
    }

    // The submitter is done issuing bios: drop its reference; a synchronous dio waits and completes here.
    internal Errno SubmissionDone()
    {
        Put();
        if (!IsSync)
        {
            return Errno.None;
        }

        _done.WaitForCompletion();
        return Complete();
    }

    // iomap_dio_done: the last reference.
    internal void Put()
    {
        if (Interlocked.Decrement(ref _refs) != 0)
        {
            return;
        }

        if (IsSync)
        {
            // Only wake the submitter: it completes in its own task.
            _done.Complete();
            return;
        }

        if (Ops.CompleteInTask || Context.InTask && !Context.BioInAtomic)
        {
            Ops.CountCompletion(queued: false);
            Complete();
            return;
        }

        var needsWork = (Flags & DioFlags.CompWork) != 0 || Error != Errno.None
            || ((Flags & DioFlags.NeedSync) != 0 && (Flags & DioFlags.WriteThrough) == 0)
            || (IsWrite && HasCachedPages());
        if (!needsWork)
        {
            Ops.CountCompletion(queued: false);
            Complete();
            return;
        }

        Ops.CountCompletion(queued: true);
        Ops.QueueCompletion(new WorkStruct(_ => Complete()));
    }

    // iomap_dio_complete: the filesystem's end-io, page-cache invalidation, sync, and the caller told.
    private Errno Complete()
    {
        var err = Error;
        if (err == Errno.None && IsWrite && (Flags & (DioFlags.Unwritten | DioFlags.ExtendSize)) != 0)
        {
            err = Ops.WriteEndIo(Offset, Length);
        }

        // Invalidation sleeps: an inline completion in an interrupt was chosen because no page
        // was cached, and a page read in since is the race the kernel only warns about.
        if (IsWrite && Context.InTask && !Context.BioInAtomic && HasCachedPages())
        {
            // Pages read in while the write was in flight would hide it (kiocb_invalidate_post_direct_write).
            Inode.Mapping.InvalidatePagesRange(Offset, Offset + Length);
        }

        if (err == Errno.None && (Flags & DioFlags.NeedSync) != 0)
        {
            err = Ops.SyncRange(Offset, Offset + Length, dataOnly: (Flags & DioFlags.SyncAll) == 0);
        }

        Ops.DioEnd(this);
        _onComplete?.Invoke(err, err == Errno.None ? Length : 0);
        return err;
    }

    private bool HasCachedPages()
    {
        var first = (ulong)(Offset / Mm.Folio.PageSize);
        var last = (ulong)((Offset + Length - 1) / Mm.Folio.PageSize);
        var at = first;
        return Inode.Mapping.Pages.Find(ref at, last) is not null;
    }
}
