namespace Writeback.Block;

/// <summary>A <see cref="SimulatedDisk"/> whose media is a host file, so that what reached the
/// media survives the process: open the same path again to find it.</summary>
/// <remarks>A new (empty) file is sized to <see cref="DiskOptions.CapacityBytes"/>; an existing one
/// keeps its size. A flush makes the file durable on the host too (fsync). Dispose to close it.</remarks>
public sealed class FileDisk : SimulatedDisk, IDisposable
{
    private readonly FileMedia _file;

    /// <summary>Opens (or creates) the disk image at <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">The file exists but is not a whole number of sectors.</exception>
    public FileDisk(BlockLayer layer, string path, DiskOptions? options = null)
        : this(layer, Checked(layer, options ?? new DiskOptions()), path)
    {
    }

    // The options are checked before the file is opened, so bad options leave no file behind.
    private FileDisk(BlockLayer layer, DiskOptions options, string path)
        : this(layer, options, new FileMedia(path, options.CapacityBytes)) => Path = path;

    private FileDisk(BlockLayer layer, DiskOptions options, FileMedia media)
        : base(layer, options, media) => _file = media;

    /// <summary>The image file.</summary>
    public string Path { get; } = "";

    /// <summary>Closes the image file.</summary>
    public void Dispose() => _file.Dispose();
}
