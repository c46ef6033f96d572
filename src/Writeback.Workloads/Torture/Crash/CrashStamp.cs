using System.Buffers.Binary;

namespace Writeback.Workloads.Torture.Crash;

/// <summary>Self-describing 512-byte sectors: each names its file, its sector in the file and the
/// write (generation) that put it there, with a filler derived from those, so that any sector
/// read back from a crash image says whose data it is, or that it is torn or foreign.</summary>
internal static class CrashStamp
{
    /// <summary>Bytes per stamped sector.</summary>
    public const int SectorSize = 512;

    private const uint Magic = 0x48535243; // "CRSH"

    /// <summary>Writes the stamp of (<paramref name="fileId"/>, <paramref name="fileSector"/>, <paramref name="gen"/>).</summary>
    public static void Write(Span<byte> sector, int fileId, long fileSector, int gen)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(sector, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(sector[4..], fileId);
        BinaryPrimitives.WriteInt64LittleEndian(sector[8..], fileSector);
        BinaryPrimitives.WriteInt32LittleEndian(sector[16..], gen);
        for (var i = 20; i < SectorSize; i++)
        {
            sector[i] = Filler(fileId, fileSector, gen, i);
        }
    }

    /// <summary>Stamped data for sectors [<paramref name="pos"/>, +<paramref name="length"/>) of a file.</summary>
    public static byte[] Data(int fileId, long pos, long length, int gen)
    {
        var data = new byte[length];
        for (var i = 0; i < length / SectorSize; i++)
        {
            Write(data.AsSpan(i * SectorSize, SectorSize), fileId, (pos / SectorSize) + i, gen);
        }

        return data;
    }

    /// <summary>What <paramref name="sector"/> holds: zeros, a whole stamp, or garbage.</summary>
    public static CrashSector Read(ReadOnlySpan<byte> sector)
    {
        if (!sector.ContainsAnyExcept((byte)0))
        {
            return new CrashSector(CrashSectorKind.Zeros, 0, 0, 0);
        }

        if (sector.Length < SectorSize || BinaryPrimitives.ReadUInt32LittleEndian(sector) != Magic)
        {
            return new CrashSector(CrashSectorKind.Garbage, 0, 0, 0);
        }

        var fileId = BinaryPrimitives.ReadInt32LittleEndian(sector[4..]);
        var fileSector = BinaryPrimitives.ReadInt64LittleEndian(sector[8..]);
        var gen = BinaryPrimitives.ReadInt32LittleEndian(sector[16..]);
        for (var i = 20; i < SectorSize; i++)
        {
            if (sector[i] != Filler(fileId, fileSector, gen, i))
            {
                return new CrashSector(CrashSectorKind.Garbage, fileId, fileSector, gen);
            }
        }

        return new CrashSector(CrashSectorKind.Stamp, fileId, fileSector, gen);
    }

    private static byte Filler(int fileId, long fileSector, int gen, int i) => (byte)((fileId * 31) + (fileSector * 7) + (gen * 13) + i);
}
