using System.Buffers.Binary;
using Writeback.Kernel;
using Writeback.Lib;

namespace Writeback.Fs.Format;

/// <summary>Block 0 of a Writeback filesystem: what it is, which format version, its geometry,
/// and a CRC-32C over all of it.</summary>
/// <remarks>Little-endian, 128 bytes used: magic, version, block size, the <see cref="FsGeometry"/>
/// fields, inode size, root inode, a UUID, and the checksum (computed with its own field zero),
/// as XFS keeps sb_crc.</remarks>
public sealed record Superblock
{
    /// <summary>"WBFS" in the first four bytes.</summary>
    public const uint Magic = 0x53464257;

    /// <summary>The format version this code writes and reads.</summary>
    public const uint CurrentVersion = 1;

    private const int ChecksumOffset = 124;

    /// <summary>The format version.</summary>
    public uint Version { get; init; } = CurrentVersion;

    /// <summary>The layout.</summary>
    public required FsGeometry Geometry { get; init; }

    /// <summary>The root directory's inode number.</summary>
    public ulong RootInode { get; init; } = 1;

    /// <summary>The filesystem's identity.</summary>
    public Guid Uuid { get; init; }

    /// <summary>Encodes the superblock, checksum included, into the start of <paramref name="block"/>.</summary>
    public void Encode(Span<byte> block)
    {
        if (block.Length < 128)
        {
            throw new ArgumentException("superblock: the block is smaller than 128 bytes", nameof(block));
        }

        block.Clear();
        var g = Geometry;
        BinaryPrimitives.WriteUInt32LittleEndian(block, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(block[4..], Version);
        BinaryPrimitives.WriteInt32LittleEndian(block[8..], g.BlockSize);
        BinaryPrimitives.WriteInt32LittleEndian(block[12..], g.InodeSize);
        BinaryPrimitives.WriteUInt64LittleEndian(block[16..], g.Blocks);
        BinaryPrimitives.WriteUInt64LittleEndian(block[24..], g.LogStart);
        BinaryPrimitives.WriteUInt64LittleEndian(block[32..], g.LogBlocks);
        BinaryPrimitives.WriteUInt64LittleEndian(block[40..], g.BitmapStart);
        BinaryPrimitives.WriteUInt64LittleEndian(block[48..], g.BitmapBlocks);
        BinaryPrimitives.WriteUInt64LittleEndian(block[56..], g.InodeStart);
        BinaryPrimitives.WriteUInt64LittleEndian(block[64..], g.InodeBlocks);
        BinaryPrimitives.WriteUInt64LittleEndian(block[72..], RootInode);
        Uuid.TryWriteBytes(block[80..96]);
        BinaryPrimitives.WriteUInt32LittleEndian(block[ChecksumOffset..], Checksum(block));
    }

    /// <summary>Decodes the superblock at the start of <paramref name="block"/>, or says what is wrong with it.</summary>
    /// <returns><see cref="Errno.None"/> and the superblock; <see cref="Errno.EINVAL"/> for a
    /// device that does not hold a Writeback filesystem or holds a newer version;
    /// <see cref="Errno.EBADMSG"/> for a checksum mismatch; <see cref="Errno.EUCLEAN"/> for a
    /// geometry that cannot be right. <paramref name="problem"/> says which, in words.</returns>
    public static Errno Decode(ReadOnlySpan<byte> block, out Superblock? superblock, out string? problem)
    {
        superblock = null;
        problem = null;
        if (block.Length < 128 || BinaryPrimitives.ReadUInt32LittleEndian(block) != Magic)
        {
            problem = block.Length < 4
                ? "not a Writeback filesystem: the block is too short"
                : $"not a Writeback filesystem: magic 0x{BinaryPrimitives.ReadUInt32LittleEndian(block):X8}, expected 0x{Magic:X8}";
            return Errno.EINVAL;
        }

        var version = BinaryPrimitives.ReadUInt32LittleEndian(block[4..]);
        if (version > CurrentVersion)
        {
            problem = $"filesystem format version {version} is newer than this tool's {CurrentVersion}";
            return Errno.EINVAL;
        }

        var stored = BinaryPrimitives.ReadUInt32LittleEndian(block[ChecksumOffset..]);
        var computed = Checksum(block);
        if (stored != computed)
        {
            problem = $"superblock checksum mismatch: stored 0x{stored:X8}, computed 0x{computed:X8}";
            return Errno.EBADMSG;
        }

        var g = new FsGeometry
        {
            BlockSize = BinaryPrimitives.ReadInt32LittleEndian(block[8..]),
            InodeSize = BinaryPrimitives.ReadInt32LittleEndian(block[12..]),
            Blocks = BinaryPrimitives.ReadUInt64LittleEndian(block[16..]),
            LogStart = BinaryPrimitives.ReadUInt64LittleEndian(block[24..]),
            LogBlocks = BinaryPrimitives.ReadUInt64LittleEndian(block[32..]),
            BitmapStart = BinaryPrimitives.ReadUInt64LittleEndian(block[40..]),
            BitmapBlocks = BinaryPrimitives.ReadUInt64LittleEndian(block[48..]),
            InodeStart = BinaryPrimitives.ReadUInt64LittleEndian(block[56..]),
            InodeBlocks = BinaryPrimitives.ReadUInt64LittleEndian(block[64..]),
        };
        if (g.BitmapStart != g.LogStart + g.LogBlocks || g.InodeStart != g.BitmapStart + g.BitmapBlocks || g.DataStart > g.Blocks || g.LogStart != 1)
        {
            problem = $"superblock geometry is inconsistent: log {g.LogStart}+{g.LogBlocks}, bitmap {g.BitmapStart}+{g.BitmapBlocks}, inodes {g.InodeStart}+{g.InodeBlocks}, {g.Blocks} blocks";
            return Errno.EUCLEAN;
        }

        superblock = new Superblock
        {
            Version = version,
            Geometry = g,
            RootInode = BinaryPrimitives.ReadUInt64LittleEndian(block[72..]),
            Uuid = new Guid(block[80..96]),
        };
        return Errno.None;
    }

    private static uint Checksum(ReadOnlySpan<byte> block)
    {
        Span<byte> copy = stackalloc byte[128];
        block[..128].CopyTo(copy);
        copy.Slice(ChecksumOffset, 4).Clear();
        return Crc32c.Compute(copy);
    }
}
