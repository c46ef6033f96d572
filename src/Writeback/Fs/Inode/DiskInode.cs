using System.Buffers.Binary;
using Writeback.Kernel;
using Writeback.Lib;

namespace Writeback.Fs.Inode;

/// <summary>An inode as stored in the inode table: type and permissions, link count, size,
/// times, and its extents — up to <see cref="MaxExtents"/> inline, more in extent blocks that
/// the inode points to; a CRC-32C covers it.</summary>
/// <remarks>Layout (little-endian, 256 bytes): magic "WI", mode, link count, generation, extent
/// count, size, atime, mtime, ctime (ns), number, then either 8 extents of 24 bytes or (more
/// than 8 extents) up to <see cref="MaxExtentBlocks"/> extent-block numbers and their count,
/// checksum at the end. An all-zero record is a free inode. Kernel: XFS's extents-format data
/// fork and, beyond it, the btree format; the model's "btree" is one level of
/// <see cref="ExtentBlock"/>s, enough for thousands of extents. The <see cref="InodeTable"/>
/// reads and writes the extent blocks; this record holds the extents in memory either way.</remarks>
public sealed record DiskInode
{
    /// <summary>Extents that fit in the inode.</summary>
    public const int MaxExtents = 8;

    /// <summary>Extent blocks an inode can point to.</summary>
    public const int MaxExtentBlocks = 24;

    /// <summary>Bytes per on-disk inode this format uses.</summary>
    public const int Size = 256;

    private const ushort Magic = 0x4957; // "WI"
    private const int ExtentsOffset = 56;
    private const int BlockCountOffset = Size - 8;
    private const int ChecksumOffset = Size - 4;

    /// <summary>The inode number.</summary>
    public ulong Number { get; init; }

    /// <summary>File type and permission bits (S_IFREG | 0644, S_IFDIR | 0755).</summary>
    public ushort Mode { get; init; }

    /// <summary>Hard links.</summary>
    public uint Nlink { get; init; }

    /// <summary>Reuse counter of the inode number.</summary>
    public uint Generation { get; init; }

    /// <summary>The file size in bytes.</summary>
    public long FileSize { get; init; }

    /// <summary>Access time (ns).</summary>
    public long AtimeNs { get; init; }

    /// <summary>Modification time (ns).</summary>
    public long MtimeNs { get; init; }

    /// <summary>Change time (ns).</summary>
    public long CtimeNs { get; init; }

    /// <summary>The extents, in file order.</summary>
    public IReadOnlyList<Extent> Extents { get; init; } = [];

    /// <summary>The extent blocks holding <see cref="Extents"/> when there are more than
    /// <see cref="MaxExtents"/>; empty otherwise.</summary>
    public IReadOnlyList<ulong> ExtentBlocks { get; init; } = [];

    // The extent count the record holds: what the extent blocks must add up to.
    internal int StoredExtentCount { get; init; }

    /// <summary>S_IFDIR.</summary>
    public bool IsDirectory => (Mode & 0xF000) == 0x4000;

    /// <summary>Writes the record into <paramref name="slot"/> (<see cref="Size"/> bytes).</summary>
    public void Encode(Span<byte> slot)
    {
        var inline = Extents.Count <= MaxExtents;
        if (!inline && (ExtentBlocks.Count == 0 || ExtentBlocks.Count > MaxExtentBlocks))
        {
            throw new InvalidOperationException($"inode {Number}: {Extents.Count} extents need extent blocks (it has {ExtentBlocks.Count}, at most {MaxExtentBlocks})");
        }

        if (Extents.Any(e => !e.IsAllocated))
        {
            throw new InvalidOperationException($"inode {Number}: only written and unwritten extents are stored");
        }

        slot[..Size].Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(slot, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(slot[2..], Mode);
        BinaryPrimitives.WriteUInt32LittleEndian(slot[4..], Nlink);
        BinaryPrimitives.WriteUInt32LittleEndian(slot[8..], Generation);
        BinaryPrimitives.WriteInt32LittleEndian(slot[12..], Extents.Count);
        BinaryPrimitives.WriteInt64LittleEndian(slot[16..], FileSize);
        BinaryPrimitives.WriteInt64LittleEndian(slot[24..], AtimeNs);
        BinaryPrimitives.WriteInt64LittleEndian(slot[32..], MtimeNs);
        BinaryPrimitives.WriteInt64LittleEndian(slot[40..], CtimeNs);
        BinaryPrimitives.WriteUInt64LittleEndian(slot[48..], Number);
        for (var i = 0; !inline && i < ExtentBlocks.Count; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(slot[(ExtentsOffset + (8 * i))..], ExtentBlocks[i]);
        }

        BinaryPrimitives.WriteUInt16LittleEndian(slot[BlockCountOffset..], (ushort)(inline ? 0 : ExtentBlocks.Count));
        for (var i = 0; inline && i < Extents.Count; i++)
        {
            var e = Extents[i];
            var at = slot[(ExtentsOffset + (24 * i))..];
            BinaryPrimitives.WriteUInt64LittleEndian(at, e.FileBlock);
            BinaryPrimitives.WriteUInt64LittleEndian(at[8..], e.DiskBlock);
            BinaryPrimitives.WriteUInt32LittleEndian(at[16..], e.Length);
            at[20] = (byte)e.State;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(slot[ChecksumOffset..], Crc32c.Compute(slot[..ChecksumOffset]));
    }

    /// <summary>Reads the record of inode <paramref name="number"/>: null for a free (all-zero)
    /// slot; <see cref="Errno.EBADMSG"/> for a checksum mismatch, <see cref="Errno.EUCLEAN"/> for
    /// contents that cannot be right, with <paramref name="problem"/> saying which.</summary>
    public static Errno Decode(ReadOnlySpan<byte> slot, ulong number, out DiskInode? inode, out string? problem)
    {
        inode = null;
        problem = null;
        slot = slot[..Size];
        if (!slot.ContainsAnyExcept((byte)0))
        {
            return Errno.None;
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(slot[ChecksumOffset..]) != Crc32c.Compute(slot[..ChecksumOffset]))
        {
            problem = $"inode {number}: checksum mismatch";
            return Errno.EBADMSG;
        }

        var count = BinaryPrimitives.ReadInt32LittleEndian(slot[12..]);
        var blocks = BinaryPrimitives.ReadUInt16LittleEndian(slot[BlockCountOffset..]);
        if (BinaryPrimitives.ReadUInt16LittleEndian(slot) != Magic || BinaryPrimitives.ReadUInt64LittleEndian(slot[48..]) != number || count < 0
            || (count <= MaxExtents ? blocks != 0 : blocks is 0 or > MaxExtentBlocks))
        {
            problem = $"inode {number}: bad magic, number or extent count";
            return Errno.EUCLEAN;
        }

        var extentBlocks = new ulong[count <= MaxExtents ? 0 : blocks];
        for (var i = 0; i < extentBlocks.Length; i++)
        {
            extentBlocks[i] = BinaryPrimitives.ReadUInt64LittleEndian(slot[(ExtentsOffset + (8 * i))..]);
        }

        var extents = new Extent[count <= MaxExtents ? count : 0];
        for (var i = 0; i < extents.Length; i++)
        {
            var at = slot[(ExtentsOffset + (24 * i))..];
            extents[i] = new Extent(BinaryPrimitives.ReadUInt64LittleEndian(at), BinaryPrimitives.ReadUInt64LittleEndian(at[8..]), BinaryPrimitives.ReadUInt32LittleEndian(at[16..]), (ExtentState)at[20]);
            if (!extents[i].IsAllocated || extents[i].Length == 0)
            {
                problem = $"inode {number}: extent {i} has state {at[20]} or no blocks";
                return Errno.EUCLEAN;
            }
        }

        inode = new DiskInode
        {
            Number = number,
            Mode = BinaryPrimitives.ReadUInt16LittleEndian(slot[2..]),
            Nlink = BinaryPrimitives.ReadUInt32LittleEndian(slot[4..]),
            Generation = BinaryPrimitives.ReadUInt32LittleEndian(slot[8..]),
            FileSize = BinaryPrimitives.ReadInt64LittleEndian(slot[16..]),
            AtimeNs = BinaryPrimitives.ReadInt64LittleEndian(slot[24..]),
            MtimeNs = BinaryPrimitives.ReadInt64LittleEndian(slot[32..]),
            CtimeNs = BinaryPrimitives.ReadInt64LittleEndian(slot[40..]),
            Extents = extents,
            ExtentBlocks = extentBlocks,
            StoredExtentCount = count,
        };
        return Errno.None;
    }

    /// <inheritdoc/>
    public bool Equals(DiskInode? other) =>
        other is not null && Number == other.Number && Mode == other.Mode && Nlink == other.Nlink && Generation == other.Generation
        && FileSize == other.FileSize && AtimeNs == other.AtimeNs && MtimeNs == other.MtimeNs && CtimeNs == other.CtimeNs
        && Extents.SequenceEqual(other.Extents) && ExtentBlocks.SequenceEqual(other.ExtentBlocks);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Number, Mode, Nlink, FileSize, Extents.Count);
}
