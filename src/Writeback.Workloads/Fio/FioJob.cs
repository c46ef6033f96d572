using System.Globalization;

namespace Writeback.Workloads.Fio;

/// <summary>One job of a job file: its name and its options, the [global] ones it inherits
/// overridden by its own.</summary>
public sealed class FioJob
{
    internal FioJob(string name, string file, int line, IReadOnlyDictionary<string, FioOptionValue> options)
    {
        Name = name;
        File = file;
        Line = line;
        Options = options;
    }

    /// <summary>The job's name (its section's, unless name= says otherwise).</summary>
    public string Name { get; }

    /// <summary>The file of its section.</summary>
    public string File { get; }

    /// <summary>The line of its section.</summary>
    public int Line { get; }

    /// <summary>Its options by name.</summary>
    public IReadOnlyDictionary<string, FioOptionValue> Options { get; }

    /// <summary>kb_base: 1024 (fio's default) or 1000.</summary>
    public int KbBase => Options.TryGetValue("kb_base", out var v) && v.Value == "1000" ? 1000 : 1024;

    /// <summary>The option's value, or <paramref name="fallback"/>.</summary>
    public string? Get(string option, string? fallback = null) => Options.TryGetValue(option, out var v) ? v.Value : fallback;

    /// <summary>A size option's bytes, or <paramref name="fallback"/>.</summary>
    public long GetSize(string option, long fallback) =>
        Options.TryGetValue(option, out var v) && FioJobFile.TryParseSize(v.Value, KbBase, out var bytes) ? bytes : fallback;

    /// <summary>A number option's value, or <paramref name="fallback"/>.</summary>
    public long GetNumber(string option, long fallback) =>
        Options.TryGetValue(option, out var v) && long.TryParse(v.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : fallback;

    /// <summary>A 0/1 option's value, or <paramref name="fallback"/>.</summary>
    public bool GetBool(string option, bool fallback) => Options.TryGetValue(option, out var v) ? v.Value == "1" : fallback;
}
