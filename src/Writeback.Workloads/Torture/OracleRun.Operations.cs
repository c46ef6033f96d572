using Writeback.Fs;
using Writeback.Kernel;

namespace Writeback.Workloads.Torture;

/// <summary>The data operations: reads and writes of every kind, truncate, fallocate, punch
/// hole, and the classic mix's step.</summary>
public sealed partial class OracleRun
{
    // The original fsx mix: its draws are those of the fsx oracle before it moved here, so a
    // seed replays the same sequence.
    private void Step()
    {
        var slot = _model.At(Next(Files));
        var pick = Next(100);
        switch (pick)
        {
            case < 18:
                BufferedWrite(slot, dontcache: false);
                break;
            case < 23:
                BufferedWrite(slot, dontcache: true);
                break;
            case < 39:
                BufferedRead(slot);
                break;
            case < 47:
                DirectWrite(slot);
                break;
            case < 50:
                DirectWriteAsync(slot);
                break;
            case < 56:
                DirectRead(slot);
                break;
            case < 62:
                Truncate(slot);
                break;
            case < 67:
                Fallocate(slot);
                break;
            case < 73:
                PunchHole(slot);
                break;
            case < 76:
                Fsync(slot, dataOnly: false);
                break;
            case < 79:
                Fsync(slot, dataOnly: true);
                break;
            case < 86:
                Reopen(slot);
                break;
            case < 91:
                DropCaches();
                break;
            case < 96:
                Sync();
                break;
            case < 98:
                ReadWholeFile(slot);
                break;
            default:
                Remount();
                break;
        }
    }

    private void BufferedWrite(OracleFile s, bool dontcache)
    {
        var len = RandomLength();
        var pos = RandomPos(s, len, aligned: false);
        var data = RandomBytes(len);
        var f = Buffered(s);
        Record($"{(dontcache ? "dontcache write" : "write")} {s.Label} [{pos}, {pos + len}) len {len} (size {s.Size})");
        var err = f.Write(pos, data, out var written, dontcache);
        Expect(err, "the write");
        ExpectBytes(len, written, "the write");
        ModelWrite(s, pos, data);
        _bufferedBytesWritten += len;
    }

    private void BufferedRead(OracleFile s)
    {
        var len = RandomLength();
        var pos = Chance(15) ? s.Size + Next(3 * _blockSize) : RandomPos(s, len, aligned: false);
        Record($"read {s.Label} [{pos}, {pos + len}) (size {s.Size})");
        CheckRead(s, Buffered(s), pos, len);
    }

    private void DirectWrite(OracleFile s)
    {
        var len = AlignedLength();
        var pos = RandomPos(s, len, aligned: true);
        var data = RandomBytes(len);
        var f = Direct(s);
        Record($"direct write {s.Label} [{pos}, {pos + len}) (size {s.Size}){FlagText(f)}");
        var err = f.Write(pos, data, out var written);
        Expect(err, "the direct write");
        ExpectBytes(len, written, "the direct write");
        ModelWrite(s, pos, data);
    }

    // One or two asynchronous direct writes to disjoint ranges, in flight together; both are
    // waited for before the next step.
    private void DirectWriteAsync(OracleFile s)
    {
        var f = Direct(s);
        var ranges = new List<(long Pos, byte[] Data)>();
        var count = Chance(40) ? 2 : 1;
        while (ranges.Count < count)
        {
            var len = AlignedLength();
            var pos = RandomPos(s, len, aligned: true);
            if (ranges.TrueForAll(r => pos + len <= r.Pos || r.Pos + r.Data.Length <= pos))
            {
                ranges.Add((pos, RandomBytes(len)));
            }
        }

        var done = new Completion[count];
        var results = new (Errno Error, long Bytes)[count];
        for (var i = 0; i < count; i++)
        {
            var (pos, data) = ranges[i];
            var index = i;
            done[i] = new Completion();
            Record($"async direct write {s.Label} [{pos}, {pos + data.Length}) (size {s.Size}){FlagText(f)}");
            var err = f.WriteDirectAsync(pos, data, (e, n) =>
            {
                results[index] = (e, n);
                done[index].Complete();
            });
            Expect(err, "the asynchronous direct write's submission");
        }

        for (var i = 0; i < count; i++)
        {
            done[i].WaitForCompletion();
            Expect(results[i].Error, "the asynchronous direct write");
            ExpectBytes(ranges[i].Data.Length, results[i].Bytes, "the asynchronous direct write");
            ModelWrite(s, ranges[i].Pos, ranges[i].Data);
        }
    }

    private void DirectRead(OracleFile s)
    {
        var len = AlignedLength();
        var pos = Chance(15) ? (s.Size / _blockSize * _blockSize) + (Next(3) * _blockSize) : RandomPos(s, len, aligned: true);
        var f = Direct(s);
        Record($"direct read {s.Label} [{pos}, {pos + len}) (size {s.Size})");
        CheckRead(s, f, pos, len);
    }

    private void Truncate(OracleFile s)
    {
        var r = Next(10);
        long size = r switch
        {
            < 4 => NextLong(s.Size + 1),
            < 8 => s.Size + NextLong(Math.Min(MaxFileBytes - s.Size, 256L << 10) + 1),
            _ => NextLong(MaxFileBytes + 1),
        };
        if (Chance(20))
        {
            size = size / _blockSize * _blockSize;
        }

        var f = Buffered(s);
        Record($"truncate {s.Label} {s.Size} -> {size}");
        Expect(f.Truncate(size), "the truncate");
        if (!Skip("truncate"))
        {
            s.Truncate(size);
        }
    }

    private void Fallocate(OracleFile s)
    {
        var len = 1 + NextLong(256L << 10);
        var pos = RandomPos(s, len, aligned: false);
        var keepSize = Chance(50);
        var f = Buffered(s);
        Record($"fallocate{(keepSize ? " keep-size" : string.Empty)} {s.Label} [{pos}, {pos + len}) (size {s.Size})");
        Expect(f.Fallocate(pos, len, keepSize), "the fallocate");
        if (!keepSize && pos + len > s.Size && !Skip("fallocate"))
        {
            s.Truncate(pos + len);
        }
    }

    private void PunchHole(OracleFile s)
    {
        var len = 1 + NextLong(Chance(50) ? 3L * _blockSize : 128L << 10);
        var pos = RandomPos(s, len, aligned: false);
        var f = Buffered(s);
        Record($"punch hole {s.Label} [{pos}, {pos + len}) (size {s.Size})");
        Expect(f.PunchHole(pos, len), "the punch hole");
        if (!Skip("punch hole"))
        {
            s.Zero(pos, pos + len);
        }
    }

    private void Fsync(OracleFile s, bool dataOnly)
    {
        Record($"{(dataOnly ? "fdatasync" : "fsync")} {s.Label}");
        var f = Buffered(s);
        Expect(dataOnly ? f.Fdatasync() : f.Fsync(), dataOnly ? "the fdatasync" : "the fsync");
    }

    private void DropCaches()
    {
        Record("drop caches");
        _fs.DropCaches();
    }

    private void Sync()
    {
        Record("sync");
        Expect(_fs.Sync(), "the sync");
    }

    private void ReadWholeFile(OracleFile s)
    {
        Record($"read all of {s.Label} (size {s.Size})");
        CheckRead(s, Buffered(s), 0, (int)MaxFileBytes + _blockSize);
    }

    private static string FlagText(FsFile f) => (f.Flags & (OpenFlags.Dsync | OpenFlags.Sync)) != 0 ? $" [{f.Flags}]" : string.Empty;
}
