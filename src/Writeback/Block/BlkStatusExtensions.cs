using Writeback.Kernel;

namespace Writeback.Block;

/// <summary>Conversions of <see cref="BlkStatus"/>.</summary>
public static class BlkStatusExtensions
{
    /// <summary>The errno a status reports to the layers above (blk_status_to_errno()).</summary>
    /// <remarks>Model: the errno set is the one <see cref="Errno"/> has; statuses whose kernel
    /// errno is not in it (ETIMEDOUT, ENOLINK, EREMOTEIO, ENODATA) report EIO.</remarks>
    public static Errno ToErrno(this BlkStatus status) => status switch
    {
        BlkStatus.Ok => Errno.None,
        BlkStatus.NotSupp => Errno.EOPNOTSUPP,
        BlkStatus.NoSpc => Errno.ENOSPC,
        BlkStatus.Resource => Errno.ENOMEM,
        BlkStatus.Again => Errno.EAGAIN,
        _ => Errno.EIO,
    };
}
