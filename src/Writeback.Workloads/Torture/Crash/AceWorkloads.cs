using System.Globalization;

namespace Writeback.Workloads.Torture.Crash;

/// <summary>Bounded exhaustive crash workloads in the manner of ACE (CrashMonkey's Automatic
/// Crash Explorer): every sequence of one to <see cref="MaxLength"/> operations drawn from
/// {write, overwrite, append, truncate, fallocate, punch hole, rename, link, unlink, fsync(file),
/// fsync(dir), fdatasync, sync}, with small fixed arguments, on a small synced starting tree, each
/// ending with a persistence operation (one is appended when the sequence does not end with one).
/// The crash is after the last persistence operation: the enumerator checks that image and every
/// flush-boundary state before it.</summary>
/// <remarks>The starting tree (<see cref="StartingTree"/>): /A and /D/B, 16 KiB each, and the
/// directory /D, synced. Each file operation exists for A and for B; fsync(dir) for / and /D — 25
/// operations. Arguments: write = [32 KiB, +4 KiB), past EOF, leaving a hole; overwrite = [2 KiB,
/// +4 KiB), across a block boundary; append = 3.5 KiB at the size; truncate to 5 KiB (down inside
/// a block, or up); fallocate mode 0 of [12 KiB, +12 KiB), raising the size; punch hole of
/// [4 KiB, +4 KiB); rename moves the file's newest name into the other directory under a fresh
/// name (A1, A2, …); link adds such a name; unlink removes the newest name. A sequence that
/// renames, links or unlinks a file with no name left is not valid and is skipped (as ACE prunes
/// invalid workloads). The appended persistence operation is fsync of the file the last
/// operation changed, or fsync of the directory whose entries it changed; a sequence that, with
/// it, is an earlier sequence again ("rename A" + "fsync /D" = "rename A; fsync /D") is left
/// out. Sequences are numbered
/// from 0 in a fixed order — by length, then lexicographically by operation as listed in
/// <see cref="Operations"/> — so an index names a workload for good.</remarks>
public static class AceWorkloads
{
    /// <summary>The longest sequences generated.</summary>
    public const int MaxLength = 3;

    private const long K = 1024;
    private static readonly Lazy<IReadOnlyList<int[]>> s_sequences = new(Generate);

    /// <summary>The 25 operations, in enumeration order.</summary>
    public static IReadOnlyList<AceOperation> Operations { get; } = BuildOperations();

    /// <summary>The starting tree every ACE workload begins from (its setup, synced), as a workload
    /// named <paramref name="name"/> to add operations to.</summary>
    public static CrashWorkload StartingTree(string name = "ace-start") =>
        new CrashWorkload(name).Create("A", "/A").Mkdir("/D").Create("B", "/D/B").Write("A", 0, 16 * K).Write("B", 0, 16 * K).Synced();

    /// <summary>Valid sequences of 1 to <paramref name="maxLength"/> operations.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxLength"/> is not 0 to <see cref="MaxLength"/>.</exception>
    public static int Count(int maxLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxLength, MaxLength);
        return s_sequences.Value.Count(s => s.Length <= maxLength);
    }

    /// <summary>The index of the first sequence of <paramref name="length"/> operations (= <c>Count(length - 1)</c>).</summary>
    public static int FirstIndexOfLength(int length) => Count(Math.Max(0, length - 1));

    /// <summary>Workload number <paramref name="index"/> (0 to <c>Count(MaxLength) - 1</c>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">No workload has that index.</exception>
    public static CrashWorkload Get(int index)
    {
        var all = s_sequences.Value;
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, all.Count);
        return Build(index, all[index]);
    }

    /// <summary>Every workload of 1 to <paramref name="maxLength"/> operations, in index order.</summary>
    public static IEnumerable<CrashWorkload> Enumerate(int maxLength)
    {
        var count = Count(maxLength);
        for (var i = 0; i < count; i++)
        {
            yield return Get(i);
        }
    }

    /// <summary><paramref name="count"/> distinct workloads of exactly <paramref name="length"/>
    /// operations, drawn with <paramref name="seed"/>, in index order (all of them if there are no more).</summary>
    public static IReadOnlyList<CrashWorkload> Sample(int length, int count, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var first = FirstIndexOfLength(length);
        var n = Count(length) - first;
        var indexes = Enumerable.Range(first, n).ToList();
        var random = new Kernel.Prandom(seed);

        // A partial Fisher-Yates shuffle: the first `count` places get a uniform sample.
        for (var i = 0; i < Math.Min(count, n); i++)
        {
            var j = i + (int)random.NextInt64(n - i);
            (indexes[i], indexes[j]) = (indexes[j], indexes[i]);
        }

        return [.. indexes.Take(count).Order().Select(Get)];
    }

    private static List<AceOperation> BuildOperations()
    {
        var ops = new List<AceOperation>();
        foreach (var (kind, tag) in new (CrashOpKind, string?)[]
        {
            (CrashOpKind.Write, "write"), (CrashOpKind.Write, "overwrite"), (CrashOpKind.Write, "append"),
            (CrashOpKind.Truncate, null), (CrashOpKind.Fallocate, null), (CrashOpKind.PunchHole, null),
            (CrashOpKind.Rename, null), (CrashOpKind.Link, null), (CrashOpKind.Unlink, null), (CrashOpKind.Fsync, null),
        })
        {
            var name = tag ?? (kind == CrashOpKind.PunchHole ? "punch" : kind.ToString().ToLowerInvariant());
            ops.Add(new AceOperation($"{name} A", kind, "A", tag));
            ops.Add(new AceOperation($"{name} B", kind, "B", tag));
        }

        ops.Add(new AceOperation("fsync /", CrashOpKind.FsyncDir, "/", null));
        ops.Add(new AceOperation("fsync /D", CrashOpKind.FsyncDir, "/D", null));
        ops.Add(new AceOperation("fdatasync A", CrashOpKind.Fdatasync, "A", null));
        ops.Add(new AceOperation("fdatasync B", CrashOpKind.Fdatasync, "B", null));
        ops.Add(new AceOperation("sync", CrashOpKind.Sync, null, null));
        return ops;
    }

    // Every valid sequence, by length, then lexicographically; a sequence whose operations (with
    // the appended persistence point) are those of an earlier one is the same workload, and is
    // left out ("rename A" then the appended "fsync /D" is "rename A; fsync /D").
    private static List<int[]> Generate()
    {
        var all = new List<int[]>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var length = 1; length <= MaxLength; length++)
        {
            var seq = new int[length];
            var total = (long)Math.Pow(Operations.Count, length);
            for (var n = 0L; n < total; n++)
            {
                var rest = n;
                for (var i = length - 1; i >= 0; i--)
                {
                    seq[i] = (int)(rest % Operations.Count);
                    rest /= Operations.Count;
                }

                if (new AceState().TryApplyAll(seq, out var ops) && seen.Add(string.Join("; ", ops)))
                {
                    all.Add((int[])seq.Clone());
                }
            }
        }

        return all;
    }

    private static CrashWorkload Build(int index, int[] sequence)
    {
        var w = StartingTree();
        var workload = new CrashWorkload(string.Create(CultureInfo.InvariantCulture, $"ace#{index}"))
        {
            Source = string.Create(CultureInfo.InvariantCulture, $"AceWorkloads.Get({index})"),
        };
        foreach (var op in w.Setup)
        {
            workload.Add(op);
        }

        workload.Synced();
        new AceState().TryApplyAll(sequence, out var ops);
        foreach (var op in ops)
        {
            workload.Add(op);
        }

        return workload;
    }
}
