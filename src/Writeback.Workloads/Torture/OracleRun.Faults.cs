using System.Globalization;
using System.Threading;
using Writeback.Block;
using Writeback.Fs;
using Writeback.Kernel;

namespace Writeback.Workloads.Torture;

/// <summary>Fault injection (<see cref="TortureOptions.Faults"/>): I/O errors on data writes
/// during writeback and during direct I/O, a metadata write error that shuts the filesystem down,
/// and dropped writes (dm-flakey's drop_writes) followed by a power cut — each an episode that
/// starts from a synced filesystem, so that the error is this episode's alone, and ends with the
/// model exact again.</summary>
/// <remarks>
/// <para>A writeback error must reach every open file description once (fstests generic/441: up
/// to ten descriptors on the file, plus the one that wrote), including a descriptor opened after
/// the error while nobody had seen it (generic/487), but not one opened after everyone had; and
/// syncfs must report it once to every descriptor on the filesystem, whichever file it is on (the
/// superblock's error sequence). A direct write that hits the error returns it to the caller,
/// leaves the size alone and records nothing for fsync.</para>
/// <para>After a data error the bytes of the blocks the failed write covered are not known: each
/// may read as the new data (still cached), the old data (the write never reached the disk) or
/// zero (an unwritten extent never converted), and nothing else. The episode checks exactly that,
/// with the cache and after dropping it, then rewrites those blocks and fsyncs, so that the model
/// is exact again.</para>
/// <para>A metadata write error shuts the filesystem down: the operation that hit it and every one
/// after return EIO; after unmount, a power cut and mount, the filesystem must be what it was at
/// the episode's sync. Dropped writes succeed without reaching the disk; after the power cut the
/// same holds. Unlinked files held open at the sync must be freed by the mount's recovery.</para>
/// </remarks>
public sealed partial class OracleRun
{
    private int _faultEpisodes;

    private void FaultStep(OracleFile s)
    {
        switch (Next(4))
        {
            case 0:
                WritebackError(s);
                break;
            case 1 when !s.IsOrphan || s.Direct is not null:
                DirectWriteError(s);
                break;
            case 1:
                WritebackError(s);
                break;
            case 2:
                MetadataError(s);
                break;
            default:
                DroppedWrites();
                break;
        }

        _faultEpisodes++;
    }

    private void WritebackError(OracleFile s)
    {
        var f = Buffered(s);
        SyncBeforeFault();
        var extra = new List<FsFile>();
        var descriptors = s.IsOrphan ? 0 : Next(10);
        var byFsync = s.IsOrphan || Chance(50);
        for (var i = 0; i < descriptors; i++)
        {
            extra.Add(OpenExtra(s));
        }

        var len = RandomLength();
        var pos = RandomPos(s, len, aligned: false);
        var data = RandomBytes(len);
        var every = Chance(50);
        Record($"write error: write {s.Label} [{pos}, {pos + len}) with {descriptors + 1} descriptor(s) open, fail {(every ? "every" : "half the")} data write(s), write back by {(byFsync ? "fsync" : "sync(2) and open a descriptor while the error is unseen")}");
        Expect(f.Write(pos, data, out var written), "the write");
        ExpectBytes(len, written, "the write");
        var (start, end, old) = Uncertain(s, pos, len);
        var hits = _disk.FaultsInjected;
        _disk.AddFault(new FaultRule { Op = BioOp.Write, Metadata = false, Probability = every ? 1 : 0.5 });
        var first = byFsync ? f.Fsync() : Errno.None;
        if (!byFsync)
        {
            _fs.Sync();
            extra.Add(OpenExtra(s));
        }

        _disk.ClearFaults();
        var hit = _disk.FaultsInjected > hits;
        var error = hit ? Errno.EIO : Errno.None;
        if (byFsync)
        {
            ExpectError(error, first, "the fsync of the failing writeback");
        }

        // generic/441 and 487: every other description of the file sees the error once.
        var others = extra.Concat(new[] { s.Buffered, s.Direct }.Where(h => h is not null && (!byFsync || !ReferenceEquals(h, f))).Select(h => h!)).ToList();
        foreach (var h in others)
        {
            ExpectError(error, h.Fsync(), "the first fsync of another descriptor on the file");
        }

        foreach (var h in others.Append(f).Distinct())
        {
            Expect(h.Fsync(), "a second fsync after the error was reported");
        }

        CheckSyncfs(extra, error);
        foreach (var h in extra)
        {
            Expect(h.Close(), "the close");
        }

        ModelWrite(s, pos, data);
        if (hit)
        {
            CheckUncertain(s, start, end, old);
            Heal(s, start, end);
        }
    }

    private void DirectWriteError(OracleFile s)
    {
        var f = Direct(s);
        SyncBeforeFault();
        var len = AlignedLength();
        var pos = RandomPos(s, len, aligned: true);
        var data = RandomBytes(len);
        var every = Chance(50);
        var oldSize = s.Size;
        Record($"direct write error: direct write {s.Label} [{pos}, {pos + len}) (size {oldSize}), fail {(every ? "every" : "half the")} data write(s)");
        var (start, end, old) = Uncertain(s, pos, len);
        var hits = _disk.FaultsInjected;
        _disk.AddFault(new FaultRule { Op = BioOp.Write, Metadata = false, Probability = every ? 1 : 0.5 });
        var err = f.Write(pos, data, out var written);
        _disk.ClearFaults();
        if (_disk.FaultsInjected == hits)
        {
            Expect(err, "the direct write no fault hit");
            ExpectBytes(len, written, "the direct write");
            ModelWrite(s, pos, data);
            return;
        }

        ExpectError(Errno.EIO, err, "the direct write that hit the fault");

        // The failed write never moves EOF past its start; one that starts past EOF first zeroes
        // the gap, which may move EOF up into it (the gap reads as zeros either way).
        if (f.Size < oldSize || f.Size > Math.Max(oldSize, pos))
        {
            Fail($"{s.Label}: size {f.Size} after the failed direct write of [{pos}, {pos + len}), expected the size before it, {oldSize}{(pos > oldSize ? $", or up to the write's start {pos}" : string.Empty)}");
        }

        var sizeBefore = oldSize;
        s.Truncate(f.Size);
        oldSize = f.Size;

        // A direct write's error goes to its caller: nothing is left for fsync or syncfs to report
        // — unless the write started past EOF, whose gap was zeroed through the page cache and
        // written back under the fault: that writeback error is reported as any other.
        var reported = f.Fsync();
        if (reported != Errno.None && !(pos > sizeBefore && reported == Errno.EIO))
        {
            Fail($"the fsync after the failed direct write returned {reported}, expected success{(pos > sizeBefore ? " or EIO (the zeroed gap's writeback)" : string.Empty)}");
        }

        foreach (var h in new[] { s.Buffered }.Where(h => h is not null && !ReferenceEquals(h, f)))
        {
            ExpectError(reported, h!.Fsync(), "the first fsync of another descriptor on the file");
        }

        CheckSyncfs([], reported);
        var kept = (int)Math.Clamp(oldSize - pos, 0, len);
        if (kept > 0)
        {
            ModelWrite(s, pos, data[..kept]);
        }

        CheckUncertain(s, start, Math.Min(end, oldSize), old);
        Heal(s, start, Math.Min(end, oldSize));
        if (reported != Errno.None)
        {
            // The zeroed gap never reached the disk, nor did the size it moved EOF to.
            Heal(s, sizeBefore / _blockSize * _blockSize, oldSize);
        }
    }

    private void MetadataError(OracleFile s)
    {
        // Opened before the fault is armed: the open of a missing file creates it.
        Buffered(s);
        SyncBeforeFault();
        var captured = _model.Capture();
        var orphans = _model.Orphans.ToList();
        var hits = _disk.FaultsInjected;
        _disk.AddFault(new FaultRule { Op = BioOp.Write, Metadata = true, Count = 1 });
        var err = MetadataChange(s);
        if (_disk.FaultsInjected == hits)
        {
            Fail("the metadata change wrote no metadata: the fault was never hit");
        }

        ExpectError(Errno.EIO, err, "the metadata change whose log write failed");
        if (!_fs.IsShutdown)
        {
            Fail("a failed log write did not shut the filesystem down");
        }

        Record("after the shutdown: fsync and open must fail");
        if ((s.Buffered ?? s.Direct) is { } open)
        {
            ExpectError(Errno.EIO, open.Fsync(), "an fsync after the shutdown");
        }

        ExpectError(Errno.EIO, _fs.Open(_model.Paths[0], OpenFlags.Create, out _), "an open after the shutdown");
        CloseAfterShutdown();
        var unmounted = _fs.Unmount();
        if (unmounted is not (Errno.None or Errno.EIO))
        {
            Fail($"the unmount of the shut-down filesystem returned {unmounted}");
        }

        CheckUnmounted(_cache);

        PowerCutBackTo(captured, orphans, "the shut-down filesystem");
    }

    // A change that must commit a transaction: a size change, or a change of names.
    private Errno MetadataChange(OracleFile s)
    {
        var index = _model.IndexOf(s.Path ?? string.Empty);
        var free = Enumerable.Range(0, Files).Where(i => !_model.At(i).Exists).ToList();
        switch (index < 0 ? 0 : Next(4))
        {
            case 0:
                var size = s.Size == 0 ? 1 + NextLong(64L << 10) : NextLong(s.Size);
                Record($"metadata error: truncate {s.Label} {s.Size} -> {size}, failing the next metadata write");
                return Buffered(s).Truncate(size);
            case 1:
                var to = (index + 1 + Next(Files - 1)) % Files;
                Record($"metadata error: rename {_model.Paths[index]} -> {_model.Paths[to]}, failing the next metadata write");
                return ReferenceEquals(_model.At(to), s) ? _fs.Meta.Unlink(_model.Paths[to]) : _fs.Meta.Rename(_model.Paths[index], _model.Paths[to]);
            case 2 when free.Count > 0:
                var name = _model.Paths[free[Next(free.Count)]];
                if (Chance(50))
                {
                    Record($"metadata error: link {_model.Paths[index]} -> {name}, failing the next metadata write");
                    return _fs.Meta.Link(_model.Paths[index], name);
                }

                Record($"metadata error: create {name}, failing the next metadata write");
                return _fs.Open(name, OpenFlags.Create, out _);
            default:
                Record($"metadata error: unlink {_model.Paths[index]}, failing the next metadata write");
                return _fs.Meta.Unlink(_model.Paths[index]);
        }
    }

    private void DroppedWrites()
    {
        SyncBeforeFault();
        var captured = _model.Capture();
        var orphans = _model.Orphans.ToList();
        var count = 1 + Next(5);
        Record($"drop writes: the next {count} operation(s) reach no disk");
        _disk.AddFault(new FaultRule { Op = BioOp.Write, Action = FaultAction.DropWrite });
        for (var i = 0; i < count; i++)
        {
            // Operations that read nothing back from the disk, which no longer has what was written.
            var s = _model.At(Next(Files));
            switch (Next(9))
            {
                case 0 or 1:
                    BufferedWrite(s, dontcache: false);
                    break;
                case 2:
                    Truncate(s);
                    break;
                case 3:
                    Fallocate(s);
                    break;
                case 4:
                    PunchHole(s);
                    break;
                case 5:
                    Fsync(s, dataOnly: Chance(50));
                    break;
                case 6:
                    Rename();
                    break;
                case 7:
                    Link();
                    break;
                default:
                    Unlink();
                    break;
            }
        }

        foreach (var s in _model.Live.ToList())
        {
            Close(s);
        }

        Record("unmount with the writes still dropped");
        Volatile.Write(ref _injectTarget, null);
        Expect(_fs.Unmount(), "the unmount");
        CheckUnmounted(_cache);
        PowerCutBackTo(captured, orphans, "the filesystem whose writes were dropped");
    }

    private void SyncBeforeFault()
    {
        Record("sync before the fault");
        Expect(_fs.Sync(), "the sync before the fault");
    }

    private FsFile OpenExtra(OracleFile s)
    {
        Expect(_fs.Open(s.Path!, OpenFlags.None, out var h), "the open of another descriptor");
        return h!;
    }

    // syncfs on every descriptor on the filesystem: the error once, then nothing; a descriptor
    // opened after everyone saw it sees nothing.
    private void CheckSyncfs(IReadOnlyList<FsFile> extra, Errno error)
    {
        var all = _model.Live.SelectMany(f => new[] { f.Buffered, f.Direct }).Where(h => h is not null).Select(h => h!).Concat(extra).ToList();
        foreach (var h in all)
        {
            ExpectError(error, h.Syncfs(), "the first syncfs of a descriptor on the filesystem");
        }

        foreach (var h in all)
        {
            Expect(h.Syncfs(), "a second syncfs");
        }

        var named = _model.Live.FirstOrDefault(f => !f.IsOrphan);
        if (named is not null)
        {
            var late = OpenExtra(named);
            Expect(late.Fsync(), "the fsync of a descriptor opened after the error was seen");
            Expect(late.Syncfs(), "the syncfs of a descriptor opened after the error was seen");
            Expect(late.Close(), "the close");
        }
    }

    // The blocks a write of [pos, pos + len) covers, and the model's bytes there before it.
    private (long Start, long End, byte[] Old) Uncertain(OracleFile s, long pos, int len)
    {
        var start = pos / _blockSize * _blockSize;
        var end = Math.Min(MaxFileBytes, (pos + len + _blockSize - 1) / _blockSize * _blockSize);
        return (start, end, s.Data[(int)start..(int)end]);
    }

    // Each byte of [start, end) reads as the model's (new) byte, the old one, or zero; with the
    // cache, and again after dropping it.
    private void CheckUncertain(OracleFile s, long start, long end, byte[] old)
    {
        for (var pass = 0; pass < 2; pass++)
        {
            var buffer = new byte[Math.Max(0, end - start)];
            Expect(Buffered(s).Read(start, buffer, out var read), "the read after the error");
            var expected = Math.Clamp(s.Size - start, 0, buffer.Length);
            if (read != expected)
            {
                Fail($"{s.Label}: read [{start}, {end}) after the error returned {read} bytes, the model has {expected} (size {s.Size})");
            }

            for (var i = 0; i < read; i++)
            {
                var b = buffer[i];
                if (b != s.Data[start + i] && b != old[i] && b != 0)
                {
                    Fail(string.Create(CultureInfo.InvariantCulture,
                        $"{s.Label}: after the failed write, offset {start + i} reads 0x{b:x2}{(pass == 1 ? " (cache dropped)" : string.Empty)}: neither the new 0x{s.Data[start + i]:x2}, the old 0x{old[i]:x2} nor zero"));
                }
            }

            _bytesChecked += read;
            if (pass == 0)
            {
                DropCaches();
            }
        }
    }

    // Rewrites [start, end) with new data and fsyncs it, so that the model is exact again.
    private void Heal(OracleFile s, long start, long end)
    {
        end = Math.Min(end, s.Size);
        if (end <= start)
        {
            return;
        }

        var data = RandomBytes((int)(end - start));
        Record($"rewrite {s.Label} [{start}, {end}) and fsync, after the error");
        var f = Buffered(s);
        Expect(f.Write(start, data, out var written), "the rewrite after the error");
        ExpectBytes(data.Length, written, "the rewrite after the error");
        Expect(f.Fsync(), "the fsync of the rewrite");
        ModelWrite(s, start, data);
    }

    // Closes every handle of a shut-down filesystem: a close has nothing left to report.
    private void CloseAfterShutdown()
    {
        Volatile.Write(ref _injectTarget, null);
        foreach (var s in _model.Live.ToList())
        {
            s.Buffered?.Close();
            s.Direct?.Close();
            s.Buffered = null;
            s.Direct = null;
        }
    }

    // After an unmount: cuts the power, mounts, and checks that the filesystem is what it was
    // when captured — names, link counts, sizes, bytes, no orphan left — and consistent.
    private void PowerCutBackTo(IReadOnlyList<(OracleFile File, OracleFileState State)> captured, IReadOnlyList<OracleFile> orphans, string what)
    {
        _disk.ClearFaults();
        Record($"power cut, mount {what} with a new page cache: back to the last sync");
        _disk.PowerCut();
        _cache = NewCache(_cache.Machine);
        MountFs();
        _model.Restore(captured);
        CheckNamespace();
        foreach (var o in orphans)
        {
            CheckFreed(o);
        }

        foreach (var s in _model.Live.ToList())
        {
            ReadWholeFile(s);
            CheckSize(s);
        }

        CheckFsck("after the power cut and mount");
    }
}
