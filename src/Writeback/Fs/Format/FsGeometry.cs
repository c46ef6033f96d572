using Writeback.Block;

namespace Writeback.Fs.Format;

/// <summary>Where everything lives on a Writeback filesystem, in filesystem blocks.</summary>
/// <remarks>Block 0 holds the superblock; then the journal, the free-space bitmap (one bit per
/// block), the inode table, and data. mkfs computes it from the device size and the options.</remarks>
public sealed record FsGeometry
{
    /// <summary>Bytes per block (512 to 65536, a power of two).</summary>
    public required int BlockSize { get; init; }

    /// <summary>Blocks in the filesystem.</summary>
    public required ulong Blocks { get; init; }

    /// <summary>First block of the journal.</summary>
    public required ulong LogStart { get; init; }

    /// <summary>Blocks of the journal.</summary>
    public required ulong LogBlocks { get; init; }

    /// <summary>First block of the free-space bitmap.</summary>
    public required ulong BitmapStart { get; init; }

    /// <summary>Blocks of the free-space bitmap.</summary>
    public required ulong BitmapBlocks { get; init; }

    /// <summary>First block of the inode table.</summary>
    public required ulong InodeStart { get; init; }

    /// <summary>Blocks of the inode table.</summary>
    public required ulong InodeBlocks { get; init; }

    /// <summary>Bytes per on-disk inode.</summary>
    public required int InodeSize { get; init; }

    /// <summary>First block available for file data and directories.</summary>
    public ulong DataStart => InodeStart + InodeBlocks;

    /// <summary>Inodes the table holds.</summary>
    public ulong Inodes => InodeBlocks * (ulong)(BlockSize / InodeSize);

    /// <summary>The layout mkfs gives a device of <paramref name="deviceBytes"/> bytes.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The block size is not valid, or the device is too small for the metadata.</exception>
    public static FsGeometry For(long deviceBytes, int blockSize = 4096, ulong? logBlocks = null, int inodeSize = 256, ulong bytesPerInode = 16384)
    {
        if (blockSize < BlockDevice.SectorSize || blockSize > 65536 || (blockSize & (blockSize - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "mkfs: the block size must be a power of two from 512 to 65536");
        }

        if (inodeSize < 128 || inodeSize > blockSize || (inodeSize & (inodeSize - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(inodeSize), inodeSize, "mkfs: the inode size must be a power of two from 128 to the block size");
        }

        var blocks = (ulong)(deviceBytes / blockSize);
        var log = logBlocks ?? Math.Clamp(blocks / 64, 64, 32768);
        var bitmap = (blocks + ((ulong)blockSize * 8) - 1) / ((ulong)blockSize * 8);
        var inodes = Math.Max(64, (ulong)deviceBytes / bytesPerInode);
        var inodeBlocks = (inodes + (ulong)(blockSize / inodeSize) - 1) / (ulong)(blockSize / inodeSize);
        var metadata = 1 + log + bitmap + inodeBlocks;
        if (metadata + 16 > blocks)
        {
            throw new ArgumentOutOfRangeException(nameof(deviceBytes), deviceBytes, $"mkfs: a {deviceBytes}-byte device is too small: the metadata alone takes {metadata} of its {blocks} blocks of {blockSize} bytes");
        }

        return new FsGeometry
        {
            BlockSize = blockSize,
            Blocks = blocks,
            LogStart = 1,
            LogBlocks = log,
            BitmapStart = 1 + log,
            BitmapBlocks = bitmap,
            InodeStart = 1 + log + bitmap,
            InodeBlocks = inodeBlocks,
            InodeSize = inodeSize,
        };
    }
}
