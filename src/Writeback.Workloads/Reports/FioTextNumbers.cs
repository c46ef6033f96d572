using System.Globalization;
using Writeback.Kernel;

namespace Writeback.Workloads.Reports;

/// <summary>fio's number formatting for the human-readable report: <c>num2str()</c> (3-4 significant
/// figures with k/M or Ki/Mi prefixes), C <c>printf</c> widths, the runtime rounding, and
/// <c>strerror()</c> texts — every string invariant-culture.</summary>
/// <remarks>fio: num2str() in lib/num2str.c; update_runtime() in backend.c.</remarks>
internal static class FioTextNumbers
{
    /// <summary>fio's default <c>significant_figures</c>.</summary>
    public const int SigFigs = 4;

    /// <summary>No unit after the prefix (fio's N2S_NONE).</summary>
    public const string NoUnit = "";

    /// <summary>Bytes (N2S_BYTE).</summary>
    public const string ByteUnit = "B";

    /// <summary>Bytes per second (N2S_BYTEPERSEC).</summary>
    public const string BytePerSecUnit = "B/s";

    private static readonly string[] s_si = ["", "k", "M", "G", "T", "P", "E"];
    private static readonly string[] s_iec = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

    /// <summary>Formats invariantly.</summary>
    public static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>Writes <paramref name="s"/> and a '\n' (never Environment.NewLine).</summary>
    public static void Line(TextWriter w, string s)
    {
        w.Write(s);
        w.Write('\n');
    }

    /// <summary>C's <c>%W.Df</c>: <paramref name="decimals"/> decimals, right-aligned in <paramref name="width"/>.</summary>
    public static string Fixed(double value, int decimals, int width) =>
        value.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture).PadLeft(width);

    /// <summary>C's <c>%Wllu</c>.</summary>
    public static string Padded(long value, int width) => value.ToString(CultureInfo.InvariantCulture).PadLeft(width);

    /// <summary>Whether a kb_base is a power of two (fio's <c>is_power_of_2(kb_base)</c>: binary prefixes first).</summary>
    public static bool IsPow2(int kbBase) => kbBase > 0 && (kbBase & (kbBase - 1)) == 0;

    /// <summary>fio's <c>num2str()</c>: <paramref name="num"/> (times <paramref name="baseMultiplier"/>)
    /// divided by 1000 or 1024 until at most <paramref name="maxLen"/> digits remain, the remainder
    /// printed as decimals where there is room ("60.2k", "235MiB/s", "64.0KiB"), rounded the way fio
    /// rounds (a dropped remainder of half or more carries into the last digit).</summary>
    public static string Num2Str(long num, int maxLen, long baseMultiplier, bool pow2, string unit)
    {
        var n = (ulong)Math.Max(0, num);
        var thousand = pow2 ? 1024UL : 1000UL;
        var post = 0;
        for (var b = baseMultiplier; b > 1; post++)
        {
            b /= (long)thousand;
        }

        const ulong NoModulo = ulong.MaxValue;
        var modulo = NoModulo;
        var carry = false;
        while (post < s_si.Length && Digits(n) > maxLen)
        {
            modulo = n % thousand;
            n /= thousand;
            carry = modulo >= thousand / 2;
            post++;
        }

        if (post >= s_si.Length)
        {
            post = 0;
        }

        var prefix = (pow2 ? s_iec : s_si)[post];
        var room = maxLen - Digits(n);
        if (modulo == NoModulo || room <= 1)
        {
            if (modulo != NoModulo && carry)
            {
                n++;
            }

            return Inv($"{n}{prefix}{unit}");
        }

        // "%.*f" of the fraction: "0.235" -> "0.2"; a fraction that rounds up to "1.0" carries.
        var fraction = ((double)modulo / thousand).ToString("F" + (room - 1).ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        if (fraction[0] == '1')
        {
            n++;
        }

        return Inv($"{n}.{fraction[2..]}{prefix}{unit}");
    }

    /// <summary>A direction's runtime in fio's milliseconds: microseconds rounded up to whole
    /// milliseconds, as fio's update_runtime() does (so a short run is never 0 ms).</summary>
    public static long RuntimeMs(long runtimeNs)
    {
        var us = Math.Max(0, runtimeNs) / 1000;
        return (us + 999) / 1000;
    }

    /// <summary>A duration with the unit that keeps it readable: <c>53ns</c>, <c>12.34us</c>,
    /// <c>1.25ms</c>, <c>2.00s</c> (the model's times are often below a microsecond).</summary>
    public static string Time(long ns) => Math.Abs(ns) switch
    {
        < 1_000 => Inv($"{ns}ns"),
        < 1_000_000 => Inv($"{ns / 1e3:F2}us"),
        < 1_000_000_000 => Inv($"{ns / 1e6:F2}ms"),
        _ => Inv($"{ns / 1e9:F2}s"),
    };

    /// <summary>The C library's message for <paramref name="err"/> (glibc's strerror() texts).</summary>
    public static string Strerror(Errno err) => err switch
    {
        Errno.EPERM => "Operation not permitted",
        Errno.ENOENT => "No such file or directory",
        Errno.EINTR => "Interrupted system call",
        Errno.EIO => "Input/output error",
        Errno.EBADF => "Bad file descriptor",
        Errno.EAGAIN => "Resource temporarily unavailable",
        Errno.ENOMEM => "Cannot allocate memory",
        Errno.EBUSY => "Device or resource busy",
        Errno.EEXIST => "File exists",
        Errno.ENOTDIR => "Not a directory",
        Errno.EISDIR => "Is a directory",
        Errno.EINVAL => "Invalid argument",
        Errno.EFBIG => "File too large",
        Errno.ENOSPC => "No space left on device",
        Errno.ENAMETOOLONG => "File name too long",
        Errno.ENOTEMPTY => "Directory not empty",
        Errno.EBADMSG => "Bad message",
        Errno.EOPNOTSUPP => "Operation not supported",
        Errno.EUCLEAN => "Structure needs cleaning",
        _ => err.ToString(),
    };

    private static int Digits(ulong n) => n.ToString(CultureInfo.InvariantCulture).Length;
}
