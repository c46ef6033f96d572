using System.Globalization;

namespace Writeback.Workloads.Fio;

/// <summary>How an option's value is checked: the value kinds fio's option parser knows.</summary>
public sealed class FioOptionKind
{
    private readonly Func<string, int, string?> _check;

    private FioOptionKind(string description, Func<string, int, string?> check)
    {
        Description = description;
        _check = check;
    }

    /// <summary>Any text.</summary>
    public static FioOptionKind Text { get; } = new("text", (v, kb) => v.Length == 0 ? "needs a value" : null);

    /// <summary>0 or 1 (fio's bool).</summary>
    public static FioOptionKind Bool { get; } = new("0 or 1", (v, kb) => v is "0" or "1" ? null : $"'{v}' is not 0 or 1");

    /// <summary>An integer from 0 to 100.</summary>
    public static FioOptionKind Percent { get; } = new("0 to 100", (v, kb) => int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= 100 ? null : $"'{v}' is not a percentage from 0 to 100");

    /// <summary>A whole number of at least 1.</summary>
    public static FioOptionKind Positive { get; } = new("a whole number from 1", (v, kb) => int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1 ? null : $"'{v}' is not a whole number from 1");

    /// <summary>A whole number of at least 0.</summary>
    public static FioOptionKind Count { get; } = new("a whole number", (v, kb) => long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out _) ? null : $"'{v}' is not a whole number");

    /// <summary>A size (bytes, with fio's unit prefixes under the job's kb_base).</summary>
    public static FioOptionKind Size { get; } = new("a size such as 4k or 1GiB", (v, kb) => FioJobFile.TryParseSize(v, kb, out _) ? null : $"'{v}' is not a size (a number with an optional k, m, g, t or p prefix)");

    /// <summary>A size, or read and write sizes separated by a comma (bs=4k,64k).</summary>
    public static FioOptionKind SizePair { get; } = new("a size, or read,write sizes", (v, kb) =>
        v.Split(',') is { Length: 1 or 2 } parts && parts.All(p => p.Length == 0 || FioJobFile.TryParseSize(p, kb, out var b) && b > 0) && parts.Any(p => p.Length > 0)
            ? null
            : $"'{v}' is not a block size or a read,write pair of them");

    /// <summary>A time, in seconds unless a unit (us, ms, s, m, h, d) says otherwise.</summary>
    public static FioOptionKind Seconds { get; } = new("a time such as 30, 500ms or 2m", (v, kb) => TryParseTime(v, 1_000_000, out _) ? null : $"'{v}' is not a time (a number with an optional us, ms, s, m, h or d unit)");

    /// <summary>A time, in microseconds unless a unit says otherwise (thinktime).</summary>
    public static FioOptionKind Microseconds { get; } = new("a time in microseconds, or with a unit", (v, kb) => TryParseTime(v, 1, out _) ? null : $"'{v}' is not a time (a number with an optional us, ms, s, m, h or d unit)");

    /// <summary>Percentiles separated by colons (percentile_list=50:99:99.9).</summary>
    public static FioOptionKind Percentiles { get; } = new("percentiles separated by ':'", (v, kb) =>
        v.Split(':').All(p => double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d >= 0 && d <= 100)
            ? null
            : $"'{v}' is not a list of percentiles from 0 to 100 separated by ':'");

    /// <summary>What a valid value looks like.</summary>
    public string Description { get; }

    /// <summary>One of <paramref name="choices"/>.</summary>
    public static FioOptionKind Choice(params string[] choices) =>
        new($"one of {string.Join(", ", choices)}", (v, kb) => choices.Contains(v, StringComparer.Ordinal) ? null : $"'{v}' is not one of {string.Join(", ", choices)}");

    /// <summary>Microseconds of a time value; <paramref name="defaultUnitUs"/> applies without a unit.</summary>
    public static bool TryParseTime(string value, long defaultUnitUs, out long microseconds)
    {
        ArgumentNullException.ThrowIfNull(value);
        microseconds = 0;
        var v = value.Trim().ToLowerInvariant();
        var digits = v.TakeWhile(char.IsAsciiDigit).Count();
        if (digits == 0 || !long.TryParse(v.AsSpan(0, digits), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            return false;
        }

        long? unit = v[digits..] switch
        {
            "" => defaultUnitUs,
            "us" or "usec" => 1,
            "ms" or "msec" => 1_000,
            "s" or "sec" => 1_000_000,
            "m" or "min" => 60_000_000,
            "h" => 3_600_000_000,
            "d" => 86_400_000_000,
            _ => null,
        };
        if (unit is null)
        {
            return false;
        }

        try
        {
            microseconds = checked(n * unit.Value);
            return true;
        }
        catch (OverflowException)
        {
            return false;
        }
    }

    /// <summary>The problem with <paramref name="value"/>, or null if it is valid.</summary>
    public string? Check(string value, int kbBase) => _check(value ?? string.Empty, kbBase);
}
