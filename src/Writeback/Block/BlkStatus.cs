namespace Writeback.Block;

/// <summary>The status a bio completes with.</summary>
/// <remarks>Kernel: blk_status_t, BLK_STS_* in include/linux/blk_types.h; blk_status_to_errno()
/// maps them to errno values (see <see cref="BlkStatusExtensions.ToErrno"/>).</remarks>
public enum BlkStatus
{
    /// <summary>BLK_STS_OK.</summary>
    Ok = 0,

    /// <summary>BLK_STS_NOTSUPP: the operation is not supported (-EOPNOTSUPP).</summary>
    NotSupp,

    /// <summary>BLK_STS_TIMEOUT: the command timed out (-ETIMEDOUT, reported as -EIO here).</summary>
    Timeout,

    /// <summary>BLK_STS_NOSPC: the device is out of space (-ENOSPC).</summary>
    NoSpc,

    /// <summary>BLK_STS_TRANSPORT: a transport error (-ENOLINK, reported as -EIO here).</summary>
    Transport,

    /// <summary>BLK_STS_TARGET: a target error (-EREMOTEIO, reported as -EIO here).</summary>
    Target,

    /// <summary>BLK_STS_MEDIUM: a medium error (-ENODATA, reported as -EIO here).</summary>
    Medium,

    /// <summary>BLK_STS_RESOURCE: out of a resource (-ENOMEM).</summary>
    Resource,

    /// <summary>BLK_STS_AGAIN: try again, for non-blocking submission (-EAGAIN).</summary>
    Again,

    /// <summary>BLK_STS_IOERR: a generic I/O error (-EIO).</summary>
    IoErr,
}
