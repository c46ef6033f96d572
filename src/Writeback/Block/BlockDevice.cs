using System.Threading;

namespace Writeback.Block;

/// <summary>A block device: bios in, completions out through <see cref="Bio.Endio"/>.</summary>
/// <remarks>Kernel: struct block_device with its request queue; submit_bio_noacct() checks the
/// range and splits a bio that exceeds the queue limits into a chain (bio_split_to_limits()),
/// each piece going to the driver. Subclasses model the driver and the hardware.</remarks>
public abstract class BlockDevice
{
    /// <summary>Bytes per sector: the unit of <see cref="Bio.Sector"/>.</summary>
    public const int SectorSize = 512;

    /// <summary>Creates a device of <paramref name="capacitySectors"/> sectors.</summary>
    protected BlockDevice(BlockLayer layer, string name, ulong capacitySectors, QueueLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Layer = layer;
        Name = name;
        CapacitySectors = capacitySectors;
        Limits = limits ?? new QueueLimits();
        Limits.Validate();
    }

    /// <summary>The block layer of the machine the device is attached to.</summary>
    public BlockLayer Layer { get; }

    /// <summary>The device's name (e.g. "nvme0n1").</summary>
    public string Name { get; }

    /// <summary>Size in sectors.</summary>
    public ulong CapacitySectors { get; }

    /// <summary>Request limits.</summary>
    public QueueLimits Limits { get; }

    /// <summary>Whether the device has a volatile write cache (BLK_FEAT_WRITE_CACHE): writes are
    /// durable only after a flush or with FUA.</summary>
    public virtual bool HasWriteCache => false;

    /// <summary>Whether the device honours FUA (BLK_FEAT_FUA).</summary>
    public virtual bool SupportsFua => false;

    /// <summary>Bios the device has been handed, after splitting.</summary>
    public long Submitted => Interlocked.Read(ref _submitted);

    /// <summary>Checks the bio's range, splits it to the limits and hands each piece to the driver.</summary>
    /// <remarks>Kernel: submit_bio_noacct(). A bio beyond the device completes with
    /// <see cref="BlkStatus.IoErr"/> at once, in the submitter's context.</remarks>
    internal void Submit(Bio bio)
    {
        var sectors = (ulong)bio.Size / SectorSize;
        if (bio.Size % SectorSize != 0 || bio.Sector > CapacitySectors || sectors > CapacitySectors - bio.Sector)
        {
            bio.Status = BlkStatus.IoErr;
            bio.Endio();
            return;
        }

        while (SplitPoint(bio) is var split && split > 0)
        {
            var front = bio.Split(split);
            Dispatch(front);
        }

        Dispatch(bio);
    }

    /// <summary>Waits for a polled bio and completes it in the caller's context (bio_poll()).</summary>
    /// <exception cref="NotSupportedException">The device does not poll.</exception>
    protected internal virtual void Poll(Bio bio) => throw new NotSupportedException($"{Name} does not support polled I/O");

    /// <summary>Starts the I/O of one bio that fits the limits; the device calls
    /// <see cref="Bio.Endio"/> when it completes, in whatever context it completes in.</summary>
    protected abstract void SubmitToDriver(Bio bio);

    private long _submitted;

    private void Dispatch(Bio bio)
    {
        bio.SubmittedNs = Layer.Machine.NowNs;
        Interlocked.Increment(ref _submitted);
        SubmitToDriver(bio);
    }

    /// <summary>Sectors to split off the front so that it fits the limits, or 0 if the bio fits.</summary>
    private int SplitPoint(Bio bio)
    {
        var bytes = 0;
        var segments = 0;
        foreach (var v in bio.Vecs)
        {
            if (segments + 1 > Limits.MaxSegments)
            {
                break;
            }

            bytes += v.Length;
            segments++;
        }

        var maxBytes = Limits.MaxSectors * SectorSize;
        var fit = Math.Min(bytes, maxBytes);
        if (fit >= bio.Size)
        {
            return 0;
        }

        return Math.Max(1, fit / SectorSize);
    }
}
