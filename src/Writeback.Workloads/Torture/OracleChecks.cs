using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Writeback.Block;
using Writeback.Fs;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Workloads.Torture;

/// <summary>The oracle's checks, shared by the torture runs: each raises an
/// <see cref="OracleCheckException"/> (which the run turns into a <see cref="TortureViolation"/>)
/// saying what differs from the model.</summary>
internal static class OracleChecks
{
    /// <summary>Reads [<paramref name="pos"/>, +<paramref name="len"/>) through
    /// <paramref name="f"/> and compares it byte for byte with <paramref name="s"/>'s model: a read
    /// at or past the model's size returns fewer bytes (none past it); returns the bytes compared.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public static int CheckRead(OracleFile s, FsFile f, long pos, int len)
    {
        var buffer = new byte[len];
        Expect(f.Read(pos, buffer, out var read), "the read");
        var expected = (int)Math.Clamp(s.Size - pos, 0, len);
        if (expected != read)
        {
            Fail($"{s.Label}: read [{pos}, {pos + len}) returned {read} bytes, the model has {expected} (size {s.Size}, file size {f.Size})");
        }

        var actual = buffer.AsSpan(0, read);
        var model = s.Data.AsSpan((int)Math.Min(pos, OracleModel.MaxFileBytes), read);
        var at = actual.CommonPrefixLength(model);
        if (at == read)
        {
            return read;
        }

        var last = read - 1;
        while (actual[last] == model[last])
        {
            last--;
        }

        var wrong = 0;
        for (var i = at; i <= last; i++)
        {
            wrong += actual[i] != model[i] ? 1 : 0;
        }

        Fail($"{s.Label}: read [{pos}, {pos + len}) differs from the model at file offsets [{pos + at}, {pos + last + 1}) ({wrong} bytes differ): "
            + $"first at {pos + at}: expected 0x{model[at]:x2}, got 0x{actual[at]:x2}; model there {Hex(model, at)}, read {Hex(actual, at)} (size {s.Size})");
        return read;
    }

    /// <summary>Fails unless the handle's size is the model's.</summary>
    public static void CheckSize(OracleFile s, FsFile? f, string handle)
    {
        if (f is not null && f.Size != s.Size)
        {
            Fail(string.Create(CultureInfo.InvariantCulture, $"{s.Label}: size {f.Size}{handle}, the model has {s.Size}"));
        }
    }

    /// <summary>Fails with the first problems the consistency check finds.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public static void CheckFsck(FileSystem fs, string when)
    {
        var problems = Fsck.Check(fs.Meta);
        if (problems.Count > 0)
        {
            Fail($"the consistency check {when} found {problems.Count} problem(s): {string.Join("; ", problems.Take(5))}");
        }
    }

    /// <summary>Fails with the page cache's live invariants that do not hold (folio flags against
    /// the XArray's tags, its structure, the counters): checked after every step, while the
    /// flusher, completion workers and other tasks may still run.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public static void CheckInvariants(PageCache cache)
    {
        var problems = cache.CheckInvariants();
        if (problems.Count > 0)
        {
            Fail($"the page cache invariants fail after the step ({problems.Count} problem(s)): {string.Join("; ", problems.Take(5))}");
        }
    }

    /// <summary>After an unmount, when nothing runs on <paramref name="cache"/>: its counters
    /// agree with its folios and no folio is left alive; and once the completions still returning
    /// have returned (up to a modelled second), no bio of <paramref name="layer"/> is in flight —
    /// none was lost (one completed twice is a BUG when it happens).</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public static void CheckUnmounted(PageCache cache, BlockLayer layer)
    {
        var problems = cache.CheckQuiescentInvariants();
        if (problems.Count > 0)
        {
            Fail($"the page cache invariants fail after the unmount ({problems.Count} problem(s)): {string.Join("; ", problems.Take(5))}");
        }

        if (cache.LiveFolios != 0)
        {
            Fail(string.Create(CultureInfo.InvariantCulture, $"{cache.LiveFolios} folio(s) still alive after the unmount: a folio reference leaked"));
        }

        for (var waited = 0; layer.InFlight != 0 && waited < 1000; waited++)
        {
            cache.Machine.Msleep(1);
        }

        if (layer.InFlight != 0)
        {
            Fail(string.Create(CultureInfo.InvariantCulture, $"{layer.InFlight} bio(s) still in flight 1 s after the unmount ({layer.Submitted} submitted, {layer.Ended} ended): a completion was lost"));
        }
    }

    /// <summary>Fails unless <paramref name="err"/> is success.</summary>
    public static void Expect(Errno err, string what)
    {
        if (err != Errno.None)
        {
            Fail($"{what} returned {err}, expected success");
        }
    }

    /// <summary>Fails unless <paramref name="err"/> is <paramref name="expected"/>.</summary>
    public static void ExpectError(Errno expected, Errno err, string what)
    {
        if (err != expected)
        {
            Fail($"{what} returned {err}, expected {expected}");
        }
    }

    /// <summary>Fails unless the operation did all its bytes.</summary>
    public static void ExpectBytes(long expected, long done, string what)
    {
        if (done != expected)
        {
            Fail(string.Create(CultureInfo.InvariantCulture, $"{what} did {done} bytes of {expected}"));
        }
    }

    /// <summary>Raises the violation <paramref name="what"/>.</summary>
    [DoesNotReturn]
    public static void Fail(string what) => throw new OracleCheckException(what);

    private static string Hex(ReadOnlySpan<byte> bytes, int at)
    {
        var end = Math.Min(bytes.Length, at + 8);
        return Convert.ToHexString(bytes[at..end]);
    }
}
