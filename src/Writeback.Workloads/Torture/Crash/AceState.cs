namespace Writeback.Workloads.Torture.Crash;

/// <summary>What an ACE sequence has done to the starting tree so far — each file's names,
/// newest last, and its size — so that each operation gets its concrete arguments (an append's
/// offset, a rename's source) and an invalid one (renaming a file with no name) is found.</summary>
internal sealed class AceState
{
    private const long K = 1024;
    private readonly Dictionary<string, List<string>> _names = new(StringComparer.Ordinal) { ["A"] = ["/A"], ["B"] = ["/D/B"] };
    private readonly Dictionary<string, long> _sizes = new(StringComparer.Ordinal) { ["A"] = 16 * K, ["B"] = 16 * K };
    private int _fresh;

    /// <summary>The operations of <paramref name="sequence"/> (indexes into
    /// <see cref="AceWorkloads.Operations"/>) with a persistence operation appended if the last is
    /// not one; false if an operation is not valid where it stands.</summary>
    public bool TryApplyAll(int[] sequence, out List<CrashOp> ops)
    {
        ops = [];
        foreach (var i in sequence)
        {
            var op = TryApply(AceWorkloads.Operations[i]);
            if (op is null)
            {
                return false;
            }

            ops.Add(op);
        }

        var last = ops[^1];
        if (!last.IsPersistence)
        {
            ops.Add(last.Kind switch
            {
                CrashOpKind.Rename or CrashOpKind.Link => new CrashOp { Kind = CrashOpKind.FsyncDir, Path = Dir(last.NewPath!) },
                CrashOpKind.Unlink => new CrashOp { Kind = CrashOpKind.FsyncDir, Path = Dir(last.Path!) },
                _ => new CrashOp { Kind = CrashOpKind.Fsync, File = last.File },
            });
        }

        return true;
    }

    private CrashOp? TryApply(AceOperation a)
    {
        var f = a.Target!;
        switch (a.Kind)
        {
            case CrashOpKind.Write:
                var (offset, length) = a.Tag switch
                {
                    "write" => (32 * K, 4 * K),
                    "overwrite" => (2 * K, 4 * K),
                    _ => (_sizes[f], (3 * K) + 512),
                };
                _sizes[f] = Math.Max(_sizes[f], offset + length);
                return new CrashOp { Kind = CrashOpKind.Write, File = f, Offset = offset, Length = length, Tag = a.Tag };
            case CrashOpKind.Truncate:
                _sizes[f] = 5 * K;
                return new CrashOp { Kind = CrashOpKind.Truncate, File = f, Length = 5 * K };
            case CrashOpKind.Fallocate:
                _sizes[f] = Math.Max(_sizes[f], 24 * K);
                return new CrashOp { Kind = CrashOpKind.Fallocate, File = f, Offset = 12 * K, Length = 12 * K };
            case CrashOpKind.PunchHole:
                return new CrashOp { Kind = CrashOpKind.PunchHole, File = f, Offset = 4 * K, Length = 4 * K };
            case CrashOpKind.Rename or CrashOpKind.Link or CrashOpKind.Unlink:
                return Namespace(a.Kind, f);
            case CrashOpKind.Fsync or CrashOpKind.Fdatasync:
                return new CrashOp { Kind = a.Kind, File = f };
            case CrashOpKind.FsyncDir:
                return new CrashOp { Kind = CrashOpKind.FsyncDir, Path = f };
            default:
                return new CrashOp { Kind = CrashOpKind.Sync };
        }
    }

    private CrashOp? Namespace(CrashOpKind kind, string f)
    {
        var names = _names[f];
        if (names.Count == 0)
        {
            return null;
        }

        var from = names[^1];
        if (kind == CrashOpKind.Unlink)
        {
            names.RemoveAt(names.Count - 1);
            return new CrashOp { Kind = kind, Path = from };
        }

        var to = (Dir(from) == "/" ? "/D/" : "/") + f + (++_fresh).ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (kind == CrashOpKind.Rename)
        {
            names[^1] = to;
        }
        else
        {
            names.Add(to);
        }

        return new CrashOp { Kind = kind, Path = from, NewPath = to };
    }

    private static string Dir(string path)
    {
        var slash = path.LastIndexOf('/');
        return slash <= 0 ? "/" : path[..slash];
    }
}
