using System.Globalization;
using System.Threading;
using Writeback.Fs;
using Writeback.Kernel;

namespace Writeback.Workloads.Torture;

/// <summary>Files and names: the full mix's step, appends, rename, unlink, opening and closing
/// handles, unmount and mount, the final checks, and the namespace check.</summary>
public sealed partial class OracleRun
{
    // The full mix: a name's file, or (a quarter of the time, when there are any) an orphan.
    private void StepFull()
    {
        var s = _model.At(Next(Files));
        if (_model.Orphans.Count > 0 && Chance(25))
        {
            s = _model.Orphans[Next(_model.Orphans.Count)];
        }

        if (_options.Faults && Next(16) == 0)
        {
            FaultStep(s);
            return;
        }

        var pick = Next(100);
        if (s.IsOrphan && s.Direct is null && pick is >= 38 and < 53)
        {
            // An orphan cannot be opened again: direct I/O without its direct handle becomes buffered.
            pick = pick < 48 ? 0 : 30;
        }

        switch (pick)
        {
            case < 14:
                BufferedWrite(s, dontcache: false);
                break;
            case < 18:
                BufferedWrite(s, dontcache: true);
                break;
            case < 25:
                Append(s);
                break;
            case < 38:
                BufferedRead(s);
                break;
            case < 45:
                DirectWrite(s);
                break;
            case < 48:
                DirectWriteAsync(s);
                break;
            case < 53:
                DirectRead(s);
                break;
            case < 58:
                Truncate(s);
                break;
            case < 62:
                Fallocate(s);
                break;
            case < 67:
                PunchHole(s);
                break;
            case < 70:
                Fsync(s, dataOnly: false);
                break;
            case < 73:
                Fsync(s, dataOnly: true);
                break;
            case < 79:
                Reopen(s);
                break;
            case < 81:
                Rename();
                break;
            case < 84:
                Link();
                break;
            case < 87:
                Unlink();
                break;
            case < 90:
                DropCaches();
                break;
            case < 94:
                Sync();
                break;
            case < 98:
                ReadWholeFile(s);
                break;
            default:
                Remount();
                break;
        }
    }

    // A write at the file's size: buffered (sometimes dontcache), or direct when the size is
    // block-aligned; at the largest size, a read at EOF instead.
    private void Append(OracleFile s)
    {
        var len = (int)Math.Min(RandomLength(), MaxFileBytes - s.Size);
        if (len == 0)
        {
            Record($"append {s.Label}: at the largest size, read at EOF instead");
            CheckRead(s, Buffered(s), s.Size, 1);
            return;
        }

        var direct = s.Size % _blockSize == 0 && (!s.IsOrphan || s.Direct is not null) && Chance(30);
        if (direct)
        {
            len = Math.Max(_blockSize, len / _blockSize * _blockSize);
        }

        var dontcache = !direct && Chance(20);
        var data = RandomBytes(len);
        var f = direct ? Direct(s) : Buffered(s);
        var pos = s.Size;
        Record($"{(direct ? "direct append" : dontcache ? "dontcache append" : "append")} {s.Label} [{pos}, {pos + len}) len {len}{FlagText(f)}");
        var err = f.Write(pos, data, out var written, dontcache);
        Expect(err, "the append");
        ExpectBytes(len, written, "the append");
        ModelWrite(s, pos, data);
        _bufferedBytesWritten += direct ? 0 : len;
    }

    private void Rename()
    {
        var from = Next(Files);
        var to = Next(Files);
        var src = _model.At(from);
        var dst = _model.At(to);
        var same = src.Exists && ReferenceEquals(src, dst);
        var replacing = src.Exists && !same && dst.Exists;
        if (replacing && dst.Names.Count == 1)
        {
            PrepareUnname(dst);
        }

        var note = !src.Exists ? " (no such file: ENOENT)"
            : from == to ? " (onto itself: nothing changes)"
            : same ? " (two links to one file: nothing changes)"
            : replacing ? $" replacing file #{dst.Id}{(dst.Names.Count > 1 ? ", which keeps another name" : dst.IsOpen ? ", held open: an orphan until closed" : string.Empty)}"
            : string.Empty;
        Record($"rename {_model.Paths[from]} -> {_model.Paths[to]}{note}");
        var err = _fs.Meta.Rename(_model.Paths[from], _model.Paths[to]);
        if (!src.Exists)
        {
            ExpectError(Errno.ENOENT, err, "the rename of a missing file");
            return;
        }

        Expect(err, "the rename");
        if (!Skip("rename") && _model.Rename(from, to) is { IsOrphan: false } gone)
        {
            CheckFreed(gone);
        }

        CheckNamespace();
    }

    // A hard link from one name to another; EEXIST onto a name in use, ENOENT from a name
    // naming nothing.
    private void Link()
    {
        var from = Next(Files);
        var to = Next(Files);
        var src = _model.At(from);
        var dst = _model.At(to);
        var note = !src.Exists ? " (no such file: ENOENT)" : dst.Exists ? " (the new name is in use: EEXIST)" : $" (file #{src.Id} gets name {src.Names.Count + 1})";
        Record($"link {_model.Paths[from]} -> {_model.Paths[to]}{note}");
        var err = _fs.Meta.Link(_model.Paths[from], _model.Paths[to]);
        if (!src.Exists || dst.Exists)
        {
            ExpectError(!src.Exists ? Errno.ENOENT : Errno.EEXIST, err, !src.Exists ? "the link of a missing file" : "the link onto a name in use");
            return;
        }

        Expect(err, "the link");
        if (!Skip("link"))
        {
            _model.Link(from, to);
        }

        CheckNamespace();
    }

    private void Unlink()
    {
        var index = Next(Files);
        var s = _model.At(index);
        var last = s.Exists && s.Names.Count == 1;
        if (last)
        {
            PrepareUnname(s);
        }

        Record($"unlink {_model.Paths[index]}{(!s.Exists ? " (no such file: ENOENT)" : !last ? $" (file #{s.Id} keeps another name)" : s.IsOpen ? $" (file #{s.Id}, held open: an orphan until closed)" : string.Empty)}");
        var err = _fs.Meta.Unlink(_model.Paths[index]);
        if (!s.Exists)
        {
            ExpectError(Errno.ENOENT, err, "the unlink of a missing file");
            return;
        }

        Expect(err, "the unlink");
        if (!Skip("unlink"))
        {
            _model.Unlink(index);
            if (last && !s.IsOrphan)
            {
                CheckFreed(s);
            }
        }

        CheckNamespace();
    }

    // A file about to lose its name: if a handle is open it becomes an orphan, and the model
    // keeps a buffered handle on every orphan; with none open, it is sometimes opened first so
    // that orphans are common.
    private void PrepareUnname(OracleFile s)
    {
        if (s.Buffered is null && (s.Direct is not null || Chance(40)))
        {
            Buffered(s);
        }
    }

    private void Reopen(OracleFile s)
    {
        Record($"close {s.Label}");
        Close(s);
        if (s.Exists && Chance(10))
        {
            Record($"open {s.Label} O_TRUNC");
            Expect(_fs.Open(s.Path!, OpenFlags.Truncate, out var f), "the open with O_TRUNC");
            s.Buffered = f;
            if (!Skip("truncate"))
            {
                s.Truncate(0);
            }
        }
    }

    private void Remount()
    {
        foreach (var s in _model.Live.ToList())
        {
            Close(s);
        }

        var cut = Chance(50);
        var fresh = Chance(50);
        Record($"unmount{(cut ? ", power cut" : string.Empty)}, mount with {(fresh ? "a new" : "the same")} page cache");
        Volatile.Write(ref _injectTarget, null);
        Expect(_fs.Unmount(), "the unmount");
        CheckUnmounted(_cache);
        if (cut)
        {
            _disk.PowerCut();
        }

        if (fresh)
        {
            _cache = NewCache(_cache.Machine);
        }

        MountFs();
        if (FullMix)
        {
            CheckNamespace();
        }

        foreach (var s in _model.Live)
        {
            var size = Buffered(s).Size;
            if (size != s.Size)
            {
                Fail($"{s.Label}: size {size} after the mount, the model has {s.Size}");
            }
        }
    }

    private void Finish()
    {
        Record("final sync and fsck");
        Expect(_fs.Sync(), "the final sync");
        CheckFsck("before the power cut");
        _fs.DropCaches();
        foreach (var s in _model.Live.ToList())
        {
            ReadWholeFile(s);
        }

        foreach (var s in _model.Live.ToList())
        {
            Close(s);
        }

        Record("final unmount, power cut, mount with a new page cache");
        Volatile.Write(ref _injectTarget, null);
        Expect(_fs.Unmount(), "the unmount");
        CheckUnmounted(_cache);
        _disk.PowerCut();
        _cache = NewCache(_cache.Machine);
        MountFs();
        if (FullMix)
        {
            CheckNamespace();
        }

        foreach (var s in _model.Live)
        {
            ReadWholeFile(s);
            CheckSize(s);
        }

        CheckFsck("after the power cut and mount");
        foreach (var s in _model.Live.ToList())
        {
            Close(s);
        }

        Volatile.Write(ref _injectTarget, null);
        Expect(_fs.Unmount(), "the final unmount");
        CheckUnmounted(_cache);
    }

    private FsFile Buffered(OracleFile s)
    {
        if (s.Buffered is { } open)
        {
            return open;
        }

        if (s.IsOrphan)
        {
            throw new InvalidOperationException($"oracle bug: orphan {s.Label} has no buffered handle");
        }

        var flags = OpenFlags.Create | (Next(20) switch { 0 => OpenFlags.Dsync, 1 => OpenFlags.Sync, _ => OpenFlags.None });
        Record($"open {s.Label} {flags}");
        Expect(_fs.Open(s.Path!, flags, out var f), "the open");
        Opened(s, f!);
        s.Buffered = f;
        Volatile.Write(ref _injectTarget, f!.Aops.Mapping);
        return f;
    }

    private FsFile Direct(OracleFile s)
    {
        if (s.Direct is { } open)
        {
            return open;
        }

        if (s.IsOrphan)
        {
            throw new InvalidOperationException($"oracle bug: orphan {s.Label} has no direct handle");
        }

        var flags = OpenFlags.Create | OpenFlags.Direct | (Chance(20) ? OpenFlags.Dsync : OpenFlags.None);
        Record($"open {s.Label} {flags}");
        Expect(_fs.Open(s.Path!, flags, out var f), "the open");
        Opened(s, f!);
        s.Direct = f;
        return f!;
    }

    // A handle on a name: the file exists now, and it must be the inode the model knows.
    private void Opened(OracleFile s, FsFile f)
    {
        var ino = f.Inode.Number;
        if (s.Ino is { } known && known != ino && s.Exists)
        {
            Fail($"{s.Label}: the open found inode {ino}, the model has inode {known} (file #{s.Id})");
        }

        s.Exists = true;
        s.Ino = ino;
    }

    private void Close(OracleFile s)
    {
        var orphan = s.IsOrphan;
        if (s.Buffered is { } f)
        {
            Expect(f.Close(), "the close");
            s.Buffered = null;
            if (ReferenceEquals(Volatile.Read(ref _injectTarget), f.Aops.Mapping) && orphan)
            {
                Volatile.Write(ref _injectTarget, null);
            }
        }

        if (s.Direct is { } d)
        {
            Expect(d.Close(), "the close");
            s.Direct = null;
        }

        if (orphan)
        {
            _model.Released(s);
            CheckFreed(s);
        }
    }

    // A file with no name and no handle is gone: its inode must be free.
    private void CheckFreed(OracleFile s)
    {
        if (s.Ino is not { } ino)
        {
            return;
        }

        Expect(_fs.Meta.Inodes.Read(ino, out var core, out _), "the inode read");
        if (core is not null)
        {
            Fail(string.Create(CultureInfo.InvariantCulture, $"{s.Label}: inode {ino} is still in use (nlink {core.Nlink}) after the file lost its last name and handle"));
        }
    }

    // The root directory holds exactly the model's names, each naming the model's inode, and
    // every orphan is an inode the filesystem holds unlinked.
    private void CheckNamespace()
    {
        Expect(_fs.Meta.ReadDir("/", out var entries), "the readdir of /");
        var actual = entries.Select(e => "/" + e.Name).Order(StringComparer.Ordinal).ToList();
        var expected = Enumerable.Range(0, Files).Where(i => _model.At(i).Exists).Select(i => _model.Paths[i]).ToList();
        if (!actual.SequenceEqual(expected, StringComparer.Ordinal))
        {
            Fail($"the root directory holds [{string.Join(", ", actual)}], the model has [{string.Join(", ", expected)}]");
        }

        foreach (var (name, ino) in entries)
        {
            var s = _model.At(_model.IndexOf("/" + name));
            if (s.Ino is { } known && known != ino)
            {
                Fail(string.Create(CultureInfo.InvariantCulture, $"/{name} names inode {ino}, the model has inode {known} (file #{s.Id})"));
            }
        }

        // By lookup, which reads a cached inode's in-core record: the disk copy may be mid-commit.
        foreach (var s in _model.Live.Where(f => !f.IsOrphan && f.Ino is not null))
        {
            Expect(_fs.Meta.Lookup(s.Path!, out var core), "the lookup");
            if (core is null || core.Nlink != s.Names.Count)
            {
                Fail(string.Create(CultureInfo.InvariantCulture, $"{s.Label}: inode {s.Ino} has link count {core?.Nlink.ToString(CultureInfo.InvariantCulture) ?? "none (free)"}, the model has {s.Names.Count} name(s): {string.Join(", ", s.Names)}"));
            }
        }

        foreach (var o in _model.Orphans)
        {
            if (o.Ino is { } ino && !_fs.Meta.IsHeldOrphan(ino))
            {
                Fail(string.Create(CultureInfo.InvariantCulture, $"{o.Label}: inode {ino} is not an unlinked inode held open, but the model holds it open with no name"));
            }
        }
    }
}
