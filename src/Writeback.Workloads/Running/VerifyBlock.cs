using System.Buffers.Binary;
using Writeback.Lib;

namespace Writeback.Workloads.Running;

/// <summary>fio-style verify blocks: a header (magic, crc32c of the rest of the block, file offset,
/// write generation) followed by a payload generated from the offset and generation, so that a
/// block read back proves where it was written and which write it holds.</summary>
/// <remarks>fio: verify=crc32c writes a verify_header (magic, len, rand_seed, crc) into each
/// block and checks it on read-back; this layout is the model's own, not fio's bytes.</remarks>
internal static class VerifyBlock
{
    public const int HeaderSize = 24;
    private const uint Magic = 0x76736277; // "wbsv"

    /// <summary>Fills <paramref name="block"/> for the write of <paramref name="generation"/> at <paramref name="offset"/>.</summary>
    public static void Fill(Span<byte> block, long offset, long generation)
    {
        var state = (ulong)offset * 0x9E3779B97F4A7C15UL ^ (ulong)generation * 0xC2B2AE3D27D4EB4FUL;
        Span<byte> word = stackalloc byte[8];
        for (var i = HeaderSize; i < block.Length; i += 8)
        {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            var n = Math.Min(8, block.Length - i);
            BinaryPrimitives.WriteUInt64LittleEndian(word, state);
            word[..n].CopyTo(block[i..]);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(block, Magic);
        BinaryPrimitives.WriteInt64LittleEndian(block[8..], offset);
        BinaryPrimitives.WriteInt64LittleEndian(block[16..], generation);
        BinaryPrimitives.WriteUInt32LittleEndian(block[4..], Crc32c.Compute(block[8..]));
    }

    /// <summary>Checks a block read back; returns null if it is the write of <paramref name="generation"/>
    /// at <paramref name="offset"/>, otherwise what is wrong.</summary>
    public static string? Check(ReadOnlySpan<byte> block, long offset, long generation)
    {
        if (BinaryPrimitives.ReadUInt32LittleEndian(block) != Magic)
        {
            return $"bad magic 0x{BinaryPrimitives.ReadUInt32LittleEndian(block):x8} at offset {offset} (the block holds no verify header)";
        }

        var crc = Crc32c.Compute(block[8..]);
        if (crc != BinaryPrimitives.ReadUInt32LittleEndian(block[4..]))
        {
            return $"crc32c mismatch at offset {offset}: header 0x{BinaryPrimitives.ReadUInt32LittleEndian(block[4..]):x8}, data 0x{crc:x8}";
        }

        var at = BinaryPrimitives.ReadInt64LittleEndian(block[8..]);
        var gen = BinaryPrimitives.ReadInt64LittleEndian(block[16..]);
        return at != offset ? $"block at offset {offset} holds the write for offset {at}"
            : gen != generation ? $"block at offset {offset} holds write generation {gen}, expected {generation} (a stale write)"
            : null;
    }
}
