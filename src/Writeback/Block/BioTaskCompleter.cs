using Writeback.Kernel;

namespace Writeback.Block;

/// <summary>One variant of the BIO_COMPLETE_IN_TASK facility: where bio_endio() puts a flagged
/// bio in atomic context, and how a worker gets it to task context.</summary>
internal abstract class BioTaskCompleter
{
    protected BioTaskCompleter(BlockLayer layer, Workqueue workqueue)
    {
        Layer = layer;
        Workqueue = workqueue;
    }

    public BlockLayer Layer { get; }

    public Workqueue Workqueue { get; }

    protected Machine Machine => Layer.Machine;

    /// <summary>Queues a flagged bio from the context bio_endio() found atomic.</summary>
    public abstract void Defer(Bio bio);

    /// <summary>Waits for every deferred bio queued so far.</summary>
    public virtual void FlushAll() => Workqueue.Flush();

    /// <summary>The facility's workqueue: bio_complete, per-CPU and usable under memory reclaim.</summary>
    protected static Workqueue AllocWorkqueue(BlockLayer layer) =>
        layer.Machine.AllocWorkqueue("bio_complete", WqFlags.MemReclaim | WqFlags.PerCpu);
}
