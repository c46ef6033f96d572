namespace Writeback.Block;

/// <summary>What one request to a device may carry; larger bios are split to fit.</summary>
/// <remarks>Kernel: struct queue_limits (max_sectors, max_segments); bio_split_to_limits().</remarks>
public sealed record QueueLimits
{
    /// <summary>Most 512-byte sectors per request (max_sectors_kb × 2); 2560 (1280 KiB) by default.</summary>
    public int MaxSectors { get; init; } = 2560;

    /// <summary>Most segments per request; 128 by default.</summary>
    public int MaxSegments { get; init; } = 128;

    /// <summary>Throws naming the first invalid limit.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxSectors, 8, nameof(MaxSectors));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxSegments, 1, nameof(MaxSegments));
    }
}
