namespace Writeback.Block;

/// <summary>Where a device's interrupt completes its requests.</summary>
public enum CompletionPath
{
    /// <summary>bio_endio() in the hardirq handler, as NVMe completes.</summary>
    Hardirq,

    /// <summary>The handler queues the request on the CPU's done list and raises BLOCK_SOFTIRQ,
    /// whose handler calls bio_endio() (blk_mq_complete_request_remote() / blk_done_softirq()).</summary>
    Softirq,
}
