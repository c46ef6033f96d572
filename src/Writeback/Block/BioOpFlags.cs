namespace Writeback.Block;

/// <summary>Modifiers of a bio's operation.</summary>
/// <remarks>Kernel: the REQ_* flags of bi_opf (include/linux/blk_types.h).</remarks>
[Flags]
public enum BioOpFlags
{
    /// <summary>No modifier.</summary>
    None = 0,

    /// <summary>REQ_SYNC: someone waits for this I/O.</summary>
    Sync = 1 << 0,

    /// <summary>REQ_FUA: the write is durable when it completes.</summary>
    Fua = 1 << 1,

    /// <summary>REQ_PREFLUSH: flush the volatile cache before this write.</summary>
    Preflush = 1 << 2,

    /// <summary>REQ_META: filesystem metadata (the journal's and the metadata buffer cache's
    /// bios carry it, as XFS's log and buffer I/O do; a <see cref="FaultRule"/> can select on it).</summary>
    Meta = 1 << 3,

    /// <summary>REQ_POLLED: the submitter polls for completion instead of taking an interrupt.</summary>
    Polled = 1 << 4,
}
