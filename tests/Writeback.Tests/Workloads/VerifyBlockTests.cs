using System.Buffers.Binary;
using Writeback.Workloads.Running;

namespace Writeback.Tests.Workloads;

/// <summary>Verify blocks: a block filled for (offset, generation) checks clean, and every kind of
/// damage — payload, header, another offset's block, a stale write, a zeroed block — is reported
/// naming the offset; the CRC is CRC-32C.</summary>
public class VerifyBlockTests
{
    [Theory]
    [InlineData(VerifyBlock.HeaderSize)]
    [InlineData(25)]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(512)]
    [InlineData(4096)]
    [InlineData(4100)]
    [InlineData(65535)]
    [InlineData(1 << 20)]
    public void FillThenCheck_Passes_ForAnySizeFromTheHeaderUp(int size)
    {
        var block = Filled(size, offset: 3L << 20, generation: 7);
        Assert.Null(VerifyBlock.Check(block, 3L << 20, 7));
    }

    [Theory]
    [InlineData(0L, 0L)]
    [InlineData(0L, 1L)]
    [InlineData(4096L, 1L)]
    [InlineData(long.MaxValue - 4095, long.MaxValue)]
    public void FillThenCheck_Passes_ForAnyOffsetAndGeneration(long offset, long generation) =>
        Assert.Null(VerifyBlock.Check(Filled(4096, offset, generation), offset, generation));

    [Fact]
    public void Fill_IsDeterministic_AndDependsOnOffsetAndGeneration()
    {
        var a = Filled(4096, 8192, 3);
        Assert.Equal(a, Filled(4096, 8192, 3));
        Assert.NotEqual(a.AsSpan(VerifyBlock.HeaderSize).ToArray(), Filled(4096, 12288, 3).AsSpan(VerifyBlock.HeaderSize).ToArray());
        Assert.NotEqual(a.AsSpan(VerifyBlock.HeaderSize).ToArray(), Filled(4096, 8192, 4).AsSpan(VerifyBlock.HeaderSize).ToArray());
    }

    [Fact]
    public void Fill_WritesTheWholeBlock()
    {
        // A block that started as 0xff everywhere keeps no 0xff run the size of a word.
        var block = new byte[4100];
        block.AsSpan().Fill(0xff);
        VerifyBlock.Fill(block, 4096, 2);
        Assert.Null(VerifyBlock.Check(block, 4096, 2));
        var allOnes = new byte[8];
        allOnes.AsSpan().Fill(0xff);
        Assert.Equal(-1, block.AsSpan().IndexOf(allOnes));
    }

    [Theory]
    [InlineData(VerifyBlock.HeaderSize)]
    [InlineData(100)]
    [InlineData(4095)]
    [InlineData(4099)]
    public void AFlippedPayloadByte_IsACrcMismatch_NamingTheOffset(int at)
    {
        var block = Filled(4100, offset: 40960, generation: 1);
        block[at] ^= 0x01;
        var problem = VerifyBlock.Check(block, 40960, 1);
        Assert.NotNull(problem);
        Assert.StartsWith("crc32c mismatch at offset 40960", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(4, "crc32c mismatch at offset 40960")] // the stored crc
    [InlineData(7, "crc32c mismatch at offset 40960")]
    [InlineData(8, "crc32c mismatch at offset 40960")] // the stored offset
    [InlineData(16, "crc32c mismatch at offset 40960")] // the stored generation
    [InlineData(23, "crc32c mismatch at offset 40960")]
    [InlineData(0, "bad magic")] // the magic
    [InlineData(3, "bad magic")]
    public void AFlippedHeaderByte_IsReported_NamingTheOffset(int at, string expected)
    {
        var block = Filled(4096, offset: 40960, generation: 1);
        block[at] ^= 0x80;
        var problem = VerifyBlock.Check(block, 40960, 1);
        Assert.NotNull(problem);
        Assert.StartsWith(expected, problem, StringComparison.Ordinal);
        Assert.Contains("offset 40960", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void ABlockWrittenForAnotherOffset_IsReported_NamingBothOffsets()
    {
        var block = Filled(4096, offset: 8192, generation: 1);
        Assert.Equal("block at offset 4096 holds the write for offset 8192", VerifyBlock.Check(block, 4096, 1));
    }

    [Fact]
    public void AStaleGeneration_IsReported_NamingTheOffsetAndBothGenerations()
    {
        var block = Filled(4096, offset: 4096, generation: 1);
        Assert.Equal("block at offset 4096 holds write generation 1, expected 2 (a stale write)", VerifyBlock.Check(block, 4096, 2));
    }

    [Fact]
    public void ANewerGenerationThanExpected_IsAlsoReported()
    {
        var problem = VerifyBlock.Check(Filled(4096, offset: 0, generation: 5), 0, 4);
        Assert.NotNull(problem);
        Assert.Contains("generation 5, expected 4", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void AnAllZeroBlock_HasBadMagic_NamingTheOffset()
    {
        var problem = VerifyBlock.Check(new byte[4096], 12288, 1);
        Assert.NotNull(problem);
        Assert.StartsWith("bad magic 0x00000000 at offset 12288", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void TheHeader_HoldsMagicOffsetAndGeneration_LittleEndian()
    {
        var block = Filled(512, offset: 0x1234_5000, generation: 9);
        Assert.Equal(0x76736277u, BinaryPrimitives.ReadUInt32LittleEndian(block));
        Assert.Equal(0x1234_5000L, BinaryPrimitives.ReadInt64LittleEndian(block.AsSpan(8)));
        Assert.Equal(9L, BinaryPrimitives.ReadInt64LittleEndian(block.AsSpan(16)));
        Assert.Equal(Writeback.Lib.Crc32c.Compute(block.AsSpan(8)), BinaryPrimitives.ReadUInt32LittleEndian(block.AsSpan(4)));
    }

    private static byte[] Filled(int size, long offset, long generation)
    {
        var block = new byte[size];
        VerifyBlock.Fill(block, offset, generation);
        return block;
    }
}
