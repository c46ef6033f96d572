namespace Writeback.Mm;

/// <summary>Whether writeback must write everything it was asked to.</summary>
/// <remarks>Kernel: enum writeback_sync_modes.</remarks>
public enum WbSyncMode
{
    /// <summary>WB_SYNC_NONE: background writeback; skip folios under writeback, stop at the budget or the first error.</summary>
    None,

    /// <summary>WB_SYNC_ALL: data integrity; wait on folios under writeback and write every tagged folio.</summary>
    All,
}
