using Writeback.Kernel;

namespace Writeback.Mm;

/// <summary>What a writeback pass is asked to do, and where its iteration stands.</summary>
/// <remarks>Kernel: struct writeback_control. Ranges are in bytes, inclusive, as in the kernel.</remarks>
public sealed class WritebackControl
{
    /// <summary>Folios taken per lookup batch (PAGEVEC_SIZE).</summary>
    public const int BatchSize = 31;

    /// <summary>Background or integrity.</summary>
    public WbSyncMode SyncMode { get; init; }

    /// <summary>Pages still to write (the budget); decremented as folios are written.</summary>
    public long NrToWrite { get; set; } = long.MaxValue;

    /// <summary>First byte of the range.</summary>
    public long RangeStart { get; init; }

    /// <summary>Last byte of the range.</summary>
    public long RangeEnd { get; init; } = long.MaxValue;

    /// <summary>Resume from the mapping's writeback index and go to the end (no wrap within a call).</summary>
    public bool RangeCyclic { get; init; }

    /// <summary>Use TOWRITE tagging even in a background pass (tagged_writepages).</summary>
    public bool TaggedWritepages { get; init; }

    /// <summary>Folios written by this pass.</summary>
    public long Written { get; internal set; }

    internal ulong Index { get; set; }

    internal Errno SavedError { get; set; }

    internal Queue<Folio> Batch { get; } = new();

    /// <summary>The tag the pass walks (wbc_to_tag()).</summary>
    internal Lib.XaMark Tag => SyncMode == WbSyncMode.All || TaggedWritepages ? PageCacheTag.ToWrite : PageCacheTag.Dirty;

    /// <summary>The last page index of the pass (wbc_end()).</summary>
    internal ulong EndIndex => RangeCyclic ? ulong.MaxValue : (ulong)RangeEnd / Folio.PageSize;
}
