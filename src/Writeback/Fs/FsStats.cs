using System.Threading;
using Writeback.Kernel;
using Writeback.Lib;

namespace Writeback.Fs;

/// <summary>Counters of a mounted filesystem's I/O paths, per completion mode the figures the
/// design comparison is about.</summary>
public sealed class FsStats
{
    private readonly PerCpu<LatencyHistogram> _bufferedCompletion;
    private readonly PerCpu<LatencyHistogram> _directCompletion;

    internal FsStats(Machine machine)
    {
        _bufferedCompletion = new PerCpu<LatencyHistogram>(machine, _ => new LatencyHistogram());
        _directCompletion = new PerCpu<LatencyHistogram>(machine, _ => new LatencyHistogram());
    }

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

    /// <summary>Completion latency of buffered writeback: from the device completing an ioend's bio
    /// to the end of its completion work (writeback ended on its folios), wherever that ran — in the
    /// interrupt, the xfs-conv worker, or the task-completion worker. Modelled or measured as the
    /// machine's clock is. Merged ioends count once, timed from their first bio.</summary>
    public LatencyHistogram BufferedCompletionLatency => Merge(_bufferedCompletion);

    /// <summary>Completion latency of direct I/O: from the device completing its last bio to the end
    /// of its completion (the filesystem's end-io, sync, and the caller told).</summary>
    public LatencyHistogram DirectCompletionLatency => Merge(_directCompletion);

    /// <summary>Forgets the latency histograms and zeroes the counters, so that figures cover what
    /// follows. Call when no I/O is completing.</summary>
    public void Reset()
    {
        IoendsSubmitted = IoendsNeedingWork = IoendListAdds = ConvWorkItems = DioWorkItems = DioInline = 0;
        for (var cpu = 0; cpu < _bufferedCompletion.Count; cpu++)
        {
            _bufferedCompletion[cpu].Clear();
            _directCompletion[cpu].Clear();
        }
    }

    internal void RecordCompletion(bool direct, long ns) => (direct ? _directCompletion : _bufferedCompletion).Raw.Record(ns);

    private static LatencyHistogram Merge(PerCpu<LatencyHistogram> perCpu)
    {
        var sum = new LatencyHistogram();
        for (var cpu = 0; cpu < perCpu.Count; cpu++)
        {
            sum.Add(perCpu[cpu]);
        }

        return sum;
    }
}
