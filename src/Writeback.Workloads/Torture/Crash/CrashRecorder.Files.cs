using Writeback.Fs;
using Writeback.Kernel;

namespace Writeback.Workloads.Torture.Crash;

/// <summary>The data operations and file syncs, each recorded with what it promised.</summary>
internal sealed partial class CrashRecorder
{
    private void Write(CrashOp op)
    {
        var f = FileOf(op);
        var handle = Handle(f, op.Flags, op);
        if ((op.Flags & OpenFlags.Direct) != 0 && (op.Offset % BlockSize != 0 || op.Length % BlockSize != 0))
        {
            throw new CrashWorkloadException($"'{op}': a direct write must be aligned to the block size ({BlockSize})");
        }

        var gen = ++_gen;
        var data = CrashStamp.Data(f.Id, op.Offset, op.Length, gen);
        var synced = (op.Flags & (OpenFlags.Dsync | OpenFlags.Sync)) != 0;
        var end = op.Offset + op.Length;
        FileOp(f, $"{op} gen {gen}", () =>
        {
            var err = handle.Write(op.Offset, data, out var written);
            return err == Errno.None && written != op.Length ? Errno.EIO : err;
        }, () =>
        {
            for (var s = op.Offset / Sector; s < end / Sector; s++)
            {
                f.Content[s] = gen;
            }

            f.Size = Math.Max(f.Size, end);
        }, synced ? (op.Offset / Sector, end / Sector) : (0, 0), sizeDurable: false, synced ? end : 0);
    }

    private void Truncate(CrashOp op)
    {
        var f = FileOf(op);
        var size = op.Length;
        var down = size < f.Size;

        // Wsync: the size change is one committed transaction; going down, the blocks past the
        // new EOF block are freed by it, so they read as holes from then on.
        var freedFrom = RoundUp(size, BlockSize) / Sector;
        FileOp(f, op.ToString(), () => f.Main.Truncate(size), () =>
        {
            Cut(f, size / Sector, Whole);
            f.Size = size;
        }, Wsync && down ? (freedFrom, Whole) : (0, 0), sizeDurable: Wsync, 0);
    }

    private void Fallocate(CrashOp op)
    {
        var f = FileOf(op);
        var extends = !op.KeepSize && op.Offset + op.Length > f.Size;
        FileOp(f, op.ToString(), () => f.Main.Fallocate(op.Offset, op.Length, op.KeepSize), () =>
        {
            if (extends)
            {
                f.Size = op.Offset + op.Length;
            }
        }, (0, 0), sizeDurable: Wsync && extends, 0);
    }

    private void PunchHole(CrashOp op)
    {
        var f = FileOf(op);

        // The whole blocks of the range are freed by a committed transaction; the partial ones
        // are zeroed in the page cache only.
        var first = RoundUp(op.Offset, BlockSize) / Sector;
        var end = (op.Offset + op.Length) / BlockSize * BlockSize / Sector;
        FileOp(f, op.ToString(), () => f.Main.PunchHole(op.Offset, op.Length), () => Cut(f, op.Offset / Sector, (op.Offset + op.Length) / Sector),
            Wsync && end > first ? (first, end) : (0, 0), sizeDurable: false, 0);
    }

    private void FileSync(CrashOp op)
    {
        var f = FileOf(op);
        FileOp(f, op.ToString(), op.Kind == CrashOpKind.Fsync ? f.Main.Fsync : f.Main.Fdatasync, () => { }, (0, Whole), sizeDurable: true, 0);
        if (f.Main.Inode.DiskSize != f.Size)
        {
            throw new CrashWorkloadException($"live: after '{op}' returned, the on-disk size of {f.Label} is {f.Main.Inode.DiskSize}, but its size is {f.Size}");
        }
    }

    // Runs a data operation, updates the model, checks the live size against it, and records
    // the operation in the file's history with what it promised.
    private void FileOp(CrashFile f, string name, Func<Errno> action, Action model, (long From, long To) cover, bool sizeDurable, long dsyncEnd)
    {
        var start = LogCount;
        Check(action(), name);
        model();
        if (f.Main.Size != f.Size)
        {
            throw new CrashWorkloadException($"live: after '{name}', {f.Label} has size {f.Main.Size}, the model {f.Size}");
        }

        f.Ops.Add(new CrashFileOp(name, start, LogCount, new Dictionary<long, int>(f.Content), f.Size, cover.From, cover.To, sizeDurable, dsyncEnd));
    }

    /// <summary>Reads every file back through its buffered handle and compares it with the model.</summary>
    private void VerifyLive(string when)
    {
        foreach (var f in _byId)
        {
            var data = new byte[f.Size];
            Check(f.Main.Read(0, data, out var read), $"read {f.Label} {when}");
            if (read != f.Size)
            {
                throw new CrashWorkloadException($"live: {when}, {f.Label} reads {read} of its {f.Size} bytes");
            }

            for (long s = 0; s * Sector < f.Size; s++)
            {
                var c = CrashStamp.Read(data.AsSpan((int)(s * Sector), Sector));
                var gen = f.Content.GetValueOrDefault(s);
                var ok = gen == 0 ? c.Kind == CrashSectorKind.Zeros : c.Kind == CrashSectorKind.Stamp && c.FileId == f.Id && c.FileSector == s && c.Gen == gen;
                if (!ok)
                {
                    throw new CrashWorkloadException($"live: {when}, {f.Label} sector {s} holds {c}, the model generation {gen}");
                }
            }
        }
    }

    private CrashFile FileOf(CrashOp op) =>
        _files.TryGetValue(op.File!, out var f) ? f : throw new CrashWorkloadException($"'{op}': no file is labelled {op.File}");

    // The file's handle opened with `flags`, opened now through one of its names if need be.
    private FsFile Handle(CrashFile f, OpenFlags flags, CrashOp op)
    {
        flags &= OpenFlags.Direct | OpenFlags.Dsync | OpenFlags.Sync;
        if (f.Handles.TryGetValue(flags, out var h))
        {
            return h;
        }

        var path = _tree.FirstOrDefault(e => e.Value.FileId == f.Id).Key
            ?? throw new CrashWorkloadException($"'{op}': {f.Label} has no name to open it by with {flags}");
        Check(_fs.Open(path, flags, out h), $"open {path} with {flags}");
        f.Handles[flags] = h!;
        return h!;
    }

    private static void Cut(CrashFile f, long from, long to)
    {
        foreach (var s in f.Content.Keys.Where(s => s >= from && s < to).ToList())
        {
            f.Content.Remove(s);
        }
    }

    private static long RoundUp(long value, long unit) => (value + unit - 1) / unit * unit;
}
