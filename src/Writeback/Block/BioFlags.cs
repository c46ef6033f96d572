namespace Writeback.Block;

/// <summary>State flags of a bio.</summary>
/// <remarks>Kernel: the BIO_* bits of bi_flags (include/linux/blk_types.h).</remarks>
[Flags]
public enum BioFlags
{
    /// <summary>No flag.</summary>
    None = 0,

    /// <summary>BIO_CHAIN: other bios are chained to this one; it completes when its remaining count reaches zero.</summary>
    Chain = 1 << 0,

    /// <summary>BIO_COMPLETE_IN_TASK: the block layer guarantees that bi_end_io runs in task
    /// context; set by the submitter (or by the dynamic helper at completion time).</summary>
    CompleteInTask = 1 << 1,
}
