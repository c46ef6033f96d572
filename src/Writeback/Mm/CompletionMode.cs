namespace Writeback.Mm;

/// <summary>The design under study: where writeback completions run.</summary>
public enum CompletionMode
{
    /// <summary>As the kernel works today: bios complete in interrupt context, so every
    /// i_pages acquisition disables interrupts.</summary>
    Irq,

    /// <summary>BIO_COMPLETE_IN_TASK: writeback bios are flagged, completions run in task
    /// context, and i_pages is a plain spinlock.</summary>
    Task,
}
