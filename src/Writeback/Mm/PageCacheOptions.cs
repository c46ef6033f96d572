namespace Writeback.Mm;

/// <summary>How a machine's page cache behaves.</summary>
public sealed record PageCacheOptions
{
    /// <summary>The completion design; it sets the i_pages lock flavour.</summary>
    public CompletionMode Mode { get; init; } = CompletionMode.Irq;

    /// <summary>Takes i_pages as a plain lock even in <see cref="CompletionMode.Irq"/>: the
    /// misconfiguration that shows why the lock is irq-safe today (lockdep reports the
    /// inconsistent lock state; without lockdep the machine detects the self-deadlock).</summary>
    public bool ForcePlainLock { get; init; }

    /// <summary>Memory the page cache may use (bytes); beyond it, allocation reclaims clean folios
    /// and, when everything is dirty, waits for writeback. 256 MiB by default.</summary>
    public long MemoryLimitBytes { get; init; } = 256L << 20;

    /// <summary>Dirty memory, as a percentage of the limit, above which the flusher writes in the
    /// background (vm.dirty_background_ratio); used when <see cref="DirtyBackgroundBytes"/> is 0.</summary>
    public int DirtyBackgroundRatio { get; init; } = 10;

    /// <summary>Dirty memory above which writers are throttled (vm.dirty_ratio); used when <see cref="DirtyBytes"/> is 0.</summary>
    public int DirtyRatio { get; init; } = 20;

    /// <summary>vm.dirty_background_bytes; 0 to use the ratio.</summary>
    public long DirtyBackgroundBytes { get; init; }

    /// <summary>vm.dirty_bytes; 0 to use the ratio.</summary>
    public long DirtyBytes { get; init; }

    /// <summary>Age at which dirty data is written by the periodic flush (vm.dirty_expire_centisecs).</summary>
    public int DirtyExpireCentisecs { get; init; } = 3000;

    /// <summary>Period of the flusher's wake-ups (vm.dirty_writeback_centisecs); 0 turns periodic writeback off.</summary>
    public int DirtyWritebackCentisecs { get; init; } = 500;

    /// <summary>The longest single pause of a throttled writer (MAX_PAUSE), in milliseconds.</summary>
    public int MaxPauseMs { get; init; } = 200;

    /// <summary>Throws naming the first invalid option.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MemoryLimitBytes, (long)Folio.PageSize * 16, nameof(MemoryLimitBytes));
        ArgumentOutOfRangeException.ThrowIfNegative(DirtyBackgroundRatio, nameof(DirtyBackgroundRatio));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(DirtyBackgroundRatio, 100, nameof(DirtyBackgroundRatio));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(DirtyRatio, nameof(DirtyRatio));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(DirtyRatio, 100, nameof(DirtyRatio));
        ArgumentOutOfRangeException.ThrowIfNegative(DirtyBackgroundBytes, nameof(DirtyBackgroundBytes));
        ArgumentOutOfRangeException.ThrowIfNegative(DirtyBytes, nameof(DirtyBytes));
        ArgumentOutOfRangeException.ThrowIfNegative(DirtyExpireCentisecs, nameof(DirtyExpireCentisecs));
        ArgumentOutOfRangeException.ThrowIfNegative(DirtyWritebackCentisecs, nameof(DirtyWritebackCentisecs));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxPauseMs, nameof(MaxPauseMs));
    }
}
