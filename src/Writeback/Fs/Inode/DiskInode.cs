using System.Buffers.Binary;
using Writeback.Kernel;
using Writeback.Lib;

namespace Writeback.Fs.Inode;

/// <summary>An inode as stored in the inode table: type and permissions, link count, size,
/// times, and up to <see cref="MaxExtents"/> extents inline; a CRC-32C covers it.</summary>
/// <remarks>Layout (little-endian, 256 bytes): magic "WI", mode, link count, generation, size,
/// atime, mtime, ctime (ns), extent count, 8 extents of 24 bytes, checksum at the end. An
/// all-zero record is a free inode. Model: more than 8 extents need extent blocks, which are
/// not there yet.</remarks>
public sealed record DiskInode
{
    /// <summary>Extents that fit in the inode.</summary>
    public const int MaxExtents = 8;

    /// <summary>Bytes per on-disk inode this format uses.</summary>
    public const int Size = 256;

    private const ushort Magic = 0x4957; // "WI"
    private const int ExtentsOffset = 56;
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

    /// <summary>S_IFDIR.</summary>
    public bool IsDirectory => (Mode & 0xF000) == 0x4000;

    /// <summary>Writes the record into <paramref name="slot"/> (<see cref="Size"/> bytes).</summary>
    public void Encode(Span<byte> slot)
    {
        if (Extents.Count > MaxExtents)
        {
            throw new InvalidOperationException($"inode {Number}: {Extents.Count} extents do not fit the inode (at most {MaxExtents})");
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
        for (var i = 0; i < Extents.Count; i++)
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
        if (BinaryPrimitives.ReadUInt16LittleEndian(slot) != Magic || BinaryPrimitives.ReadUInt64LittleEndian(slot[48..]) != number || count < 0 || count > MaxExtents)
        {
            problem = $"inode {number}: bad magic, number or extent count";
            return Errno.EUCLEAN;
        }

        var extents = new Extent[count];
        for (var i = 0; i < count; i++)
        {
            var at = slot[(ExtentsOffset + (24 * i))..];
            extents[i] = new Extent(BinaryPrimitives.ReadUInt64LittleEndian(at), BinaryPrimitives.ReadUInt64LittleEndian(at[8..]), BinaryPrimitives.ReadUInt32LittleEndian(at[16..]), (ExtentState)at[20]);
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
        };
        return Errno.None;
    }

    /// <inheritdoc/>
    public bool Equals(DiskInode? other) =>
        other is not null && Number == other.Number && Mode == other.Mode && Nlink == other.Nlink && Generation == other.Generation
        && FileSize == other.FileSize && AtimeNs == other.AtimeNs && MtimeNs == other.MtimeNs && CtimeNs == other.CtimeNs
        && Extents.SequenceEqual(other.Extents);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Number, Mode, Nlink, FileSize, Extents.Count);
}
