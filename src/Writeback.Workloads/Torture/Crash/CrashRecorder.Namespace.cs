using Writeback.Fs;
using Writeback.Kernel;

namespace Writeback.Workloads.Torture.Crash;

/// <summary>The namespace operations, each recorded as the tree it leaves.</summary>
internal sealed partial class CrashRecorder
{
    private void Create(CrashOp op)
    {
        var label = op.File!;
        if (_files.ContainsKey(label))
        {
            throw new CrashWorkloadException($"'{op}': a file is labelled {label} already");
        }

        var start = LogCount;
        Check(_fs.Open(op.Path!, OpenFlags.Create | OpenFlags.Exclusive, out var h), op.ToString());
        var f = new CrashFile(_byId.Count == 0 ? 1 : _byId.Max(x => x.Id) + 1, label, h!);
        _files[label] = f;
        _byId.Add(f);
        f.Ops.Add(new CrashFileOp(op.ToString(), start, LogCount, new Dictionary<long, int>(), 0, 0, Whole, SizeDurable: true, 0));
        _tree[op.Path!] = new CrashNsEntry(f.Ino, f.Id, IsDirectory: false);
        AddState(op, start);
    }

    private void Mkdir(CrashOp op)
    {
        var start = LogCount;
        Check(_fs.Meta.Mkdir(op.Path!), op.ToString());
        Check(_fs.Meta.Lookup(op.Path!, out var dir), $"lookup {op.Path}");
        _tree[op.Path!] = new CrashNsEntry(dir!.Number, 0, IsDirectory: true);
        AddState(op, start);
    }

    private void Rename(CrashOp op)
    {
        var from = op.Path!;
        var to = op.NewPath!;
        var moving = Entry(op, from);
        var start = LogCount;
        Check(_fs.Meta.Rename(from, to), op.ToString());
        if (_tree.TryGetValue(to, out var replaced) && replaced.IsDirectory)
        {
            // An empty directory replaced by a directory: nothing under it moves.
            _tree.Remove(to);
        }

        var moved = _tree.Where(e => e.Key == from || e.Key.StartsWith(from + "/", StringComparison.Ordinal)).ToList();
        foreach (var (path, _) in moved)
        {
            _tree.Remove(path);
        }

        foreach (var (path, e) in moved)
        {
            _tree[to + path[from.Length..]] = e;
        }

        _tree[to] = moving;
        AddState(op, start);
    }

    private void Link(CrashOp op)
    {
        var e = Entry(op, op.Path!);
        var start = LogCount;
        Check(_fs.Meta.Link(op.Path!, op.NewPath!), op.ToString());
        _tree[op.NewPath!] = e;
        AddState(op, start);
    }

    private void Unlink(CrashOp op)
    {
        Entry(op, op.Path!);
        var start = LogCount;
        Check(_fs.Meta.Unlink(op.Path!), op.ToString());
        _tree.Remove(op.Path!);
        AddState(op, start);
    }

    private CrashNsEntry Entry(CrashOp op, string path) =>
        _tree.TryGetValue(path, out var e) ? e : throw new CrashWorkloadException($"'{op}': the model has nothing at {path}");

    // Wsync: the operation's transaction committed before it returned; Posix: a later fsync of
    // the directory, or a sync, promises it. Either way the tree it left is a state to match.
    private void AddState(CrashOp op, int start) => _states.Add(new CrashNsState(op.ToString(), start, LogCount, Snapshot()));

    private SortedDictionary<string, CrashNsEntry> Snapshot() => new(_tree, StringComparer.Ordinal);
}
