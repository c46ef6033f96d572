using Writeback.Fs;
using Writeback.Kernel;

namespace Writeback.Workloads.Torture;

/// <summary>The worker's operations: reads and writes of every kind, appends, truncate,
/// fallocate, punch hole, fsync, fdatasync, close and reopen, sync and drop caches.</summary>
internal sealed partial class InterleavedWorker
{
    private void BufferedWrite(InterleavedFile f, bool dontcache)
    {
        var len = RandomLength(f);
        var pos = RandomPos(f, len, aligned: false);
        var data = RandomBytes(len);
        var handle = Buffered(f);
        Record($"{(dontcache ? "dontcache write" : "write")} {f.Label} [{pos}, {pos + len}) len {len} (size {f.Model.Size}){FlagText(handle)}");
        OracleChecks.Expect(handle.Write(pos, data, out var written, dontcache), "the write");
        OracleChecks.ExpectBytes(len, written, "the write");
        f.Model.Write(pos, data);
    }

    // A write at the file's size (own files only): buffered (sometimes dontcache), or direct
    // when the size is block-aligned; at the largest size, a read at EOF instead.
    private void Append(InterleavedFile f)
    {
        var s = f.Model;
        var len = (int)Math.Min(RandomLength(f), OracleModel.MaxFileBytes - s.Size);
        if (len == 0)
        {
            Record($"append {f.Label}: at the largest size, read at EOF instead");
            CheckRead(f, Buffered(f), s.Size, 1);
            return;
        }

        var direct = s.Size % _blockSize == 0 && Chance(30);
        if (direct)
        {
            len = Math.Max(_blockSize, len / _blockSize * _blockSize);
        }

        var dontcache = !direct && Chance(20);
        var data = RandomBytes(len);
        var handle = direct ? Direct(f) : Buffered(f);
        var pos = s.Size;
        Record($"{(direct ? "direct append" : dontcache ? "dontcache append" : "append")} {f.Label} [{pos}, {pos + len}) len {len}{FlagText(handle)}");
        OracleChecks.Expect(handle.Write(pos, data, out var written, dontcache), "the append");
        OracleChecks.ExpectBytes(len, written, "the append");
        s.Write(pos, data);
    }

    private void BufferedRead(InterleavedFile f)
    {
        var len = RandomLength(f);
        var pos = !f.Shared && Chance(15) ? f.Model.Size + Next(3 * _blockSize) : RandomPos(f, len, aligned: false);
        var handle = Buffered(f);
        Record($"read {f.Label} [{pos}, {pos + len}) (size {f.Model.Size})");
        CheckRead(f, handle, pos, len);
    }

    private void DirectWrite(InterleavedFile f)
    {
        var len = AlignedLength(f);
        var pos = RandomPos(f, len, aligned: true);
        var data = RandomBytes(len);
        var handle = Direct(f);
        Record($"direct write {f.Label} [{pos}, {pos + len}) (size {f.Model.Size}){FlagText(handle)}");
        OracleChecks.Expect(handle.Write(pos, data, out var written), "the direct write");
        OracleChecks.ExpectBytes(len, written, "the direct write");
        f.Model.Write(pos, data);
    }

    // One or two asynchronous direct writes to disjoint ranges, in flight together; both are
    // waited for before the next step.
    private void DirectWriteAsync(InterleavedFile f)
    {
        var handle = Direct(f);
        var ranges = new List<(long Pos, byte[] Data)>();
        var count = Chance(40) ? 2 : 1;
        for (var tries = 0; ranges.Count < count && tries < 8; tries++)
        {
            var len = AlignedLength(f);
            var pos = RandomPos(f, len, aligned: true);
            if (ranges.TrueForAll(r => pos + len <= r.Pos || r.Pos + r.Data.Length <= pos))
            {
                ranges.Add((pos, RandomBytes(len)));
            }
        }

        var done = new Completion[ranges.Count];
        var results = new (Errno Error, long Bytes)[ranges.Count];
        for (var i = 0; i < ranges.Count; i++)
        {
            var (pos, data) = ranges[i];
            var index = i;
            done[i] = new Completion();
            Record($"async direct write {f.Label} [{pos}, {pos + data.Length}) (size {f.Model.Size}){FlagText(handle)}");
            var err = handle.WriteDirectAsync(pos, data, (e, n) =>
            {
                results[index] = (e, n);
                done[index].Complete();
            });
            OracleChecks.Expect(err, "the asynchronous direct write's submission");
        }

        for (var i = 0; i < ranges.Count; i++)
        {
            done[i].WaitForCompletion();
            OracleChecks.Expect(results[i].Error, "the asynchronous direct write");
            OracleChecks.ExpectBytes(ranges[i].Data.Length, results[i].Bytes, "the asynchronous direct write");
            f.Model.Write(ranges[i].Pos, ranges[i].Data);
        }
    }

    private void DirectRead(InterleavedFile f)
    {
        var len = AlignedLength(f);
        var pos = !f.Shared && Chance(15) ? (f.Model.Size / _blockSize * _blockSize) + (Next(3) * _blockSize) : RandomPos(f, len, aligned: true);
        var handle = Direct(f);
        Record($"direct read {f.Label} [{pos}, {pos + len}) (size {f.Model.Size})");
        CheckRead(f, handle, pos, len);
    }

    // Own files only (the shared file's size is fixed).
    private void Truncate(InterleavedFile f)
    {
        var s = f.Model;
        const long max = OracleModel.MaxFileBytes;
        long size = Next(10) switch
        {
            < 4 => NextLong(s.Size + 1),
            < 8 => s.Size + NextLong(Math.Min(max - s.Size, 256L << 10) + 1),
            _ => NextLong(max + 1),
        };
        if (Chance(20))
        {
            size = size / _blockSize * _blockSize;
        }

        var handle = Buffered(f);
        Record($"truncate {f.Label} {s.Size} -> {size}");
        OracleChecks.Expect(handle.Truncate(size), "the truncate");
        s.Truncate(size);
    }

    // On the shared file the range stays inside the worker's, which is inside the size.
    private void Fallocate(InterleavedFile f)
    {
        var len = 1 + NextLong(Math.Min(256L << 10, f.End - f.Start));
        var pos = RandomPos(f, len, aligned: false);
        var keepSize = Chance(50);
        var handle = Buffered(f);
        Record($"fallocate{(keepSize ? " keep-size" : string.Empty)} {f.Label} [{pos}, {pos + len}) (size {f.Model.Size})");
        OracleChecks.Expect(handle.Fallocate(pos, len, keepSize), "the fallocate");
        if (!keepSize && pos + len > f.Model.Size)
        {
            f.Model.Truncate(pos + len);
        }
    }

    // Punch hole rounds its writeback and invalidation out to pages: inside a folio-aligned range.
    private void PunchHole(InterleavedFile f)
    {
        var len = 1 + NextLong(Math.Min(Chance(50) ? 3L * _blockSize : 128L << 10, f.End - f.Start));
        var pos = RandomPos(f, len, aligned: false);
        var handle = Buffered(f);
        Record($"punch hole {f.Label} [{pos}, {pos + len}) (size {f.Model.Size})");
        OracleChecks.Expect(handle.PunchHole(pos, len), "the punch hole");
        f.Model.Zero(pos, pos + len);
    }

    private void Fsync(InterleavedFile f, bool dataOnly)
    {
        var handle = Buffered(f);
        Record($"{(dataOnly ? "fdatasync" : "fsync")} {f.Label}");
        OracleChecks.Expect(dataOnly ? handle.Fdatasync() : handle.Fsync(), dataOnly ? "the fdatasync" : "the fsync");
    }

    private void Reopen(InterleavedFile f)
    {
        Record($"close {f.Label}");
        Close(f);
        if (!f.Shared && f.Model.Exists && Chance(10))
        {
            Record($"open {f.Label} O_TRUNC");
            OracleChecks.Expect(_run.Fs.Open(f.Model.Path!, OpenFlags.Truncate, out var handle), "the open with O_TRUNC");
            f.Buffered = handle;
            f.Model.Truncate(0);
        }
    }

    private void Sync()
    {
        Record("sync");
        OracleChecks.Expect(_run.Fs.Sync(), "the sync");
    }

    private void DropCaches()
    {
        Record("drop caches");
        _run.Fs.DropCaches();
    }

    // The whole file (own files, past its largest size) or the worker's whole range of the shared one.
    private void ReadWholeRange(InterleavedFile f)
    {
        var handle = Buffered(f);
        if (f.Shared)
        {
            Record($"read all of {f.Label}");
            CheckRead(f, handle, f.Start, (int)(f.End - f.Start));
        }
        else
        {
            Record($"read all of {f.Label} (size {f.Model.Size})");
            CheckRead(f, handle, 0, (int)OracleModel.MaxFileBytes + _blockSize);
        }
    }

    private static string FlagText(FsFile f) => (f.Flags & (OpenFlags.Dsync | OpenFlags.Sync)) != 0 ? $" [{f.Flags}]" : string.Empty;
}
