namespace Writeback.Block;

/// <summary>The test bio_endio() uses to decide that a flagged bio must be deferred.</summary>
/// <remarks>KERNEL-REFERENCE.md §1.7.</remarks>
public enum DeferralDecision
{
    /// <summary>bio_in_atomic() (merged): defer unless the completion may sleep — any preempt
    /// count, interrupts off, an RCU read side, or a kernel without preempt counting.</summary>
    BioInAtomic,

    /// <summary>!in_task() (RFC v4): defer only from hardirq, NMI or softirq service; a task with
    /// interrupts off, bottom halves off or a spinlock held completes inline.</summary>
    NotInTask,
}
