using System.Buffers.Binary;
using System.Numerics;

namespace Writeback.Lib;

/// <summary>CRC-32C (Castagnoli), the checksum of the kernel's crc32c() — used by XFS and ext4
/// metadata and by fio's verify=crc32c.</summary>
/// <remarks>Kernel: lib/crc32.c crc32c(), seeded with ~0 and inverted at the end by callers such
/// as XFS (xfs_start_cksum / xfs_end_cksum). Uses the CPU's CRC32C instruction through
/// <see cref="BitOperations.Crc32C(uint, ulong)"/> where the runtime has it, a table otherwise
/// (the runtime picks).</remarks>
public static class Crc32c
{
    /// <summary>The CRC-32C of <paramref name="data"/> (initial value ~0, final inversion): the
    /// standard check value of "123456789" is 0xE3069283.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(uint.MaxValue, data);

    /// <summary>Folds <paramref name="data"/> into a running, not yet inverted <paramref name="crc"/> (the kernel's crc32c(crc, p, len)).</summary>
    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        while (data.Length >= sizeof(ulong))
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[sizeof(ulong)..];
        }

        foreach (var b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }

        return crc;
    }
}
