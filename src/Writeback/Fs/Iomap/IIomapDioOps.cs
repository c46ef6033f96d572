using Writeback.Kernel;

namespace Writeback.Fs.Iomap;

/// <summary>A filesystem's part in direct I/O: its completion work and where deferred
/// completions run.</summary>
/// <remarks>Kernel: struct iomap_dio_ops (end_io → xfs_dio_write_end_io), the superblock's
/// s_dio_done_wq, and generic_write_sync for O_DSYNC writes that could not be written through.</remarks>
public interface IIomapDioOps
{
    /// <summary>Whether direct-I/O bios are flagged to complete in task context (task-completion mode).</summary>
    bool CompleteInTask { get; }

    /// <summary>Queues a completion that needs task context (IRQ-completion mode).</summary>
    void QueueCompletion(WorkStruct work);

    /// <summary>A direct write's metadata work once its data is on disk: convert unwritten
    /// blocks, raise i_size and the on-disk size. Context: Process context. May sleep.</summary>
    Errno WriteEndIo(long offset, long length);

    /// <summary>Makes bytes [<paramref name="start"/>, <paramref name="end"/>) durable (fsync of the
    /// range; <paramref name="dataOnly"/> for O_DSYNC). Context: Process context. May sleep.</summary>
    Errno SyncRange(long start, long end, bool dataOnly);

    /// <summary>Counts a completion that ran where the last bio completed, or was queued.</summary>
    void CountCompletion(bool queued);

    /// <summary>inode_dio_begin / inode_dio_end: truncate waits for direct I/O in flight.</summary>
    void DioBegin();

    /// <summary>inode_dio_end: <paramref name="dio"/> has completed (its caller is about to be told);
    /// the filesystem may record its completion latency from <see cref="DirectIo.DeviceDoneNs"/>.</summary>
    void DioEnd(DirectIo dio);
}
