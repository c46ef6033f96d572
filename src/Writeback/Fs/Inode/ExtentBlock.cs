using System.Buffers.Binary;
using Writeback.Kernel;
using Writeback.Lib;

namespace Writeback.Fs.Inode;

/// <summary>The on-disk format of a block of extents that belongs to one inode.</summary>
/// <remarks>Layout (little-endian): magic "WBXT", the number of extents in the block, the owning
/// inode, the block's index in the inode's list, then 24-byte extents from byte 32, and a
/// CRC-32C in the last 4 bytes. Kernel: the role of a bmap btree leaf (struct xfs_btree_block
/// with its owner and CRC), one level deep.</remarks>
public static class ExtentBlock
{
    private const uint Magic = 0x54584257; // "WBXT"
    private const int HeaderSize = 32;

    /// <summary>Extents a block of <paramref name="blockSize"/> bytes holds.</summary>
    public static int PerBlock(int blockSize) => (blockSize - HeaderSize - 4) / 24;

    /// <summary>Writes <paramref name="extents"/> as block <paramref name="index"/> of inode <paramref name="owner"/>.</summary>
    public static void Encode(Span<byte> block, ulong owner, int index, ReadOnlySpan<Extent> extents)
    {
        if (extents.Length > PerBlock(block.Length))
        {
            throw new ArgumentOutOfRangeException(nameof(extents), extents.Length, $"an extent block of {block.Length} bytes holds {PerBlock(block.Length)} extents");
        }

        block.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(block, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(block[4..], extents.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(block[8..], owner);
        BinaryPrimitives.WriteInt32LittleEndian(block[16..], index);
        for (var i = 0; i < extents.Length; i++)
        {
            var at = block[(HeaderSize + (24 * i))..];
            BinaryPrimitives.WriteUInt64LittleEndian(at, extents[i].FileBlock);
            BinaryPrimitives.WriteUInt64LittleEndian(at[8..], extents[i].DiskBlock);
            BinaryPrimitives.WriteUInt32LittleEndian(at[16..], extents[i].Length);
            at[20] = (byte)extents[i].State;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(block[^4..], Crc32c.Compute(block[..^4]));
    }

    /// <summary>Reads block <paramref name="index"/> of inode <paramref name="owner"/>'s extents into
    /// <paramref name="into"/>: <see cref="Errno.EBADMSG"/> for a checksum mismatch,
    /// <see cref="Errno.EUCLEAN"/> for a block that is not this inode's, with <paramref name="problem"/> saying which.</summary>
    public static Errno Decode(ReadOnlySpan<byte> block, ulong owner, int index, List<Extent> into, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(into);
        problem = null;
        if (BinaryPrimitives.ReadUInt32LittleEndian(block[^4..]) != Crc32c.Compute(block[..^4]))
        {
            problem = $"inode {owner}: extent block {index}: checksum mismatch";
            return Errno.EBADMSG;
        }

        var count = BinaryPrimitives.ReadInt32LittleEndian(block[4..]);
        if (BinaryPrimitives.ReadUInt32LittleEndian(block) != Magic || BinaryPrimitives.ReadUInt64LittleEndian(block[8..]) != owner
            || BinaryPrimitives.ReadInt32LittleEndian(block[16..]) != index || count < 1 || count > PerBlock(block.Length))
        {
            problem = $"inode {owner}: extent block {index}: bad magic, owner, index or count";
            return Errno.EUCLEAN;
        }

        for (var i = 0; i < count; i++)
        {
            var at = block[(HeaderSize + (24 * i))..];
            var e = new Extent(BinaryPrimitives.ReadUInt64LittleEndian(at), BinaryPrimitives.ReadUInt64LittleEndian(at[8..]), BinaryPrimitives.ReadUInt32LittleEndian(at[16..]), (ExtentState)at[20]);
            if (!e.IsAllocated || e.Length == 0)
            {
                problem = $"inode {owner}: extent block {index}: extent {i} has state {at[20]} or no blocks";
                return Errno.EUCLEAN;
            }

            into.Add(e);
        }

        return Errno.None;
    }
}
