namespace Writeback.Fs.Iomap;

/// <summary>An open file's readahead window: it starts small on a miss and doubles while the
/// misses are sequential, up to a maximum.</summary>
/// <remarks>Kernel: struct file_ra_state and the on-demand readahead of mm/readahead.c, reduced
/// to its window arithmetic: synchronous, no async marker. Not thread-safe (one per open file,
/// as the kernel's is per struct file).</remarks>
public sealed class ReadaheadState
{
    /// <summary>The first window, in folios.</summary>
    public const int InitialWindow = 4;

    /// <summary>The largest window, in folios (128 KiB of 4 KiB folios, the kernel's default read_ahead_kb).</summary>
    public const int MaxWindow = 32;

    private ulong _next = ulong.MaxValue;

    /// <summary>The current window, in folios.</summary>
    public int Window { get; private set; } = InitialWindow;

    /// <summary>Folios read by readahead since the file was opened.</summary>
    public long Misses { get; private set; }

    /// <summary>A miss at page <paramref name="index"/>: returns how many folios (of
    /// <paramref name="folioPages"/> pages) to read from there.</summary>
    public int Miss(ulong index, int folioPages = 1)
    {
        Window = index == _next ? Math.Min(MaxWindow, Window * 2) : InitialWindow;
        _next = index + ((ulong)Window * (ulong)folioPages);
        Misses++;
        return Window;
    }

    /// <summary>A hit at <paramref name="index"/>: a sequential reader keeps its window.</summary>
    public void Hit(ulong index)
    {
        if (index >= _next)
        {
            _next = index + 1;
        }
    }
}
