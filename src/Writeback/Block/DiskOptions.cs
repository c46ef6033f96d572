namespace Writeback.Block;

/// <summary>The shape and behaviour of a simulated disk.</summary>
public sealed record DiskOptions
{
    /// <summary>The device name.</summary>
    public string Name { get; init; } = "nvme0n1";

    /// <summary>Capacity in bytes (a multiple of 512); 1 GiB by default. A <see cref="FileDisk"/>
    /// opening an existing image takes the image's size instead.</summary>
    public long CapacityBytes { get; init; } = 1L << 30;

    /// <summary>Request size limits.</summary>
    public QueueLimits Limits { get; init; } = new();

    /// <summary>Hardware queues; 0 for one per CPU (CPU n maps to queue n mod count).</summary>
    public int HardwareQueues { get; init; }

    /// <summary>Requests in flight per hardware queue (tags); a submitter that finds none free sleeps.</summary>
    public int QueueDepth { get; init; } = 64;

    /// <summary>Which CPU takes the completion interrupt.</summary>
    public IrqAffinity Affinity { get; init; } = IrqAffinity.Submitter;

    /// <summary>The CPU for <see cref="IrqAffinity.Fixed"/>.</summary>
    public int IrqCpu { get; init; }

    /// <summary>Whether the interrupt completes bios itself or through BLOCK_SOFTIRQ.</summary>
    public CompletionPath Completion { get; init; } = CompletionPath.Hardirq;

    /// <summary>Service times.</summary>
    public LatencyModel Latency { get; init; } = new();

    /// <summary>Whether the device has a volatile write cache (writes are durable only after a flush or with FUA).</summary>
    public bool WriteCache { get; init; } = true;

    /// <summary>Whether the device honours FUA writes (BLK_FEAT_FUA); without it, a write that
    /// must be durable needs a cache flush after it.</summary>
    public bool Fua { get; init; } = true;

    /// <summary>Cached bytes beyond which the device destages its oldest writes to the media on its own.</summary>
    public long WriteCacheBytes { get; init; } = 64L << 20;

    /// <summary>Throws naming the first invalid option.</summary>
    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(Name, nameof(Name));
        if (CapacityBytes <= 0 || CapacityBytes % BlockDevice.SectorSize != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(CapacityBytes), CapacityBytes, "must be a positive multiple of 512");
        }

        ArgumentNullException.ThrowIfNull(Limits, nameof(Limits));
        Limits.Validate();
        ArgumentOutOfRangeException.ThrowIfNegative(HardwareQueues, nameof(HardwareQueues));
        ArgumentOutOfRangeException.ThrowIfLessThan(QueueDepth, 1, nameof(QueueDepth));
        ArgumentOutOfRangeException.ThrowIfNegative(IrqCpu, nameof(IrqCpu));
        ArgumentNullException.ThrowIfNull(Latency, nameof(Latency));
        Latency.Validate();
        ArgumentOutOfRangeException.ThrowIfNegative(WriteCacheBytes, nameof(WriteCacheBytes));
    }
}
