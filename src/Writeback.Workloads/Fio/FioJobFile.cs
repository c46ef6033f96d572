using System.Globalization;
using System.Text.RegularExpressions;

namespace Writeback.Workloads.Fio;

/// <summary>fio's job-file format, read into jobs: sections, <c>[global]</c> inheritance,
/// comments, <c>include</c>, <c>${ENV}</c> expansion, and a documented subset of options whose
/// values are checked as fio checks them.</summary>
/// <remarks>fio rules kept: a line starting with <c>;</c> or <c>#</c> is a comment; options before
/// the first section or in a <c>[global]</c> section apply to every job defined after them (a
/// later <c>[global]</c> adds to them for later jobs); <c>include FILE</c> reads another file in
/// place, relative to the including file; <c>${NAME}</c> is the environment variable NAME;
/// an option without <c>=</c> is a flag set to 1; the job's name is its section's unless
/// <c>name=</c> says otherwise. Anything outside the subset, a malformed value, an undefined
/// variable or a bad section is a <see cref="JobFileException"/> naming file, line and option —
/// never silently ignored.</remarks>
public static partial class FioJobFile
{
    /// <summary>The options this reader accepts, with how each value is checked.</summary>
    public static IReadOnlyDictionary<string, FioOptionKind> Options { get; } = new Dictionary<string, FioOptionKind>(StringComparer.Ordinal)
    {
        ["name"] = FioOptionKind.Text,
        ["rw"] = FioOptionKind.Choice("read", "write", "randread", "randwrite", "rw", "readwrite", "randrw"),
        ["readwrite"] = FioOptionKind.Choice("read", "write", "randread", "randwrite", "rw", "readwrite", "randrw"),
        ["rwmixread"] = FioOptionKind.Percent,
        ["rwmixwrite"] = FioOptionKind.Percent,
        ["bs"] = FioOptionKind.SizePair,
        ["blocksize"] = FioOptionKind.SizePair,
        ["size"] = FioOptionKind.Size,
        ["filesize"] = FioOptionKind.Size,
        ["offset"] = FioOptionKind.Size,
        ["nrfiles"] = FioOptionKind.Positive,
        ["filename"] = FioOptionKind.Text,
        ["directory"] = FioOptionKind.Text,
        ["numjobs"] = FioOptionKind.Positive,
        ["iodepth"] = FioOptionKind.Positive,
        ["ioengine"] = FioOptionKind.Choice("psync", "sync", "pvsync2", "libaio", "io_uring"),
        ["direct"] = FioOptionKind.Bool,
        ["buffered"] = FioOptionKind.Bool,
        ["sync"] = FioOptionKind.Choice("none", "0", "sync", "1", "dsync"),
        ["fsync"] = FioOptionKind.Count,
        ["fdatasync"] = FioOptionKind.Count,
        ["end_fsync"] = FioOptionKind.Bool,
        ["fsync_on_close"] = FioOptionKind.Bool,
        ["overwrite"] = FioOptionKind.Bool,
        ["fallocate"] = FioOptionKind.Choice("none", "native", "posix", "keep", "truncate", "0", "1"),
        ["runtime"] = FioOptionKind.Seconds,
        ["time_based"] = FioOptionKind.Bool,
        ["ramp_time"] = FioOptionKind.Seconds,
        ["randrepeat"] = FioOptionKind.Bool,
        ["randseed"] = FioOptionKind.Count,
        ["thinktime"] = FioOptionKind.Microseconds,
        ["group_reporting"] = FioOptionKind.Bool,
        ["verify"] = FioOptionKind.Choice("0", "none", "crc32c", "crc32c-intel"),
        ["do_verify"] = FioOptionKind.Bool,
        ["percentile_list"] = FioOptionKind.Percentiles,
        ["uncached"] = FioOptionKind.Bool,
        ["kb_base"] = FioOptionKind.Choice("1000", "1024"),
    };

    /// <summary>The section that holds the model's own options (<see cref="Running.WbsimOptions"/>).</summary>
    public const string ModelSection = "wbsim";

    /// <summary>Reads the jobs of the job file at <paramref name="path"/>.</summary>
    /// <exception cref="JobFileException">The file, or one it includes, is not valid.</exception>
    public static IReadOnlyList<FioJob> Load(string path, Func<string, string?>? environment = null) => LoadFile(path, environment).Jobs;

    /// <summary>Reads the job file at <paramref name="path"/>: its jobs and its <c>[wbsim]</c> options.</summary>
    /// <exception cref="JobFileException">The file, or one it includes, is not valid.</exception>
    public static JobFile LoadFile(string path, Func<string, string?>? environment = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        return ParseFile(ReadFile(path, path, 0), path, environment, p => ReadFile(p, path, 0));
    }

    /// <summary>Reads job-file <paramref name="text"/> named <paramref name="file"/>.</summary>
    /// <param name="text">The contents.</param>
    /// <param name="file">Its name, for errors and for resolving includes.</param>
    /// <param name="environment">Looks up <c>${NAME}</c>; the process environment when null.</param>
    /// <param name="readInclude">Reads an included file; the file system when null.</param>
    /// <exception cref="JobFileException">The text, or a file it includes, is not valid.</exception>
    public static IReadOnlyList<FioJob> Parse(string text, string file, Func<string, string?>? environment = null, Func<string, string>? readInclude = null) =>
        ParseFile(text, file, environment, readInclude).Jobs;

    /// <summary>Reads job-file <paramref name="text"/> named <paramref name="file"/>: its jobs and its <c>[wbsim]</c> options.</summary>
    /// <exception cref="JobFileException">The text, or a file it includes, is not valid.</exception>
    public static JobFile ParseFile(string text, string file, Func<string, string?>? environment = null, Func<string, string>? readInclude = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(file);
        var state = new ParseState(environment ?? Environment.GetEnvironmentVariable, readInclude ?? (p => ReadFile(p, file, 0)));
        ReadLines(state, text, file, depth: 0);
        state.FinishJob();
        if (state.Jobs.Count == 0)
        {
            throw new JobFileException(file, 0, null, "no job section: a job file needs at least one [name] section besides [global]");
        }

        return new JobFile(file, state.Jobs, state.Wbsim);
    }

    /// <summary>Bytes of a size value as fio reads it: a number with an optional unit prefix
    /// (k, m, g, t, p, with optional i and B), where <paramref name="kbBase"/> 1024 (fio's default)
    /// makes the SI prefixes (k, kB) powers of 2 and the IEC ones (KiB) powers of 10 — fio's
    /// compatibility mode — and 1000 the reverse.</summary>
    /// <returns>False if the value is not a size.</returns>
    public static bool TryParseSize(string value, int kbBase, out long bytes)
    {
        ArgumentNullException.ThrowIfNull(value);
        bytes = 0;
        var m = SizeRegex().Match(value.Trim());
        if (!m.Success || !long.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            return false;
        }

        var prefix = m.Groups[2].Value.ToLowerInvariant();
        var iec = m.Groups[3].Success && m.Groups[3].Value.Length > 0;
        if (prefix.Length == 0 || prefix == "b")
        {
            bytes = number;
            return !iec;
        }

        var power = "kmgtp".IndexOf(prefix[0], StringComparison.Ordinal) + 1;
        var binary = kbBase == 1024 ? !iec : iec;
        var unit = binary ? 1L << (10 * power) : (long)Math.Pow(1000, power);
        try
        {
            bytes = checked(number * unit);
            return true;
        }
        catch (OverflowException)
        {
            return false;
        }
    }

    private static string ReadFile(string path, string from, int line)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new JobFileException(from, line, null, $"cannot read '{path}': {ex.Message}");
        }
    }

    private static void ReadLines(ParseState state, string text, string file, int depth)
    {
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var lineNo = i + 1;
            var line = lines[i].Trim().TrimEnd('\r').Trim();
            if (line.Length == 0 || line[0] is ';' or '#')
            {
                continue;
            }

            line = Expand(state, line, file, lineNo);
            if (line.StartsWith("include ", StringComparison.Ordinal) || line.StartsWith("include\t", StringComparison.Ordinal))
            {
                var target = line[8..].Trim();
                if (depth >= 16)
                {
                    throw new JobFileException(file, lineNo, null, $"includes nest more than 16 deep at '{target}' (an include loop?)");
                }

                var resolved = Path.IsPathRooted(target) ? target : Path.Combine(Path.GetDirectoryName(file) ?? ".", target);
                string included;
                try
                {
                    included = state.ReadInclude(resolved);
                }
                catch (JobFileException ex)
                {
                    throw new JobFileException(file, lineNo, null, $"include '{target}': {ex.Problem}");
                }

                ReadLines(state, included, resolved, depth + 1);
                continue;
            }

            if (line[0] == '[')
            {
                if (line[^1] != ']' || line.Length < 3 || line.AsSpan(1, line.Length - 2).ContainsAny("[]"))
                {
                    throw new JobFileException(file, lineNo, null, $"bad section header '{line}': expected [name]");
                }

                state.StartSection(line[1..^1].Trim(), file, lineNo);
                continue;
            }

            var eq = line.IndexOf('=', StringComparison.Ordinal);
            var key = (eq < 0 ? line : line[..eq]).Trim();
            var value = eq < 0 ? "1" : line[(eq + 1)..].Trim();
            state.Set(new FioOptionValue(key, value, file, lineNo));
        }
    }

    private static string Expand(ParseState state, string line, string file, int lineNo) =>
        EnvRegex().Replace(line, m =>
        {
            var name = m.Groups[1].Value;
            return state.Environment(name) ?? throw new JobFileException(file, lineNo, null, $"${{{name}}} is not set in the environment");
        });

    [GeneratedRegex(@"^([0-9]+)\s*([kKmMgGtTpPbB]?)((?<=[kKmMgGtTpP])[iI])?[bB]?$", RegexOptions.CultureInvariant)]
    private static partial Regex SizeRegex();

    [GeneratedRegex(@"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", RegexOptions.CultureInvariant)]
    private static partial Regex EnvRegex();
}
