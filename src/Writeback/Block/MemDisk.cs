namespace Writeback.Block;

/// <summary>A <see cref="SimulatedDisk"/> whose media is memory.</summary>
public sealed class MemDisk : SimulatedDisk
{
    private readonly DiskImage _image;

    /// <summary>A zeroed disk of <see cref="DiskOptions.CapacityBytes"/>, or one holding a copy of
    /// <paramref name="image"/> (whose size then wins).</summary>
    public MemDisk(BlockLayer layer, DiskOptions? options = null, DiskImage? image = null)
        : this(Media(options, image), layer, options ?? new DiskOptions())
    {
    }

    private MemDisk(DiskImage media, BlockLayer layer, DiskOptions options)
        : base(layer, options with { CapacityBytes = media.CapacityBytes }, media) => _image = media;

    /// <summary>A copy of what is on the media now: what would survive a power cut without a torn cache.</summary>
    public DiskImage DurableImage() => WithMediaStill(_image.Clone);

    private static DiskImage Media(DiskOptions? options, DiskImage? image) =>
        image?.Clone() ?? new DiskImage((options ?? new DiskOptions()).CapacityBytes);
}
