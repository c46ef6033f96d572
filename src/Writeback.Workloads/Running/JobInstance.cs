using System.Collections.Concurrent;
using System.Threading;
using Writeback.Fs;
using Writeback.Kernel;

namespace Writeback.Workloads.Running;

/// <summary>One instance of a job (one of its numjobs) running as a simulated task: opens its
/// files, issues its I/O through the file API, syncs as told, verifies, and records what fio records.</summary>
/// <remarks>Model: files are served round robin, one I/O each (fio's file_service_type=roundrobin);
/// random offsets visit every block of a file once per pass (fio's random map), in an order drawn
/// from the job's seed; I/O that completes during ramp_time is not counted; bandwidth samples
/// cover whole 500 ms periods after the ramp. The job stops at its first error, as fio does without
/// continue_on_error.</remarks>
internal sealed class JobInstance
{
    private readonly JobSpec _spec;
    private readonly int _index;
    private readonly FileSystem _fs;
    private readonly Machine _machine;
    private readonly RunShared _shared;
    private readonly Prandom _rng;
    private readonly ConcurrentQueue<(long Slat, long Clat, long Bytes, long Asked, Errno Error, long DoneNs)> _reaped = new();
    private readonly Completion _completions = new();
    private FileState[] _files = [];
    private int _inFlight;
    private long _generation;
    private long _writesSinceFsync;
    private long _writesSinceFdatasync;
    private long _startNs;
    private long _statsStartNs;
    private long _nextSampleNs;
    private long _sampleReadBytes;
    private long _sampleWriteBytes;
    private long _sampleReadIos;
    private long _sampleWriteIos;
    private byte[] _buffer = [];

    public JobInstance(JobSpec spec, int index, FileSystem fs, RunShared shared, JobResult result)
    {
        _spec = spec;
        _index = index;
        _fs = fs;
        _machine = fs.Cache.Machine;
        _shared = shared;
        Result = result;
        var seed = spec.RandRepeat || spec.RandSeedSet ? spec.RandSeed : spec.RandSeed ^ _machine.Options.Seed;
        _rng = Prandom.ForStream(seed, $"{spec.Name}/{index}");
    }

    public JobResult Result { get; }

    /// <summary>The job's body; runs in its task.</summary>
    public void Run()
    {
        if (!Open())
        {
            return;
        }

        _startNs = _machine.NowNs;
        _statsStartNs = _startNs + (_spec.RampTimeUs * 1000);
        _nextSampleNs = _statsStartNs + IoStats.SampleIntervalNs;
        var deadline = _spec.RuntimeUs > 0 ? _startNs + (_spec.RampTimeUs + _spec.RuntimeUs) * 1000 : long.MaxValue;
        var planned = _spec.Size;
        var moved = 0L;
        var ios = 0L;
        while (Result.Error == Errno.None && !_shared.Cancellation.IsCancellationRequested && _machine.NowNs < deadline)
        {
            if (!_spec.TimeBased && moved >= planned)
            {
                break;
            }

            var file = _files[ios % _files.Length];
            var write = _spec.Rw switch
            {
                RwKind.Write or RwKind.RandWrite => true,
                RwKind.Read or RwKind.RandRead => false,
                _ => _rng.NextInt64(100) >= _spec.ReadMixPercent,
            };
            var bs = write ? _spec.WriteBlockSize : _spec.ReadBlockSize;
            var offset = file.NextOffset(bs, _spec.Random, _rng);
            var length = (int)Math.Min(bs, _spec.FileSize - offset);
            if (!_spec.TimeBased)
            {
                length = (int)Math.Min(length, planned - moved);
            }

            DoIo(file, write, offset, length);
            moved += length;
            ios++;
            if (_spec.ThinkTimeUs > 0)
            {
                Think(_spec.ThinkTimeUs * 1000);
            }

            if ((ios & 63) == 0)
            {
                _shared.Report();
            }
        }

        Drain(0);
        if (_spec.EndFsync && Result.Error == Errno.None)
        {
            foreach (var f in _files)
            {
                TimedSync(f, data: false);
            }
        }

        // fio's runtime covers the I/O and end_fsync; the verify phase is reported apart.
        var runtime = Math.Max(0, _machine.NowNs - _statsStartNs);
        Result.Read.RuntimeNs = Result.Read.Ios > 0 ? runtime : 0;
        Result.Write.RuntimeNs = Result.Write.Ios > 0 ? runtime : 0;
        _shared.BeforeVerify?.Invoke(_fs, _spec, _index);
        Verify();
        foreach (var f in _files)
        {
            if (_spec.FsyncOnClose && Result.Error == Errno.None)
            {
                TimedSync(f, data: false);
            }

            f.File.Close();
        }

        _shared.Report();
    }

    private bool Open()
    {
        var flags = OpenFlags.Create | (_spec.Direct ? OpenFlags.Direct : 0) | (_spec.OSync ? OpenFlags.Sync : 0) | (_spec.ODsync ? OpenFlags.Dsync : 0);
        var files = new List<FileState>();
        for (var n = 0; n < _spec.NrFiles; n++)
        {
            var path = _spec.FilePath(_index, n);
            var err = _fs.Open(path, flags, out var file);
            if (err != Errno.None)
            {
                Fail(err, $"open {path}");
                foreach (var f in files)
                {
                    f.File.Close();
                }

                return false;
            }

            files.Add(new FileState(file!, path, _spec));
        }

        _files = [.. files];
        return true;
    }

    private void DoIo(FileState f, bool write, long offset, int length)
    {
        if (_buffer.Length < length)
        {
            // fio fills its buffers with random data once (refill_buffers=0); so does the model.
            _buffer = new byte[Math.Max(_spec.ReadBlockSize, _spec.WriteBlockSize)];
            _rng.NextBytes(_buffer);
        }

        var buffer = _buffer;
        if (write)
        {
            _generation++;
            if (_spec.Verify)
            {
                VerifyBlock.Fill(buffer.AsSpan(0, length), offset, _generation);
                f.Written[offset] = _generation;
            }

            if (_spec.Async && _spec.Direct)
            {
                SubmitAsync(f, offset, buffer.AsSpan(0, length));
            }
            else
            {
                var t0 = _machine.NowNs;
                var err = f.File.Write(offset, buffer.AsSpan(0, length), out var written, _spec.Uncached);
                Complete(write: true, -1, _machine.NowNs - t0, written, length, err);
            }

            _writesSinceFsync++;
            _writesSinceFdatasync++;
            if (_spec.FsyncEvery > 0 && _writesSinceFsync >= _spec.FsyncEvery)
            {
                _writesSinceFsync = 0;
                Drain(0);
                TimedSync(f, data: false);
            }

            if (_spec.FdatasyncEvery > 0 && _writesSinceFdatasync >= _spec.FdatasyncEvery)
            {
                _writesSinceFdatasync = 0;
                Drain(0);
                TimedSync(f, data: true);
            }
        }
        else
        {
            var t0 = _machine.NowNs;
            var err = f.File.Read(offset, buffer.AsSpan(0, length), out var read);
            Complete(write: false, -1, _machine.NowNs - t0, read, length, err);
        }
    }

    // An asynchronous direct write: at most iodepth in flight; completions are timed where they
    // run and recorded by this task when it reaps them.
    private void SubmitAsync(FileState f, long offset, ReadOnlySpan<byte> data)
    {
        Drain(_spec.IoDepth - 1);
        if (_machine.NowNs >= _statsStartNs)
        {
            Result.Depths[Math.Min(_inFlight + 1, Result.Depths.Length - 1)]++;
        }

        var t0 = _machine.NowNs;
        long submitted = 0;
        var length = data.Length;
        _inFlight++;
        var err = f.File.WriteDirectAsync(offset, data, (e, n) =>
        {
            var now = _machine.NowNs;
            var s = Volatile.Read(ref submitted);
            _reaped.Enqueue((s - t0, now - s, n, length, e, now));
            _completions.Complete();
        });
        Volatile.Write(ref submitted, _machine.NowNs);
        if (err != Errno.None)
        {
            _inFlight--;
            Fail(err, $"write at offset {offset} of {f.Path}");
        }
    }

    // Reaps completions until at most `left` are in flight.
    private void Drain(int left)
    {
        while (_inFlight > left)
        {
            _completions.WaitForCompletion();
            _inFlight--;
            Reap();
        }

        Reap();
    }

    private void Reap()
    {
        while (_reaped.TryDequeue(out var c))
        {
            // The callback may run before the submitter read the clock after submission.
            var slat = Math.Max(0, c.Slat);
            Record(write: true, slat, Math.Max(0, c.Clat), c.Bytes, c.Asked, c.Error, c.DoneNs);
        }
    }

    private void Complete(bool write, long slat, long clat, long bytes, long asked, Errno err)
    {
        if ((!_spec.Async || !_spec.Direct || !write) && _machine.NowNs >= _statsStartNs)
        {
            Result.Depths[1]++;
        }

        Record(write, slat, clat, bytes, asked, err, _machine.NowNs);
    }

    private void Record(bool write, long slat, long clat, long bytes, long asked, Errno err, long doneNs)
    {
        if (err != Errno.None)
        {
            Fail(err, write ? "write" : "read");
            return;
        }

        Interlocked.Add(ref _shared.BytesDone, bytes);
        if (doneNs < _statsStartNs)
        {
            return;
        }

        while (doneNs >= _nextSampleNs)
        {
            Result.Read.Sample(_sampleReadBytes, _sampleReadIos);
            Result.Write.Sample(_sampleWriteBytes, _sampleWriteIos);
            _sampleReadBytes = _sampleWriteBytes = _sampleReadIos = _sampleWriteIos = 0;
            _nextSampleNs += IoStats.SampleIntervalNs;
        }

        if (write)
        {
            _sampleWriteBytes += bytes;
            _sampleWriteIos++;
        }
        else
        {
            _sampleReadBytes += bytes;
            _sampleReadIos++;
        }

        (write ? Result.Write : Result.Read).Record(bytes, asked, slat, clat, doneNs - _statsStartNs);
        _shared.Metrics?.RecordIo(write, bytes, Math.Max(0, slat) + clat);
    }

    private void TimedSync(FileState f, bool data)
    {
        var t0 = _machine.NowNs;
        var err = data ? f.File.Fdatasync() : f.File.Fsync();
        var ns = _machine.NowNs - t0;
        if (err != Errno.None)
        {
            Fail(err, data ? "fdatasync" : "fsync");
            return;
        }

        if (t0 >= _statsStartNs)
        {
            Result.Sync.Record(ns);
            _shared.Metrics?.RecordSync(ns);
        }
    }

    // fio's verify phase: read back every block written, in offset order, and check it.
    private void Verify()
    {
        if (!_spec.Verify || !_spec.DoVerify || Result.Error != Errno.None || _shared.Cancellation.IsCancellationRequested)
        {
            return;
        }

        var buffer = new byte[_spec.WriteBlockSize];
        foreach (var f in _files)
        {
            foreach (var (offset, generation) in f.Written.OrderBy(w => w.Key))
            {
                var length = (int)Math.Min(_spec.WriteBlockSize, _spec.FileSize - offset);
                var err = f.File.Read(offset, buffer.AsSpan(0, length), out var read);
                if (err != Errno.None || read != length)
                {
                    Fail(err == Errno.None ? Errno.EIO : err, $"verify read at offset {offset} returned {read} of {length} bytes");
                    return;
                }

                Result.VerifyBytes += read;
                if (VerifyBlock.Check(buffer.AsSpan(0, length), offset, generation) is { } problem)
                {
                    Result.VerifyErrors++;
                    Result.FirstVerifyError ??= $"{f.Path}: {problem}";
                }
            }
        }
    }

    // fio sleeps for thinktime with usleep(), an hrtimer: the model raises a timer interrupt on
    // this CPU after the time and sleeps until it fires.
    private void Think(long ns)
    {
        var done = new Completion();
        _machine.RaiseIrqIn(ns, Context.RawSmpProcessorId, "hrtimer", done.Complete);
        done.WaitForCompletion();
    }

    private void Fail(Errno err, string what)
    {
        if (Result.Error == Errno.None)
        {
            Result.Error = err;
            Result.ErrorContext = what;
        }
    }

    /// <summary>An open file of the job and where its next I/O goes.</summary>
    private sealed class FileState(FsFile file, string path, JobSpec spec)
    {
        private long _cursor = spec.Offset;
        private long[]? _order;
        private int _next;

        public FsFile File { get; } = file;

        public string Path { get; } = path;

        /// <summary>The generation last written at each block offset (verify only).</summary>
        public Dictionary<long, long> Written { get; } = [];

        // Sequential I/O walks the file from offset= and wraps; random I/O visits every unit of the
        // smaller block size once per pass in a seeded order (fio's random map).
        public long NextOffset(int bs, bool random, Prandom rng)
        {
            if (!random)
            {
                if (_cursor >= spec.FileSize)
                {
                    _cursor = spec.Offset;
                }

                var at = _cursor;
                _cursor += bs;
                return at;
            }

            var unit = Math.Min(spec.ReadBlockSize, spec.WriteBlockSize);
            if (_order is null || _next == _order.Length)
            {
                var blocks = Math.Max(1, (spec.FileSize - spec.Offset) / unit);
                _order = new long[blocks];
                for (var i = 0L; i < blocks; i++)
                {
                    _order[i] = i;
                }

                for (var i = blocks - 1; i > 0; i--)
                {
                    var j = rng.NextInt64(i + 1);
                    (_order[i], _order[j]) = (_order[j], _order[i]);
                }

                _next = 0;
            }

            return spec.Offset + (_order[_next++] * unit);
        }
    }
}
