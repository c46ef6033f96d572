using System.Globalization;
using Writeback.Fs;
using Writeback.Kernel;

namespace Writeback.Workloads.Torture;

/// <summary>One worker task of an interleaved run: a seeded random sequence of operations on its
/// own files (and its range of the shared file), each checked against the models, while the other
/// workers, the flusher, the hotplug task and injected interrupts run around it.</summary>
/// <remarks>The worker owns its random stream, its handles and its files' models, so that its
/// checks are exact whatever the others do; the only state it shares is the filesystem, the
/// shared file's model (at disjoint, folio-aligned ranges) and the run's log and counters.</remarks>
internal sealed partial class InterleavedWorker
{
    private readonly InterleavedRun _run;
    private readonly Prandom _rng;
    private readonly List<InterleavedFile> _files;
    private readonly int _blockSize;
    private int _op;

    /// <summary>Creates worker <paramref name="index"/> of <paramref name="run"/> on
    /// <paramref name="files"/>, drawing from <paramref name="rng"/>.</summary>
    public InterleavedWorker(InterleavedRun run, int index, Prandom rng, IEnumerable<InterleavedFile> files, int blockSize)
    {
        _run = run;
        Index = index;
        _rng = rng;
        _files = [.. files];
        _blockSize = blockSize;
        Activity = new InterleavedActivity(Name);
    }

    /// <summary>The worker's number.</summary>
    public int Index { get; }

    /// <summary>The worker's name in the log and its task's name ("w0").</summary>
    public string Name => string.Create(CultureInfo.InvariantCulture, $"w{Index}");

    /// <summary>What the worker is doing, for the stall watchdog.</summary>
    public InterleavedActivity Activity { get; }

    /// <summary>The worker's files.</summary>
    public IReadOnlyList<InterleavedFile> Files => _files;

    /// <summary>Operations executed completely.</summary>
    public int Executed { get; private set; }

    /// <summary>Bytes read back and compared with the models.</summary>
    public long BytesChecked { get; private set; }

    /// <summary>Runs <paramref name="operations"/> operations, checking every handle's size and the
    /// page cache's live invariants after each, then closes the worker's handles.</summary>
    /// <remarks>Context: Process context (the worker's task). May sleep.</remarks>
    public void Run(int operations)
    {
        try
        {
            for (_op = 0; _op < operations; _op++)
            {
                Step(_files[Next(_files.Count)]);
                foreach (var f in _files)
                {
                    CheckSize(f);
                }

                _run.CheckInvariants();
                Activity.End();
                Executed = _op + 1;
                _run.OperationDone();
            }

            Record("close every handle");
            foreach (var f in _files)
            {
                Close(f);
            }

            Activity.End();
        }
        catch (OracleCheckException ex)
        {
            // The violation names the task and operation that found it: the log interleaves every task's.
            throw new OracleCheckException(string.Create(CultureInfo.InvariantCulture, $"{Name} #{_op}: {ex.Message}"), ex);
        }
    }

    private void Step(InterleavedFile f)
    {
        var pick = Next(100);
        if (f.Shared && pick is (>= 18 and < 24) or (>= 53 and < 58))
        {
            // The shared file's size never changes: appends become writes, truncates reads.
            pick = pick < 24 ? 0 : 24;
        }

        switch (pick)
        {
            case < 14:
                BufferedWrite(f, dontcache: false);
                break;
            case < 18:
                BufferedWrite(f, dontcache: true);
                break;
            case < 24:
                Append(f);
                break;
            case < 36:
                BufferedRead(f);
                break;
            case < 43:
                DirectWrite(f);
                break;
            case < 47:
                DirectWriteAsync(f);
                break;
            case < 53:
                DirectRead(f);
                break;
            case < 58:
                Truncate(f);
                break;
            case < 62:
                Fallocate(f);
                break;
            case < 67:
                PunchHole(f);
                break;
            case < 71:
                Fsync(f, dataOnly: false);
                break;
            case < 75:
                Fsync(f, dataOnly: true);
                break;
            case < 82:
                Reopen(f);
                break;
            case < 85:
                Sync();
                break;
            case < 88:
                DropCaches();
                break;
            case < 93:
                ReadWholeRange(f);
                break;
            default:
                BufferedWrite(f, dontcache: false);
                break;
        }
    }

    private void Record(string what)
    {
        var line = string.Create(CultureInfo.InvariantCulture, $"{Name} #{_op} {what}");
        Activity.Begin(line, _run.Machine.NowNs);
        _run.Record(line);
    }

    private void CheckRead(InterleavedFile f, FsFile handle, long pos, int len) => BytesChecked += OracleChecks.CheckRead(f.Model, handle, pos, len);

    private static void CheckSize(InterleavedFile f)
    {
        OracleChecks.CheckSize(f.Model, f.Buffered, string.Empty);
        OracleChecks.CheckSize(f.Model, f.Direct, " (direct handle)");
    }

    private FsFile Buffered(InterleavedFile f)
    {
        if (f.Buffered is { } open)
        {
            return open;
        }

        var flags = OpenFlags.Create | (Next(20) switch { 0 => OpenFlags.Dsync, 1 => OpenFlags.Sync, _ => OpenFlags.None });
        var handle = Open(f, flags);
        f.Buffered = handle;
        _run.SetInjectTarget(handle.Aops.Mapping);
        return handle;
    }

    private FsFile Direct(InterleavedFile f)
    {
        if (f.Direct is { } open)
        {
            return open;
        }

        var handle = Open(f, OpenFlags.Create | OpenFlags.Direct | (Chance(20) ? OpenFlags.Dsync : OpenFlags.None));
        f.Direct = handle;
        return handle;
    }

    // A handle on the file: it exists now, and it is the inode the model knows.
    private FsFile Open(InterleavedFile f, OpenFlags flags)
    {
        var s = f.Model;
        Record($"open {f.Label} {flags}");
        OracleChecks.Expect(_run.Fs.Open(s.Path!, flags, out var handle), "the open");
        var ino = handle!.Inode.Number;
        if (s.Ino is { } known && known != ino)
        {
            OracleChecks.Fail(string.Create(CultureInfo.InvariantCulture, $"{f.Label}: the open found inode {ino}, the model has inode {known}"));
        }

        s.Exists = true;
        s.Ino = ino;
        return handle;
    }

    private static void Close(InterleavedFile f)
    {
        if (f.Buffered is { } b)
        {
            OracleChecks.Expect(b.Close(), "the close");
            f.Buffered = null;
        }

        if (f.Direct is { } d)
        {
            OracleChecks.Expect(d.Close(), "the close");
            f.Direct = null;
        }
    }

    // Mostly small, sometimes up to 256 KiB; never more than the worker's range.
    private int RandomLength(InterleavedFile f)
    {
        var len = Next(10) switch
        {
            < 4 => 1 + Next(2 * _blockSize),
            < 7 => 1 + Next(16 << 10),
            < 9 => 1 + Next(64 << 10),
            _ => 1 + Next(256 << 10),
        };
        return (int)Math.Min(len, f.End - f.Start);
    }

    private int AlignedLength(InterleavedFile f) => Math.Max(_blockSize, (RandomLength(f) + _blockSize - 1) / _blockSize * _blockSize);

    // Anywhere in the worker's range, near EOF (own files), or near a block boundary; the range
    // [pos, pos + len) stays inside the worker's range.
    private long RandomPos(InterleavedFile f, long len, bool aligned)
    {
        var s = f.Model;
        var maxStart = f.End - len;
        var span = f.End - f.Start;
        long pos = Next(10) switch
        {
            < 4 => f.Start + NextLong(maxStart - f.Start + 1),
            < 7 when !f.Shared => s.Size + NextLong(4L * _blockSize) - (2L * _blockSize),
            < 9 => f.Start + (NextLong(span / _blockSize) * _blockSize) + Next(7) - 3,
            _ => f.Shared ? f.Start : NextLong(Math.Max(1, s.Size)),
        };
        pos = Math.Clamp(pos, f.Start, maxStart);
        return aligned ? pos / _blockSize * _blockSize : pos;
    }

    private byte[] RandomBytes(int len)
    {
        var data = new byte[len];
        _rng.NextBytes(data);
        return data;
    }

    private int Next(int bound) => (int)_rng.NextInt64(bound);

    private long NextLong(long bound) => _rng.NextInt64(bound);

    private bool Chance(int percent) => Next(100) < percent;
}
