using System.Globalization;
using Writeback.Fs;
using Writeback.Kernel;

namespace Writeback.Workloads.Torture.Crash;

/// <summary>Draws a random crash workload from a seed: every kind of operation, every kind of
/// write (buffered, O_DIRECT, O_DSYNC, O_SYNC, O_DIRECT|O_DSYNC), files created, renamed (also
/// over one another), linked and unlinked while open, directories made, and persistence points
/// scattered between — each operation valid where it stands.</summary>
/// <remarks>Arguments are sector multiples, direct writes 4 KiB-aligned (valid for every block
/// size), files stay under 64 KiB and there are at most six files and three extra directories,
/// so that the workload fits the crash options' small disk.</remarks>
internal sealed class CrashWorkloadGenerator
{
    private const long K = 1024;
    private const long MaxBytes = 64 * K;
    private readonly Prandom _random;
    private readonly CrashWorkload _w;
    private readonly List<string> _dirs = ["/", "/D"];
    private readonly Dictionary<string, List<string>> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _sizes = new(StringComparer.Ordinal);
    private int _fresh;

    private CrashWorkloadGenerator(ulong seed, int operations)
    {
        _random = new Prandom(seed);
        _w = new CrashWorkload(string.Create(CultureInfo.InvariantCulture, $"random#{seed}"))
        {
            Source = string.Create(CultureInfo.InvariantCulture, $"CrashWorkload.Random({seed}, {operations})"),
        };
    }

    /// <summary>The workload of <paramref name="operations"/> operations drawn from <paramref name="seed"/>.</summary>
    public static CrashWorkload Generate(ulong seed, int operations)
    {
        var g = new CrashWorkloadGenerator(seed, operations);
        g.Create("f1", "/f1");
        g._w.Mkdir("/D");
        g.Create("f2", "/D/f2");
        g.Write("f1", 0, 16 * K, OpenFlags.None, "write");
        g.Write("f2", 0, 8 * K, OpenFlags.None, "write");
        g._w.Synced();
        for (var i = 0; i < operations; i++)
        {
            g.Step();
        }

        return g._w;
    }

    private long Next(long bound) => _random.NextInt64(bound);

    private string AnyFile() => _sizes.Keys.Order(StringComparer.Ordinal).ElementAt((int)Next(_sizes.Count));

    private string AnyDir() => _dirs[(int)Next(_dirs.Count)];

    private string FreshName(string dir) => (dir == "/" ? "/" : dir + "/") + "n" + (++_fresh).ToString(CultureInfo.InvariantCulture);

    private void Step()
    {
        while (true)
        {
            var f = AnyFile();
            var named = _names[f].Count > 0;
            switch (Next(16))
            {
                case 0 when _sizes.Count < 6:
                    Create("f" + (_sizes.Count + 1).ToString(CultureInfo.InvariantCulture), FreshName(AnyDir()));
                    return;
                case 1 when _dirs.Count < 5:
                    var dir = FreshName(AnyDir());
                    _w.Mkdir(dir);
                    _dirs.Add(dir);
                    return;
                case 2 or 3 or 4:
                    RandomWrite(f);
                    return;
                case 5:
                    _w.Truncate(f, Next((MaxBytes / 512) + 1) * 512);
                    _sizes[f] = _w.Operations[^1].Length;
                    return;
                case 6:
                    var (offset, length) = Range(512);
                    var keep = Next(2) == 0;
                    _w.Fallocate(f, offset, length, keep);
                    _sizes[f] = keep ? _sizes[f] : Math.Max(_sizes[f], offset + length);
                    return;
                case 7:
                    var (start, bytes) = Range(512);
                    _w.PunchHole(f, start, bytes);
                    return;
                case 8 when named:
                    Rename(f);
                    return;
                case 9 when named:
                    var to = FreshName(AnyDir());
                    _w.Link(_names[f][^1], to);
                    _names[f].Add(to);
                    return;
                case 10 when named:
                    _w.Unlink(_names[f][^1]);
                    _names[f].RemoveAt(_names[f].Count - 1);
                    return;
                case 11 or 12:
                    _w.Fsync(f);
                    return;
                case 13:
                    _w.Fdatasync(f);
                    return;
                case 14:
                    _w.FsyncDir(AnyDir());
                    return;
                case 15:
                    _w.Sync();
                    return;
                default:
                    continue;
            }
        }
    }

    private void Create(string file, string path)
    {
        _w.Create(file, path);
        _names[file] = [path];
        _sizes[file] = 0;
    }

    // A write of any kind: a handle with other flags is opened through a name, so an unnamed
    // file gets buffered writes only.
    private void RandomWrite(string f)
    {
        OpenFlags[] kinds = [OpenFlags.None, OpenFlags.None, OpenFlags.Direct, OpenFlags.Dsync, OpenFlags.Sync, OpenFlags.Direct | OpenFlags.Dsync];
        var flags = _names[f].Count == 0 ? OpenFlags.None : kinds[Next(kinds.Length)];
        var align = (flags & OpenFlags.Direct) != 0 ? 4 * K : 512;
        var append = Next(3) == 0 && _sizes[f] % align == 0 && _sizes[f] + (16 * K) <= MaxBytes;
        var (offset, length) = Range(align);
        if (append)
        {
            offset = _sizes[f];
            length = Math.Min(length, MaxBytes - offset);
        }

        Write(f, offset, length, flags, append ? "append" : offset + length <= _sizes[f] ? "overwrite" : "write");
    }

    private void Write(string f, long offset, long length, OpenFlags flags, string tag)
    {
        _w.Write(f, offset, length, flags, tag);
        _sizes[f] = Math.Max(_sizes[f], offset + length);
    }

    private void Rename(string f)
    {
        var from = _names[f][^1];

        // Sometimes onto another file's name: that file loses the name (and, held open, lives on unnamed).
        var victims = _names.Where(n => n.Key != f && n.Value.Count > 0).Select(n => n.Key).Order(StringComparer.Ordinal).ToList();
        string to;
        if (victims.Count > 0 && Next(3) == 0)
        {
            var victim = victims[(int)Next(victims.Count)];
            to = _names[victim][^1];
            _names[victim].RemoveAt(_names[victim].Count - 1);
        }
        else
        {
            to = FreshName(AnyDir());
        }

        _w.Rename(from, to);
        _names[f][^1] = to;
    }

    // A range inside the largest file: aligned, 1 to 16 KiB.
    private (long Offset, long Length) Range(long align)
    {
        var length = (1 + Next(16 * K / align)) * align;
        var offset = Next(((MaxBytes - length) / align) + 1) * align;
        return (offset, length);
    }
}
