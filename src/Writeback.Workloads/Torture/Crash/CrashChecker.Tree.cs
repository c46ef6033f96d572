namespace Writeback.Workloads.Torture.Crash;

/// <summary>The tree checks: the entries of each directory (POSIX promises) or the whole tree
/// (wsync promises) against the namespace states the workload went through.</summary>
internal sealed partial class CrashChecker
{
    // POSIX: each directory holds the entries it had in some namespace state from its last
    // completed fsync (or the last sync, or the synced start) to the operation in progress at the
    // crash. Returns, for every file name matched, the model's file.
    private Dictionary<string, int> CheckDirectories(SortedDictionary<string, (ulong Ino, bool IsDirectory)> tree, int crashAt, Action<string> problem)
    {
        var owners = new Dictionary<string, int>(StringComparer.Ordinal);
        var last = LastStarted(crashAt);
        var dirs = new SortedSet<string>(StringComparer.Ordinal) { "/" };
        dirs.UnionWith(tree.Where(e => e.Value.IsDirectory).Select(e => e.Key));
        for (var s = 0; s <= last; s++)
        {
            dirs.UnionWith(_r.States[s].Tree.Where(e => e.Value.IsDirectory).Select(e => e.Key));
        }

        foreach (var dir in dirs)
        {
            var promise = _r.DirPromises.Where(p => p.End <= crashAt && (p.Dir is null || p.Dir == dir)).MaxBy(p => p.State);
            var got = Entries(tree.Select(e => (e.Key, e.Value.Ino, e.Value.IsDirectory)), dir);
            var match = -1;
            for (var s = last; s >= promise.State && match < 0; s--)
            {
                if (Same(got, Entries(_r.States[s].Tree.Select(e => (e.Key, e.Value.Ino, e.Value.IsDirectory)), dir)))
                {
                    match = s;
                }
            }

            if (match < 0)
            {
                var allowed = Enumerable.Range(promise.State, last - promise.State + 1)
                    .Select(s => Describe(Entries(_r.States[s].Tree.Select(e => (e.Key, e.Value.Ino, e.Value.IsDirectory)), dir)))
                    .Distinct(StringComparer.Ordinal);
                problem($"(tree) {dir} holds {Describe(got)}; '{promise.Name}' promised its entries as they were after '{_r.States[promise.State].Name}', so it must hold {string.Join(" or ", allowed)}");
                continue;
            }

            foreach (var name in got?.Keys.ToList() ?? [])
            {
                var path = (dir == "/" ? string.Empty : dir) + "/" + name;
                var e = _r.States[match].Tree[path];
                if (!e.IsDirectory)
                {
                    owners[path] = e.FileId;
                }
            }
        }

        Identify(tree, last, owners);
        return owners;
    }

    // Files under a name no matched state explains are still the model's files (found by their
    // inode in the states before the crash), and their data is still held to its promises.
    private void Identify(SortedDictionary<string, (ulong Ino, bool IsDirectory)> tree, int last, Dictionary<string, int> owners)
    {
        foreach (var (path, (ino, isDir)) in tree)
        {
            if (isDir || owners.ContainsKey(path))
            {
                continue;
            }

            for (var s = last; s >= 0; s--)
            {
                var e = _r.States[s].Tree.Values.FirstOrDefault(x => x.Ino == ino && !x.IsDirectory);
                if (e.FileId != 0)
                {
                    owners[path] = e.FileId;
                    break;
                }
            }
        }
    }

    // Wsync: the whole tree is the tree after the last namespace operation that returned, or
    // after one in progress at the crash.
    private Dictionary<string, int> CheckWholeTree(SortedDictionary<string, (ulong Ino, bool IsDirectory)> tree, int crashAt, Action<string> problem)
    {
        var last = LastStarted(crashAt);
        var floor = Math.Max(0, FindLast(_r.States, s => s.End <= crashAt));
        for (var s = last; s >= floor; s--)
        {
            var state = _r.States[s].Tree;
            if (state.Count == tree.Count && tree.All(e => state.TryGetValue(e.Key, out var want) && want.Ino == e.Value.Ino && want.IsDirectory == e.Value.IsDirectory))
            {
                return state.Where(e => !e.Value.IsDirectory).ToDictionary(e => e.Key, e => e.Value.FileId, StringComparer.Ordinal);
            }
        }

        var allowed = Enumerable.Range(floor, last - floor + 1).Select(s => DescribeTree(_r.States[s].Tree.Select(e => (e.Key, e.Value.Ino, e.Value.IsDirectory))));
        problem($"(tree) the tree is {DescribeTree(tree.Select(e => (e.Key, e.Value.Ino, e.Value.IsDirectory)))}; after '{_r.States[floor].Name}' returned it must be {string.Join(" or ", allowed)}");
        var owners = new Dictionary<string, int>(StringComparer.Ordinal);
        Identify(tree, last, owners);
        return owners;
    }

    // The last namespace state whose operation had started before the crash (the start at least).
    private int LastStarted(int crashAt) => Math.Max(0, FindLast(_r.States, s => s.Start < crashAt));

    private static int FindLast<T>(IReadOnlyList<T> list, Func<T, bool> match)
    {
        for (var i = list.Count - 1; i >= 0; i--)
        {
            if (match(list[i]))
            {
                return i;
            }
        }

        return -1;
    }

    // The entries of `dir` (name → inode, is a directory), or null if the tree has no such directory.
    private static SortedDictionary<string, (ulong Ino, bool IsDirectory)>? Entries(IEnumerable<(string Path, ulong Ino, bool IsDirectory)> tree, string dir)
    {
        var prefix = dir == "/" ? "/" : dir + "/";
        var entries = new SortedDictionary<string, (ulong, bool)>(StringComparer.Ordinal);
        var exists = dir == "/";
        foreach (var (path, ino, isDir) in tree)
        {
            exists |= isDir && path == dir;
            if (path.StartsWith(prefix, StringComparison.Ordinal) && path.IndexOf('/', prefix.Length) < 0)
            {
                entries[path[prefix.Length..]] = (ino, isDir);
            }
        }

        return exists ? entries : null;
    }

    private static bool Same(SortedDictionary<string, (ulong Ino, bool IsDirectory)>? a, SortedDictionary<string, (ulong Ino, bool IsDirectory)>? b) =>
        a is null || b is null ? a is null && b is null : a.Count == b.Count && a.All(e => b.TryGetValue(e.Key, out var v) && v == e.Value);

    private static string Describe(SortedDictionary<string, (ulong Ino, bool IsDirectory)>? entries) =>
        entries is null ? "(no such directory)" : "{" + string.Join(", ", entries.Select(e => $"{e.Key}{(e.Value.IsDirectory ? "/" : string.Empty)}#{e.Value.Ino}")) + "}";

    private static string DescribeTree(IEnumerable<(string Path, ulong Ino, bool IsDirectory)> tree) =>
        "{" + string.Join(", ", tree.Select(e => $"{e.Path}{(e.IsDirectory ? "/" : string.Empty)}#{e.Ino}")) + "}";
}
