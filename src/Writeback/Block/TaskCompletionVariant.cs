namespace Writeback.Block;

/// <summary>Which version of the BIO_COMPLETE_IN_TASK facility defers flagged completions.</summary>
/// <remarks>See ARCHITECTURE.md "Task-completion variants" and KERNEL-REFERENCE.md §1.3–§1.9.</remarks>
public enum TaskCompletionVariant
{
    /// <summary>As merged for 7.3: per-CPU FIFO bio list under local_irq_save, a work item that
    /// knows its CPU queued on empty → non-empty, and three hotplug hooks (online: enable and
    /// requeue; down-prep: disable the work synchronously; dead: drain).</summary>
    Merged,

    /// <summary>RFC v4: per-CPU FIFO bio list under a local lock (interrupts off), a worker that
    /// finds its batch with this_cpu_ptr(), and only a dead-CPU drain.</summary>
    V4,

    /// <summary>RFC v5: per-CPU lock-free list, a delayed work item with a one-jiffy delay on a
    /// dedicated workqueue, and the dead-CPU drain.</summary>
    V5,

    /// <summary>Chinner's XFS inodegc pattern: per-CPU lock-free list plus a cpumask of CPUs with
    /// work, the work queued on the local CPU, no hotplug hooks; "flush all" walks the mask.</summary>
    Cpumask,
}
