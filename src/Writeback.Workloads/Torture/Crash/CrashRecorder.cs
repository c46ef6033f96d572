using Writeback.Block;
using Writeback.Fs;
using Writeback.Fs.Format;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Workloads.Torture.Crash;

/// <summary>Runs a <see cref="CrashWorkload"/> on a fresh filesystem and records, per operation,
/// the log entries it made, the model state after it and what it promised: the recorder's half
/// of crash enumeration (the checker's is <see cref="CrashChecker"/>).</summary>
/// <remarks>The starting state (the workload's setup) is made once on a scratch disk, synced and
/// checkpointed; each run mounts a copy of that image with a cold page cache, and only then does
/// the disk start its write log, so that the log's start image is the durable starting state
/// and every file and directory in it is promised. The live filesystem is checked against the model after
/// every operation that changes a size and at the end, so that the crash checks rest on a model
/// that is right. Context: Process context. May sleep.</remarks>
internal sealed partial class CrashRecorder
{
    private const long Whole = long.MaxValue;
    private const int Sector = CrashStamp.SectorSize;
    private readonly Dictionary<string, CrashFile> _files = new(StringComparer.Ordinal);
    private readonly List<CrashFile> _byId = [];
    private readonly SortedDictionary<string, CrashNsEntry> _tree = new(StringComparer.Ordinal);
    private readonly List<CrashNsState> _states = [];
    private readonly List<CrashDirPromise> _promises = [];
    private readonly List<CrashOpSpan> _spans = [];
    private readonly CrashOptions _options;
    private readonly MemDisk _disk;
    private readonly FileSystem _fs;
    private WriteLog? _log;
    private int _gen;
    private int _opIndex;

    private CrashRecorder(CrashOptions options, MemDisk disk, FileSystem fs)
    {
        _options = options;
        _disk = disk;
        _fs = fs;
    }

    private bool Wsync => _options.Promises == CrashPromises.Wsync;

    private int BlockSize => _fs.Meta.Superblock.Geometry.BlockSize;

    private int LogCount => _log?.Entries.Count ?? 0;

    /// <summary>Mounts the starting state of <paramref name="workload"/> on a new disk of
    /// <paramref name="layer"/> (from <paramref name="bases"/>, or made now and added there),
    /// runs the workload's operations and returns the recording.</summary>
    /// <exception cref="CrashWorkloadException">An operation failed or the live filesystem
    /// disagreed with the model.</exception>
    /// <remarks>Every workload starts the same way, whether its starting state was made now or
    /// before: mounted from the synced image with a cold page cache. Context: Process context. May sleep.</remarks>
    public static CrashRecording Record(Machine machine, BlockLayer layer, CrashWorkload workload, CrashOptions options, IDictionary<string, CrashBase> bases)
    {
        var start = EnsureBase(machine, layer, workload, options, bases);
        var r = Mount(machine, layer, options, start.Image, "crashsrc");
        try
        {
            r.Restore(start);
            r.StartLog();
            foreach (var op in workload.Operations)
            {
                var begin = r.LogCount;
                r.Apply(op);
                r._spans.Add(new CrashOpSpan(r._opIndex++, op.ToString(), begin, r.LogCount));
            }

            r.VerifyLive("at the end");
            return new CrashRecording
            {
                Workload = workload,
                Options = options,
                Layer = layer,
                Log = r._log!,
                Entries = r._log!.Entries,
                Files = r._byId,
                States = r._states,
                DirPromises = r._promises,
                Spans = r._spans,
            };
        }
        finally
        {
            r.CloseAll();
        }
    }

    /// <summary>The key of <paramref name="workload"/>'s starting state in a dictionary of bases:
    /// workloads with the same setup share one.</summary>
    public static string BaseKey(CrashWorkload workload) => string.Join("; ", workload.Setup.Select(o => o.ToString()));

    /// <summary>The starting state of <paramref name="workload"/> from <paramref name="bases"/>, or
    /// made now on <paramref name="layer"/> and added there.</summary>
    /// <exception cref="CrashWorkloadException">The setup failed.</exception>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public static CrashBase EnsureBase(Machine machine, BlockLayer layer, CrashWorkload workload, CrashOptions options, IDictionary<string, CrashBase> bases)
    {
        var key = BaseKey(workload);
        if (!bases.TryGetValue(key, out var start))
        {
            start = MakeBase(machine, layer, workload, options);
            bases[key] = start;
        }

        return start;
    }

    // mkfs, the setup, a sync and a checkpoint (as after a clean unmount: the log then holds
    // only the workload's transactions, which is what every crash image's recovery replays).
    private static CrashBase MakeBase(Machine machine, BlockLayer layer, CrashWorkload workload, CrashOptions options)
    {
        var disk = new MemDisk(layer, new DiskOptions { Name = "crashbase", CapacityBytes = options.DeviceBytes });
        FileSystem.Mkfs(disk, FsGeometry.For(options.DeviceBytes, options.BlockSize), options.Completion);
        var r = Mount(machine, layer, options, disk.DurableImage(), "crashbase");
        try
        {
            foreach (var op in workload.Setup)
            {
                r.Apply(op);
            }

            Check(r._fs.Sync(), "the setup's sync");
            Check(r._fs.Meta.Journal.Checkpoint(), "the setup's checkpoint");
            var named = r._byId.Where(f => r._tree.Values.Any(e => e.FileId == f.Id));
            return new CrashBase
            {
                Image = r._disk.DurableImage(),
                Files = [.. named.Select(f => (f.Label, f.Id, f.Ino, new Dictionary<long, int>(f.Content), f.Size))],
                Tree = new SortedDictionary<string, CrashNsEntry>(r._tree, StringComparer.Ordinal),
                Gen = r._gen,
            };
        }
        finally
        {
            r.CloseAll();
        }
    }

    private static CrashRecorder Mount(Machine machine, BlockLayer layer, CrashOptions options, DiskImage image, string name)
    {
        var disk = new MemDisk(layer, new DiskOptions { Name = name, CapacityBytes = options.DeviceBytes }, image);
        var cache = PageCache.Create(machine, new PageCacheOptions { Mode = options.Completion, DirtyWritebackCentisecs = 0, MemoryLimitBytes = 32L << 20 });
        if (FileSystem.Mount(disk, cache, out var fs, out var problem) != Errno.None)
        {
            throw new CrashWorkloadException($"the starting state does not mount: {problem}");
        }

        return new CrashRecorder(options, disk, fs!);
    }

    // The model of the starting state, and a buffered handle on each of its files.
    private void Restore(CrashBase start)
    {
        foreach (var (path, e) in start.Tree)
        {
            _tree[path] = e;
        }

        foreach (var (label, id, ino, content, size) in start.Files)
        {
            var path = start.Tree.First(e => e.Value.FileId == id).Key;
            Check(_fs.Open(path, OpenFlags.None, out var h), $"open {path} of the starting state");
            var f = new CrashFile(id, label, h!) { Size = size };
            _files[label] = f;
            _byId.Add(f);
            foreach (var (s, g) in content)
            {
                f.Content[s] = g;
            }

            if (f.Ino != ino)
            {
                throw new CrashWorkloadException($"the starting state's {path} is inode {f.Ino}, not {ino}");
            }
        }

        _gen = start.Gen;
    }

    private void StartLog()
    {
        _log = _disk.StartWriteLog();

        // The synced starting state: every file's contents and size, and every directory, are promised.
        foreach (var f in _byId)
        {
            f.Ops.Clear();
            f.Ops.Add(new CrashFileOp("the synced start", 0, 0, new Dictionary<long, int>(f.Content), f.Size, 0, Whole, SizeDurable: true, 0));
        }

        _states.Clear();
        _states.Add(new CrashNsState("the synced start", 0, 0, Snapshot()));
        _promises.Clear();
        _promises.Add(new CrashDirPromise(null, 0, 0, "the synced start"));
    }

    private void Apply(CrashOp op)
    {
        switch (op.Kind)
        {
            case CrashOpKind.Create:
                Create(op);
                break;
            case CrashOpKind.Mkdir:
                Mkdir(op);
                break;
            case CrashOpKind.Write:
                Write(op);
                break;
            case CrashOpKind.Truncate:
                Truncate(op);
                break;
            case CrashOpKind.Fallocate:
                Fallocate(op);
                break;
            case CrashOpKind.PunchHole:
                PunchHole(op);
                break;
            case CrashOpKind.Rename:
                Rename(op);
                break;
            case CrashOpKind.Link:
                Link(op);
                break;
            case CrashOpKind.Unlink:
                Unlink(op);
                break;
            case CrashOpKind.Fsync:
            case CrashOpKind.Fdatasync:
                FileSync(op);
                break;
            case CrashOpKind.FsyncDir:
                FsyncDir(op);
                break;
            case CrashOpKind.Sync:
                Sync(op);
                break;
            default:
                throw new CrashWorkloadException($"'{op}': {op.Kind} is not modelled");
        }
    }

    // syncfs: every file's data and size, and every directory's entries.
    private void Sync(CrashOp op)
    {
        var start = LogCount;
        Check(_fs.Sync(), op.ToString());
        var end = LogCount;
        foreach (var f in _byId)
        {
            f.Ops.Add(new CrashFileOp($"{op} ({f.Label})", start, end, new Dictionary<long, int>(f.Content), f.Size, 0, Whole, SizeDurable: true, 0));
        }

        _promises.Add(new CrashDirPromise(null, _states.Count - 1, end, op.ToString()));
    }

    // Model: the journal commits every namespace change synchronously (a preflush before the
    // commit block, the commit block FUA), so by the time fsync of a directory is called, every
    // change to its entries is durable already and there is nothing to write — as XFS's
    // xfs_dir_fsync() finds when the directory's last transaction is already in the log on disk.
    // What it promises is what a directory fsync promises: the directory's entries as they are now.
    private void FsyncDir(CrashOp op)
    {
        var path = op.Path!;
        if (path != "/" && !(_tree.TryGetValue(path, out var e) && e.IsDirectory))
        {
            throw new CrashWorkloadException($"'{op}': {path} is not a directory");
        }

        var err = _fs.Meta.ReadDir(path, out _);
        Check(err, op.ToString());
        _promises.Add(new CrashDirPromise(path, _states.Count - 1, LogCount, op.ToString()));
    }

    private void CloseAll()
    {
        foreach (var h in _byId.SelectMany(f => f.Handles.Values))
        {
            if (!h.IsClosed)
            {
                h.Close();
            }
        }
    }

    private static void Check(Errno err, string what)
    {
        if (err != Errno.None)
        {
            throw new CrashWorkloadException($"'{what}' failed: {err}");
        }
    }
}
