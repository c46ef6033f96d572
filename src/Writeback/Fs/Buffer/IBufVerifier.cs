using Writeback.Kernel;

namespace Writeback.Fs.Buffer;

/// <summary>Checks a metadata buffer after it is read and stamps it before it is written.</summary>
/// <remarks>Kernel: struct xfs_buf_ops (verify_read, verify_write).</remarks>
public interface IBufVerifier
{
    /// <summary>A name for reports (xfs_buf_ops.name).</summary>
    string Name { get; }

    /// <summary>Checks the bytes read; <see cref="Errno.EBADMSG"/> for a bad checksum,
    /// <see cref="Errno.EUCLEAN"/> for bad contents.</summary>
    Errno VerifyRead(XfsBuf buffer);

    /// <summary>Checks and stamps (e.g. the checksum) the bytes about to be written.</summary>
    Errno VerifyWrite(XfsBuf buffer);
}
