using System.Text;
using Writeback.Lib;

namespace Writeback.Tests.Lib;

/// <summary>CRC-32C against its published check values and a bitwise reference.</summary>
public class Crc32cTests
{
    [Theory]
    [InlineData("", 0x00000000u)]
    [InlineData("123456789", 0xE3069283u)]
    [InlineData("a", 0xC1D04330u)]
    [InlineData("The quick brown fox jumps over the lazy dog", 0x22620404u)]
    public void Compute_MatchesTheCheckValues(string text, uint expected) =>
        Assert.Equal(expected, Crc32c.Compute(Encoding.ASCII.GetBytes(text)));

    [Fact]
    public void Compute_Of32Zeros_IsTheRfc3720Value() => Assert.Equal(0x8A9136AAu, Crc32c.Compute(new byte[32]));

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(9)]
    [InlineData(4096)]
    [InlineData(4099)]
    public void Compute_AgreesWithABitwiseReference_AndUpdateComposes(int length)
    {
        var data = Enumerable.Range(0, length).Select(i => (byte)((i * 131) + 7)).ToArray();
        Assert.Equal(Reference(data), Crc32c.Compute(data));
        var split = length / 3;
        Assert.Equal(Crc32c.Compute(data), ~Crc32c.Update(Crc32c.Update(uint.MaxValue, data.AsSpan(0, split)), data.AsSpan(split)));
    }

    private static uint Reference(byte[] data)
    {
        var crc = uint.MaxValue;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
            }
        }

        return ~crc;
    }
}
