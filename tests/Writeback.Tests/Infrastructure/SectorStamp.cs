using System.Buffers.Binary;

namespace Writeback.Tests.Infrastructure;

/// <summary>Self-describing 512-byte sectors for crash tests: each names its file, its offset in
/// the file and the write that put it there, with a filler derived from those, so that a sector
/// read back from a crash image tells whose data it is, or that it is torn or foreign.</summary>
public static class SectorStamp
{
    /// <summary>Bytes per stamped sector.</summary>
    public const int SectorSize = 512;

    /// <summary>Writes the stamp of (<paramref name="fileId"/>, <paramref name="fileSector"/>,
    /// <paramref name="gen"/>) under <paramref name="magic"/> (one per test class).</summary>
    public static void Write(Span<byte> sector, uint magic, int fileId, long fileSector, int gen)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(sector, magic);
        BinaryPrimitives.WriteInt32LittleEndian(sector[4..], fileId);
        BinaryPrimitives.WriteInt64LittleEndian(sector[8..], fileSector);
        BinaryPrimitives.WriteInt32LittleEndian(sector[16..], gen);
        for (var i = 20; i < SectorSize; i++)
        {
            sector[i] = Filler(fileId, fileSector, gen, i);
        }
    }

    /// <summary>What <paramref name="sector"/> holds: zeros, a whole stamp under <paramref name="magic"/>, or garbage.</summary>
    public static StampedSector Read(ReadOnlySpan<byte> sector, uint magic)
    {
        if (!sector.ContainsAnyExcept((byte)0))
        {
            return new StampedSector(SectorKind.Zeros, 0, 0, 0);
        }

        if (sector.Length < SectorSize || BinaryPrimitives.ReadUInt32LittleEndian(sector) != magic)
        {
            return new StampedSector(SectorKind.Garbage, 0, 0, 0);
        }

        var fileId = BinaryPrimitives.ReadInt32LittleEndian(sector[4..]);
        var fileSector = BinaryPrimitives.ReadInt64LittleEndian(sector[8..]);
        var gen = BinaryPrimitives.ReadInt32LittleEndian(sector[16..]);
        for (var i = 20; i < SectorSize; i++)
        {
            if (sector[i] != Filler(fileId, fileSector, gen, i))
            {
                return new StampedSector(SectorKind.Garbage, fileId, fileSector, gen);
            }
        }

        return new StampedSector(SectorKind.Stamp, fileId, fileSector, gen);
    }

    private static byte Filler(int fileId, long fileSector, int gen, int i) => (byte)((fileId * 31) + (fileSector * 7) + (gen * 13) + i);
}
