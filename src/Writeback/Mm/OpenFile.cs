using System.Threading;
using Writeback.Kernel;

namespace Writeback.Mm;

/// <summary>An open file's view of a mapping's writeback errors: its own sample of the error
/// sequence, taken at open, so that each opener sees each error once.</summary>
/// <remarks>Kernel: struct file's f_wb_err and f_lock; file_check_and_advance_wb_err() and
/// file_write_and_wait_range().</remarks>
public sealed class OpenFile
{
    private static readonly LockClassKey s_lockKey = LockClassKey.ForName("&f->f_lock");
    private readonly Writeback.Kernel.SpinLock _lock = new(s_lockKey);
    private uint _wbErr;

    /// <summary>Opens <paramref name="mapping"/>: samples its error sequence (an error nobody has seen yet will be reported to this file).</summary>
    public OpenFile(AddressSpace mapping)
    {
        ArgumentNullException.ThrowIfNull(mapping);
        Mapping = mapping;
        _wbErr = mapping.WbErr.Sample();
    }

    /// <summary>The mapping.</summary>
    public AddressSpace Mapping { get; }

    /// <summary>The writeback error this file has not yet been told of, once; clears the legacy bits.</summary>
    /// <remarks>Kernel: file_check_and_advance_wb_err(). Context: Process context.</remarks>
    public Errno CheckAndAdvanceWbErr()
    {
        var err = Errno.None;
        if (Mapping.WbErr.Check(_wbErr) != Errno.None)
        {
            _lock.Lock();
            err = Mapping.WbErr.CheckAndAdvance(ref _wbErr);
            _lock.Unlock();
            if (err != Errno.None && Mapping.Cache.Machine.Options.InjectedBugs.HasFlag(InjectedBug.ReportErrorToOneFile)
                && Interlocked.Exchange(ref Mapping.ErrorClaimedAt, _wbErr) == _wbErr)
            {
                // The broken rule: another file already consumed this error.
                err = Errno.None;
            }
        }

        Mapping.ClearLegacyErrors();
        return err;
    }

    /// <summary>fsync's data part: write back and wait for the byte range, then report this file's unseen error.</summary>
    /// <remarks>Kernel: file_write_and_wait_range(). Context: Process context. May sleep.</remarks>
    public Errno WriteAndWaitRange(long start, long end)
    {
        var err = Mapping.FdatawriteRange(start, end);
        if (err != Errno.EIO)
        {
            Mapping.WaitRange(start, end);
        }

        var err2 = CheckAndAdvanceWbErr();
        return err != Errno.None ? err : err2;
    }
}
