using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Writeback.Fs;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Workloads.Torture;

/// <summary>The checks, which raise a violation, and the seeded draws.</summary>
public sealed partial class OracleRun
{
    private const long MaxFileBytes = OracleModel.MaxFileBytes;

    private void CheckRead(OracleFile s, FsFile f, long pos, int len) => _bytesChecked += OracleChecks.CheckRead(s, f, pos, len);

    private static void CheckSize(OracleFile s)
    {
        OracleChecks.CheckSize(s, s.Buffered, string.Empty);
        OracleChecks.CheckSize(s, s.Direct, " (direct handle)");
    }

    private void CheckFsck(string when) => OracleChecks.CheckFsck(_fs, when);

    private void CheckInvariants() => OracleChecks.CheckInvariants(_cache);

    private void CheckUnmounted(PageCache cache) => OracleChecks.CheckUnmounted(cache, _layer);

    private static void Expect(Errno err, string what) => OracleChecks.Expect(err, what);

    private static void ExpectError(Errno expected, Errno err, string what) => OracleChecks.ExpectError(expected, err, what);

    private static void ExpectBytes(long expected, long done, string what) => OracleChecks.ExpectBytes(expected, done, what);

    [DoesNotReturn]
    private static void Fail(string what) => OracleChecks.Fail(what);

    // Mostly small, sometimes up to 256 KiB.
    private int RandomLength() => Next(10) switch
    {
        < 4 => 1 + Next(2 * _blockSize),
        < 7 => 1 + Next(16 << 10),
        < 9 => 1 + Next(64 << 10),
        _ => 1 + Next(256 << 10),
    };

    private int AlignedLength() => Math.Max(_blockSize, (RandomLength() + _blockSize - 1) / _blockSize * _blockSize);

    // Anywhere in the file's range, near its EOF, or near a block boundary; the range ends by MaxFileBytes.
    private long RandomPos(OracleFile s, long len, bool aligned)
    {
        var maxStart = MaxFileBytes - len;
        long pos = Next(10) switch
        {
            < 4 => NextLong(maxStart + 1),
            < 7 => s.Size + NextLong(4L * _blockSize) - (2L * _blockSize),
            < 9 => (NextLong(MaxFileBytes / _blockSize) * _blockSize) + Next(7) - 3,
            _ => NextLong(Math.Max(1, s.Size)),
        };
        pos = Math.Clamp(pos, 0, maxStart);
        return aligned ? pos / _blockSize * _blockSize : pos;
    }

    private byte[] RandomBytes(int len)
    {
        var data = new byte[len];
        for (var i = 0; i < len; i += 8)
        {
            var bits = _rng.NextUInt64();
            for (var j = i; j < Math.Min(len, i + 8); j++)
            {
                data[j] = (byte)bits;
                bits >>= 8;
            }
        }

        return data;
    }

    private int Next(int bound) => (int)_rng.NextInt64(bound);

    private long NextLong(long bound) => _rng.NextInt64(bound);

    private bool Chance(int percent) => Next(100) < percent;
}
