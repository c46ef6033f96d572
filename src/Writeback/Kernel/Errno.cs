namespace Writeback.Kernel;

/// <summary>Error numbers, as in include/uapi/asm-generic/errno-base.h and errno.h.</summary>
/// <remarks>The kernel returns them negated (-ENOMEM); the model keeps the positive number and
/// says "error" in the member that carries it. <see cref="None"/> is success.</remarks>
public enum Errno
{
    /// <summary>No error.</summary>
    None = 0,

    /// <summary>Operation not permitted.</summary>
    EPERM = 1,

    /// <summary>No such file or directory.</summary>
    ENOENT = 2,

    /// <summary>Interrupted system call.</summary>
    EINTR = 4,

    /// <summary>I/O error.</summary>
    EIO = 5,

    /// <summary>Bad file number.</summary>
    EBADF = 9,

    /// <summary>Try again.</summary>
    EAGAIN = 11,

    /// <summary>Out of memory.</summary>
    ENOMEM = 12,

    /// <summary>Device or resource busy.</summary>
    EBUSY = 16,

    /// <summary>File exists.</summary>
    EEXIST = 17,

    /// <summary>Not a directory.</summary>
    ENOTDIR = 20,

    /// <summary>Is a directory.</summary>
    EISDIR = 21,

    /// <summary>Invalid argument.</summary>
    EINVAL = 22,

    /// <summary>File too large.</summary>
    EFBIG = 27,

    /// <summary>No space left on device.</summary>
    ENOSPC = 28,

    /// <summary>File name too long.</summary>
    ENAMETOOLONG = 36,

    /// <summary>Directory not empty.</summary>
    ENOTEMPTY = 39,

    /// <summary>Not a data message: XFS's EFSBADCRC (a metadata checksum failed).</summary>
    EBADMSG = 74,

    /// <summary>Operation not supported.</summary>
    EOPNOTSUPP = 95,

    /// <summary>Structure needs cleaning: XFS's EFSCORRUPTED (metadata failed verification).</summary>
    EUCLEAN = 117,
}
