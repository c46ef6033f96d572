namespace Writeback.Workloads.Torture;

/// <summary>What the filesystem must hold, by the oracle: a fixed set of names in the root
/// directory, each naming a file or nothing, and the orphans — files that lost their last name
/// while a handle held them open, readable and writable through that handle until it closes.</summary>
/// <remarks>Unlink and rename model POSIX: the handles of a file follow the inode, not the name; a
/// file renamed over or unlinked while open keeps its data until its last handle closes, and
/// then it is gone. A name that names nothing holds an unborn file (<see cref="OracleFile.Exists"/>
/// false) that an open with O_CREAT brings into being.</remarks>
public sealed class OracleModel
{
    /// <summary>The largest file: every operation's range ends by here.</summary>
    public const long MaxFileBytes = 1L << 20;

    private readonly OracleFile[] _named;
    private readonly List<OracleFile> _orphans = [];
    private int _nextId;

    /// <summary>Creates a model of <paramref name="names"/> names, /fsx0 upwards, each naming nothing yet.</summary>
    public OracleModel(int names = 3)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(names, 1);
        _named = new OracleFile[names];
        Paths = [.. Enumerable.Range(0, names).Select(i => $"/fsx{i}")];
        for (var i = 0; i < names; i++)
        {
            _named[i] = Unborn(i);
        }
    }

    /// <summary>The names, in order.</summary>
    public IReadOnlyList<string> Paths { get; }

    /// <summary>The orphans: unnamed files held open.</summary>
    public IReadOnlyList<OracleFile> Orphans => _orphans;

    /// <summary>Every file that exists, once each: the named ones in name order (a file with
    /// several names at its first), then the orphans.</summary>
    public IEnumerable<OracleFile> Live => _named.Where(f => f.Exists).Distinct().Concat(_orphans);

    /// <summary>What name <paramref name="index"/> holds (an unborn file if it names nothing).</summary>
    public OracleFile At(int index) => _named[index];

    /// <summary>The index of <paramref name="path"/> among <see cref="Paths"/>, or -1.</summary>
    public int IndexOf(string path)
    {
        for (var i = 0; i < _named.Length; i++)
        {
            if (string.Equals(Paths[i], path, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Takes <c>rename(from, to)</c> of two existing-or-not names; a file that was at
    /// <paramref name="to"/> loses that name. Returns that file if it lost its last name, or null.</summary>
    /// <remarks>As rename(2): when both names are links to the same file, nothing changes.</remarks>
    internal OracleFile? Rename(int from, int to)
    {
        if (from == to || !_named[from].Exists || ReferenceEquals(_named[from], _named[to]))
        {
            return null;
        }

        var victim = _named[to].Exists ? _named[to] : null;
        if (victim is not null)
        {
            Unname(victim, to);
        }

        // The moving file keeps its identity, handles and bytes: a renamed inode is the same inode.
        var moving = _named[from];
        moving.Unname(Paths[from]);
        moving.AddName(Paths[to]);
        _named[to] = moving;
        _named[from] = Unborn(from);
        return victim is { Names.Count: 0 } ? victim : null;
    }

    /// <summary>Takes <c>link(from, to)</c>: name <paramref name="to"/>, which names nothing,
    /// becomes another name of the file at <paramref name="from"/>.</summary>
    internal void Link(int from, int to)
    {
        var file = _named[from];
        file.AddName(Paths[to]);
        _named[to] = file;
    }

    /// <summary>Takes <c>unlink(path)</c> of name <paramref name="index"/>, which names a file.</summary>
    internal void Unlink(int index)
    {
        Unname(_named[index], index);
        _named[index] = Unborn(index);
    }

    /// <summary>Takes the close of an orphan's last handle: it is gone.</summary>
    internal void Released(OracleFile file)
    {
        if (file.IsOrphan && !file.IsOpen)
        {
            _orphans.Remove(file);
            file.Exists = false;
        }
    }

    /// <summary>What a synced image holds: every name's file (orphans do not outlive a mount).</summary>
    internal IReadOnlyList<(OracleFile File, OracleFileState State)> Capture() =>
        [.. _named.Distinct().Select(f => (f, f.Capture()))];

    /// <summary>Goes back to <paramref name="captured"/>, after a power cut lost every write since
    /// it was taken; every handle is closed by then, so no orphan is left.</summary>
    internal void Restore(IReadOnlyList<(OracleFile File, OracleFileState State)> captured)
    {
        foreach (var o in _orphans)
        {
            o.Exists = false;
        }

        _orphans.Clear();
        foreach (var (file, state) in captured)
        {
            file.Restore(state);
        }

        for (var i = 0; i < _named.Length; i++)
        {
            _named[i] = captured.First(c => c.State.Names.Contains(Paths[i], StringComparer.Ordinal)).File;
        }
    }

    private void Unname(OracleFile file, int index)
    {
        file.Unname(Paths[index]);
        if (file.Names.Count == 0)
        {
            Detach(file);
        }
    }

    private void Detach(OracleFile file)
    {
        if (file.IsOpen)
        {
            _orphans.Add(file);
        }
        else
        {
            file.Exists = false;
        }
    }

    private OracleFile Unborn(int index) => new(_nextId++, Paths[index]);
}
