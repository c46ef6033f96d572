namespace Writeback.Block;

/// <summary>What a write-log entry records.</summary>
public enum WriteLogEntryKind
{
    /// <summary>A completed write.</summary>
    Write,

    /// <summary>A completed cache flush (an empty flush, or the preflush of a write).</summary>
    Flush,

    /// <summary>A mark the user put in the log.</summary>
    Mark,
}
