using System.Threading;

namespace Writeback.Fs;

/// <summary>Counters of a mounted filesystem's I/O paths, per completion mode the figures the
/// design comparison is about.</summary>
public sealed class FsStats
{
    internal long IoendsSubmitted;
    internal long IoendsNeedingWork;
    internal long IoendListAdds;
    internal long ConvWorkItems;
    internal long DioWorkItems;
    internal long DioInline;

    /// <summary>Writeback ioends submitted.</summary>
    public long Ioends => Interlocked.Read(ref IoendsSubmitted);

    /// <summary>Ioends whose completion needed a transaction (or, in IRQ mode, dropbehind invalidation).</summary>
    public long IoendsWithCompletionWork => Interlocked.Read(ref IoendsNeedingWork);

    /// <summary>Ioends put on an inode's ioend list (IRQ mode only).</summary>
    public long IoendListItems => Interlocked.Read(ref IoendListAdds);

    /// <summary>Work items queued on the "xfs-conv" completion workqueue (IRQ mode only).</summary>
    public long ConvWorkqueueItems => Interlocked.Read(ref ConvWorkItems);

    /// <summary>Direct I/O completions queued on the "dio" workqueue (IRQ mode only).</summary>
    public long DioWorkqueueItems => Interlocked.Read(ref DioWorkItems);

    /// <summary>Direct I/O completions run where the last bio completed.</summary>
    public long DioInlineCompletions => Interlocked.Read(ref DioInline);
}
