using System.Text;
using Writeback.Block;
using Writeback.Fs;
using Writeback.Fs.Format;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Fs;

/// <summary>An fsx-style oracle: seeded random sequences of file operations — buffered, direct
/// and dontcache reads and writes of any alignment, truncate, fallocate, punch hole, fsync,
/// close and reopen, drop caches, sync, unmount and mount — on a few files, checked after every
/// step against a byte array and a size per file, in both completion modes and every
/// task-completion variant.</summary>
/// <remarks>A failure names the seed, the mode, the variant and the run's settings, and lists
/// the last operations, so that it can be replayed: the same row reruns the same sequence on the
/// deterministic engine (FSX_FULL_LOG=1 lists every operation). The seed also picks the
/// setting: 512-byte blocks when seed % 3 == 2 (4096 otherwise), injected interrupts when
/// seed % 3 == 0, tight dirty limits (background writeback and throttling) for even seeds.</remarks>
public class FsxTests
{
    // The largest file: every operation's range ends by here.
    private const long MaxFileBytes = 1L << 20;

    public static TheoryData<CompletionMode, TaskCompletionVariant, ulong> Runs
    {
        get
        {
            var data = new TheoryData<CompletionMode, TaskCompletionVariant, ulong>();
            for (var seed = 1UL; seed <= 6; seed++)
            {
                // The variant only matters in task mode.
                data.Add(CompletionMode.Irq, TaskCompletionVariant.Merged, seed);
            }

            foreach (var variant in Enum.GetValues<TaskCompletionVariant>())
            {
                for (var seed = 1UL; seed <= 3; seed++)
                {
                    data.Add(CompletionMode.Task, variant, seed);
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void RandomOperations_ReadBackExactlyWhatTheByteArrayModelHolds(CompletionMode mode, TaskCompletionVariant variant, ulong seed)
    {
        var run = new FsxRun(mode, variant, seed);
        run.Execute();
        if (mode == CompletionMode.Task)
        {
            Assert.Equal(0, run.ConvWorkqueueItems);
            Assert.Equal(0, run.DioWorkqueueItems);
        }
        else
        {
            Assert.True(run.BufferedBytesWritten > 0, $"seed {seed}: the run wrote nothing through the cache");
            Assert.True(run.ConvWorkqueueItems > 0, $"seed {seed}: buffered writes into new blocks queued no xfs-conv work in IRQ mode");
        }
    }

    // Found by the oracle (seed 2, every mode and variant): with blocks smaller than a page, a
    // direct write of one block into a cached folio left the folio cached and uptodate with that
    // block zeroed, so buffered reads saw zeros instead of the written data.
    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void DirectWrite_OfOneSmallBlockInACachedFolio_IsSeenByABufferedRead(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var fs = SmallBlockFs(m, mode);
            Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.Create, out var f));
            var expected = Fill(4096, 0xa1);
            Assert.Equal(Errno.None, f!.Write(0, expected, out _));
            Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.Direct, out var d));
            var block = Fill(512, 0xb2);
            Assert.Equal(Errno.None, d!.Write(512, block, out _));
            block.CopyTo(expected, 512);

            var back = new byte[4096];
            Assert.Equal(Errno.None, f.Read(0, back, out var read));
            Assert.Equal(4096, read);
            Assert.Equal(expected, back);
            Assert.Equal(Errno.None, d.Close());
            Assert.Equal(Errno.None, f.Close());
        });
        MachineFixture.AssertClean(m);
    }

    // Found with the one above: with blocks smaller than a page, a hole punched wholly past EOF
    // but starting in the EOF block zeroed the cached EOF block's data below EOF too.
    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void PunchHole_PastEofInTheEofBlock_KeepsTheDataBelowEof(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var fs = SmallBlockFs(m, mode);
            Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.Create, out var f));
            // Eight 512-byte blocks, the last one partly: the folio is uptodate, EOF is at 4000.
            var expected = Fill(4000, 0xc3);
            Assert.Equal(Errno.None, f!.Write(0, expected, out _));
            Assert.Equal(Errno.None, f.PunchHole(4010, 90));
            Assert.Equal(4000, f.Size);

            var back = new byte[4000];
            Assert.Equal(Errno.None, f.Read(0, back, out var read));
            Assert.Equal(4000, read);
            Assert.Equal(expected, back);
            Assert.Equal(Errno.None, f.Close());
        });
        MachineFixture.AssertClean(m);
    }

    // Found by the oracle (task mode, seeds 1 and 3, every variant): a writeback completion's
    // transaction (unwritten conversion, on-disk size) that fills the log checkpoints inside the
    // bio task-completion worker, and the checkpoint waits for asynchronous buffer writes whose
    // flagged completions are queued behind it on that same worker: the machine deadlocks.
    [Theory]
    [InlineData(CompletionMode.Irq, TaskCompletionVariant.Merged)]
    [InlineData(CompletionMode.Task, TaskCompletionVariant.Merged)]
    [InlineData(CompletionMode.Task, TaskCompletionVariant.V4)]
    [InlineData(CompletionMode.Task, TaskCompletionVariant.V5)]
    [InlineData(CompletionMode.Task, TaskCompletionVariant.Cpumask)]
    public void AppendsWithFsync_FillingASmallLog_CheckpointWithoutDeadlock(CompletionMode mode, TaskCompletionVariant variant)
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m, new BlockLayerOptions { Variant = variant, Checked = true }), new DiskOptions { CapacityBytes = 8L << 20 });
            FileSystem.Mkfs(disk, FsGeometry.For(8L << 20, logBlocks: 64), mode);
            var cache = PageCache.Create(m, new PageCacheOptions { Mode = mode });
            Assert.Equal(Errno.None, FileSystem.Mount(disk, cache, out var fs, out _));
            Assert.Equal(Errno.None, fs!.Open("/f", OpenFlags.Create, out var f));
            var block = Fill(4096, 0xd4);
            for (var i = 0; i < 100; i++)
            {
                // Each append's writeback completion converts its blocks and raises the on-disk
                // size in a transaction; the log fills every few dozen of them.
                Assert.Equal(Errno.None, f!.Write(i * 4096L, block, out _));
                Assert.Equal(Errno.None, f.Fsync());
            }

            Assert.Equal(100 * 4096L, f!.Inode.DiskSize);
            Assert.Equal(Errno.None, f.Close());
        });
        MachineFixture.AssertClean(m);
    }

    private static FileSystem SmallBlockFs(Machine m, CompletionMode mode)
    {
        var disk = new MemDisk(BlockLayer.Create(m, new BlockLayerOptions { Checked = true }), new DiskOptions { CapacityBytes = 8L << 20 });
        FileSystem.Mkfs(disk, FsGeometry.For(8L << 20, blockSize: 512), mode);
        var cache = PageCache.Create(m, new PageCacheOptions { Mode = mode });
        Assert.Equal(Errno.None, FileSystem.Mount(disk, cache, out var fs, out var problem));
        Assert.Null(problem);
        return fs!;
    }

    private static byte[] Fill(int length, int seed)
    {
        var data = new byte[length];
        for (var i = 0; i < length; i++)
        {
            data[i] = (byte)(seed + (i * 7) + (i >> 8) + 1);
        }

        return data;
    }

    /// <summary>One seeded run: the machine, the filesystem, the model, the operation log.</summary>
    private sealed class FsxRun
    {
        private const int Files = 3;
        private const long DiskBytes = 32L << 20;
        private const int LogTail = 30;

        private readonly CompletionMode _mode;
        private readonly TaskCompletionVariant _variant;
        private readonly ulong _seed;
        private readonly int _blockSize;
        private readonly double _irqInjection;
        private readonly bool _tightDirtyLimits;
        private readonly Slot[] _slots = new Slot[Files];
        private readonly List<string> _log = [];
        private readonly List<FileSystem> _mounts = [];
        private Prandom _rng = null!;
        private MemDisk _disk = null!;
        private PageCache _cache = null!;
        private FileSystem _fs = null!;
        private AddressSpace? _injectTarget;
        private int _opCount;
        private int _op;

        public FsxRun(CompletionMode mode, TaskCompletionVariant variant, ulong seed)
        {
            _mode = mode;
            _variant = variant;
            _seed = seed;
            _blockSize = seed % 3 == 2 ? 512 : 4096;
            _irqInjection = seed % 3 == 0 ? 0.02 : 0;
            _tightDirtyLimits = seed % 2 == 0;
            for (var i = 0; i < Files; i++)
            {
                _slots[i] = new Slot($"/fsx{i}");
            }
        }

        public long BufferedBytesWritten { get; private set; }

        public long ConvWorkqueueItems => _mounts.Sum(f => f.Stats.ConvWorkqueueItems);

        public long DioWorkqueueItems => _mounts.Sum(f => f.Stats.DioWorkqueueItems);

        public void Execute()
        {
            using var m = MachineFixture.Create(seed: _seed, cpus: 2, configure: o => o with { IrqInjectionProbability = _irqInjection });
            Exception? failure;
            try
            {
                failure = MachineFixture.RunGuarded(m, () => Body(m), TimeSpan.FromSeconds(180));
            }
            catch (Exception ex)
            {
                failure = ex;
            }

            if (failure is null)
            {
                try
                {
                    MachineFixture.AssertClean(m);
                }
                catch (Exception ex)
                {
                    failure = ex;
                }
            }

            if (failure is not null)
            {
                Assert.Fail(Describe(failure));
            }
        }

        private void Body(Machine m)
        {
            _rng = m.CreatePrandom("fsx");
            var layer = BlockLayer.Create(m, new BlockLayerOptions { Variant = _variant, Checked = true });
            _disk = new MemDisk(layer, new DiskOptions { CapacityBytes = DiskBytes });
            FileSystem.Mkfs(_disk, FsGeometry.For(DiskBytes, blockSize: _blockSize), _mode);
            _cache = NewCache(m);
            MountFs();
            m.IrqInjector = Inject;
            _opCount = 200 + Next(201);
            for (_op = 0; _op < _opCount; _op++)
            {
                Step();
                foreach (var s in _slots)
                {
                    CheckSize(s);
                }
            }

            _op = _opCount;
            Finish();
            m.IrqInjector = null;
        }

        // What another device's completion does in an injected interrupt: in IRQ mode it takes
        // i_pages (irqsave); in task mode completions never touch it from an interrupt.
        private void Inject()
        {
            var mapping = System.Threading.Volatile.Read(ref _injectTarget);
            if (mapping is null)
            {
                return;
            }

            if (_mode == CompletionMode.Irq)
            {
                var flags = mapping.LockPagesIrqSave();
                mapping.UnlockPagesIrqRestore(flags);
            }
            else
            {
                mapping.GetFolio(0)?.Put();
            }
        }

        private PageCache NewCache(Machine m) => PageCache.Create(m, _tightDirtyLimits
            ? new PageCacheOptions { Mode = _mode, DirtyBackgroundBytes = 256L << 10, DirtyBytes = 1L << 20 }
            : new PageCacheOptions { Mode = _mode });

        private void MountFs()
        {
            var err = FileSystem.Mount(_disk, _cache, out var fs, out var problem);
            Assert.True(err == Errno.None, $"mount: {err} {problem}");
            _fs = fs!;
            _mounts.Add(_fs);
        }

        private void Step()
        {
            var slot = _slots[Next(Files)];
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
                    Record($"fsync {slot.Path}");
                    Assert.Equal(Errno.None, Buffered(slot).Fsync());
                    break;
                case < 79:
                    Record($"fdatasync {slot.Path}");
                    Assert.Equal(Errno.None, Buffered(slot).Fdatasync());
                    break;
                case < 86:
                    Reopen(slot);
                    break;
                case < 91:
                    Record("drop caches");
                    _fs.DropCaches();
                    break;
                case < 96:
                    Record("sync");
                    Assert.Equal(Errno.None, _fs.Sync());
                    break;
                case < 98:
                    ReadWholeFile(slot);
                    break;
                default:
                    Remount();
                    break;
            }
        }

        private void BufferedWrite(Slot s, bool dontcache)
        {
            var len = RandomLength();
            var pos = RandomPos(s, len, aligned: false);
            var data = RandomBytes(len);
            var f = Buffered(s);
            Record($"{(dontcache ? "dontcache write" : "write")} {s.Path} [{pos}, {pos + len}) len {len} (size {s.Size})");
            var err = f.Write(pos, data, out var written, dontcache);
            Assert.Equal(Errno.None, err);
            Assert.Equal(len, written);
            s.Write(pos, data);
            BufferedBytesWritten += len;
        }

        private void BufferedRead(Slot s)
        {
            var len = RandomLength();
            var pos = Chance(15) ? s.Size + Next(3 * _blockSize) : RandomPos(s, len, aligned: false);
            Record($"read {s.Path} [{pos}, {pos + len}) (size {s.Size})");
            CheckRead(s, Buffered(s), pos, len);
        }

        private void DirectWrite(Slot s)
        {
            var len = AlignedLength();
            var pos = RandomPos(s, len, aligned: true);
            var data = RandomBytes(len);
            var f = Direct(s);
            Record($"direct write {s.Path} [{pos}, {pos + len}) (size {s.Size}){FlagText(f)}");
            var err = f.Write(pos, data, out var written);
            Assert.Equal(Errno.None, err);
            Assert.Equal(len, written);
            s.Write(pos, data);
        }

        // One or two asynchronous direct writes to disjoint ranges, in flight together; both are
        // waited for before the next step.
        private void DirectWriteAsync(Slot s)
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
                Record($"async direct write {s.Path} [{pos}, {pos + data.Length}) (size {s.Size}){FlagText(f)}");
                var err = f.WriteDirectAsync(pos, data, (e, n) =>
                {
                    results[index] = (e, n);
                    done[index].Complete();
                });
                Assert.Equal(Errno.None, err);
            }

            for (var i = 0; i < count; i++)
            {
                done[i].WaitForCompletion();
                Assert.Equal(Errno.None, results[i].Error);
                Assert.Equal(ranges[i].Data.Length, results[i].Bytes);
                s.Write(ranges[i].Pos, ranges[i].Data);
            }
        }

        private void DirectRead(Slot s)
        {
            var len = AlignedLength();
            var pos = Chance(15) ? (s.Size / _blockSize * _blockSize) + (Next(3) * _blockSize) : RandomPos(s, len, aligned: true);
            var f = Direct(s);
            Record($"direct read {s.Path} [{pos}, {pos + len}) (size {s.Size})");
            CheckRead(s, f, pos, len);
        }

        private void Truncate(Slot s)
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
            Record($"truncate {s.Path} {s.Size} -> {size}");
            Assert.Equal(Errno.None, f.Truncate(size));
            s.Truncate(size);
        }

        private void Fallocate(Slot s)
        {
            var len = 1 + NextLong(256L << 10);
            var pos = RandomPos(s, len, aligned: false);
            var keepSize = Chance(50);
            var f = Buffered(s);
            Record($"fallocate{(keepSize ? " keep-size" : string.Empty)} {s.Path} [{pos}, {pos + len}) (size {s.Size})");
            Assert.Equal(Errno.None, f.Fallocate(pos, len, keepSize));
            if (!keepSize && pos + len > s.Size)
            {
                s.Truncate(pos + len);
            }
        }

        private void PunchHole(Slot s)
        {
            var len = 1 + NextLong(Chance(50) ? 3L * _blockSize : 128L << 10);
            var pos = RandomPos(s, len, aligned: false);
            var f = Buffered(s);
            Record($"punch hole {s.Path} [{pos}, {pos + len}) (size {s.Size})");
            Assert.Equal(Errno.None, f.PunchHole(pos, len));
            s.Zero(pos, pos + len);
        }

        private void Reopen(Slot s)
        {
            Record($"close {s.Path}");
            Close(s);
            if (s.Exists && Chance(10))
            {
                Record($"open {s.Path} O_TRUNC");
                Assert.Equal(Errno.None, _fs.Open(s.Path, OpenFlags.Truncate, out var f));
                s.Buffered = f;
                s.Truncate(0);
            }
        }

        private void Remount()
        {
            foreach (var s in _slots)
            {
                Close(s);
            }

            var cut = Chance(50);
            var fresh = Chance(50);
            Record($"unmount{(cut ? ", power cut" : string.Empty)}, mount with {(fresh ? "a new" : "the same")} page cache");
            System.Threading.Volatile.Write(ref _injectTarget, null);
            Assert.Equal(Errno.None, _fs.Unmount());
            if (cut)
            {
                _disk.PowerCut();
            }

            if (fresh)
            {
                _cache = NewCache(_cache.Machine);
            }

            MountFs();
            foreach (var s in _slots.Where(s => s.Exists))
            {
                Assert.Equal(s.Size, Buffered(s).Size);
            }
        }

        private void ReadWholeFile(Slot s)
        {
            Record($"read all of {s.Path} (size {s.Size})");
            CheckRead(s, Buffered(s), 0, (int)MaxFileBytes + _blockSize);
        }

        private void Finish()
        {
            Record("final sync and fsck");
            Assert.Equal(Errno.None, _fs.Sync());
            Assert.Empty(Writeback.Fs.Fsck.Check(_fs.Meta));
            _fs.DropCaches();
            foreach (var s in _slots.Where(s => s.Exists))
            {
                ReadWholeFile(s);
            }

            foreach (var s in _slots)
            {
                Close(s);
            }

            Record("final unmount, power cut, mount with a new page cache");
            System.Threading.Volatile.Write(ref _injectTarget, null);
            Assert.Equal(Errno.None, _fs.Unmount());
            _disk.PowerCut();
            _cache = NewCache(_cache.Machine);
            MountFs();
            foreach (var s in _slots.Where(s => s.Exists))
            {
                ReadWholeFile(s);
                CheckSize(s);
            }

            Assert.Empty(Writeback.Fs.Fsck.Check(_fs.Meta));
            foreach (var s in _slots)
            {
                Close(s);
            }

            System.Threading.Volatile.Write(ref _injectTarget, null);
            Assert.Equal(Errno.None, _fs.Unmount());
        }

        private void CheckRead(Slot s, FsFile f, long pos, int len)
        {
            var buffer = new byte[len];
            Assert.Equal(Errno.None, f.Read(pos, buffer, out var read));
            var expected = (int)Math.Clamp(s.Size - pos, 0, len);
            Assert.True(expected == read, $"{s.Path}: read [{pos}, {pos + len}) returned {read} bytes, the model has {expected} (size {s.Size}, file size {f.Size})");
            var actual = buffer.AsSpan(0, read);
            var model = s.Data.AsSpan((int)Math.Min(pos, MaxFileBytes), read);
            var at = actual.CommonPrefixLength(model);
            if (at == read)
            {
                return;
            }

            var last = read - 1;
            while (actual[last] == model[last])
            {
                last--;
            }

            var wrong = 0;
            for (var i = at; i <= last; i++)
            {
                wrong += actual[i] != model[i] ? 1 : 0;
            }

            Assert.Fail($"{s.Path}: read [{pos}, {pos + len}) differs from the model at file offsets [{pos + at}, {pos + last + 1}) ({wrong} bytes differ): "
                + $"first at {pos + at}: expected 0x{model[at]:x2}, got 0x{actual[at]:x2}; model there {Hex(model, at)}, read {Hex(actual, at)} (size {s.Size})");
        }

        private void CheckSize(Slot s)
        {
            if (s.Buffered is { } f)
            {
                Assert.True(f.Size == s.Size, $"{s.Path}: size {f.Size}, the model has {s.Size}");
            }

            if (s.Direct is { } d)
            {
                Assert.True(d.Size == s.Size, $"{s.Path}: size {d.Size} (direct handle), the model has {s.Size}");
            }
        }

        private FsFile Buffered(Slot s)
        {
            if (s.Buffered is { } open)
            {
                return open;
            }

            var flags = OpenFlags.Create | (Next(20) switch { 0 => OpenFlags.Dsync, 1 => OpenFlags.Sync, _ => OpenFlags.None });
            Record($"open {s.Path} {flags}");
            Assert.Equal(Errno.None, _fs.Open(s.Path, flags, out var f));
            s.Buffered = f;
            s.Exists = true;
            System.Threading.Volatile.Write(ref _injectTarget, f!.Aops.Mapping);
            return f;
        }

        private FsFile Direct(Slot s)
        {
            if (s.Direct is { } open)
            {
                return open;
            }

            var flags = OpenFlags.Create | OpenFlags.Direct | (Chance(20) ? OpenFlags.Dsync : OpenFlags.None);
            Record($"open {s.Path} {flags}");
            Assert.Equal(Errno.None, _fs.Open(s.Path, flags, out var f));
            s.Direct = f;
            s.Exists = true;
            return f!;
        }

        private static void Close(Slot s)
        {
            if (s.Buffered is { } f)
            {
                Assert.Equal(Errno.None, f.Close());
                s.Buffered = null;
            }

            if (s.Direct is { } d)
            {
                Assert.Equal(Errno.None, d.Close());
                s.Direct = null;
            }
        }

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
        private long RandomPos(Slot s, long len, bool aligned)
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

        private void Record(string what) => _log.Add($"#{_op} {what}");

        private static string FlagText(FsFile f) => (f.Flags & (OpenFlags.Dsync | OpenFlags.Sync)) != 0 ? $" [{f.Flags}]" : string.Empty;

        private static string Hex(ReadOnlySpan<byte> bytes, int at)
        {
            var end = Math.Min(bytes.Length, at + 8);
            return Convert.ToHexString(bytes[at..end]);
        }

        private string Describe(Exception failure)
        {
            var sb = new StringBuilder();
            sb.Append($"fsx failed: seed {_seed}, mode {_mode}, variant {_variant}, block size {_blockSize}, irq injection {_irqInjection}, tight dirty limits {_tightDirtyLimits}; ")
              .Append($"at op #{_op} of {_opCount}\nlast operations:\n");
            // FSX_FULL_LOG=1 prints every operation instead of the last few.
            var tail = Environment.GetEnvironmentVariable("FSX_FULL_LOG") == "1" ? _log.Count : LogTail;
            foreach (var line in _log.Skip(Math.Max(0, _log.Count - tail)))
            {
                sb.Append("  ").Append(line).Append('\n');
            }

            sb.Append(failure);
            return sb.ToString();
        }
    }

    /// <summary>One file: its path, open handles and model (bytes past the size are always zero).</summary>
    private sealed class Slot(string path)
    {
        public string Path { get; } = path;

        public byte[] Data { get; } = new byte[MaxFileBytes];

        public long Size { get; private set; }

        public bool Exists { get; set; }

        public FsFile? Buffered { get; set; }

        public FsFile? Direct { get; set; }

        public void Write(long pos, byte[] data)
        {
            data.CopyTo(Data, pos);
            Size = Math.Max(Size, pos + data.Length);
        }

        public void Truncate(long size)
        {
            if (size < Size)
            {
                Data.AsSpan((int)size, (int)(Size - size)).Clear();
            }

            Size = size;
        }

        public void Zero(long start, long end)
        {
            end = Math.Min(end, Size);
            if (end > start)
            {
                Data.AsSpan((int)start, (int)(end - start)).Clear();
            }
        }
    }
}
