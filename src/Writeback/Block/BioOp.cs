namespace Writeback.Block;

/// <summary>What a bio asks the device to do.</summary>
/// <remarks>Kernel: enum req_op (REQ_OP_READ, REQ_OP_WRITE, REQ_OP_FLUSH).</remarks>
public enum BioOp
{
    /// <summary>Read sectors into the bio's segments.</summary>
    Read,

    /// <summary>Write the bio's segments to sectors.</summary>
    Write,

    /// <summary>Make everything the device completed before it durable (an empty cache flush).</summary>
    Flush,
}
