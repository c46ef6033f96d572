namespace Writeback.Kernel;

/// <summary>Deliberate breakages of rules the writeback stack must keep, one flag each: the
/// negative controls that prove a torture run can fail. Never set outside such a proof.</summary>
/// <remarks>Model: no kernel counterpart. Each flag is read at the one place whose rule it breaks.</remarks>
[Flags]
public enum InjectedBug
{
    /// <summary>Every rule kept.</summary>
    None = 0,

    /// <summary>An ioend's folios end writeback before its unwritten extents are converted and its
    /// size logged: a crash or a racing read can then see written data the metadata does not cover.</summary>
    EndWritebackBeforeConversion = 1,

    /// <summary>Data-integrity writeback (WB_SYNC_ALL) does not tag the range TOWRITE first, so it
    /// walks an empty tag and fsync writes nothing.</summary>
    ForgetToWriteTag = 2,

    /// <summary>The dead-CPU drain of a task-completion batch drops the first bio it finds: that
    /// bio never completes.</summary>
    LoseDeferredBioOnOffline = 4,

    /// <summary>fsync and fdatasync skip the cache flush, so data acknowledged as durable may sit
    /// in the device's volatile cache when the power goes.</summary>
    SkipFsyncFlush = 8,

    /// <summary>A writeback error is reported to the first open file that checks and to no other
    /// (the pre-errseq AS_EIO behaviour).</summary>
    ReportErrorToOneFile = 16,
}
