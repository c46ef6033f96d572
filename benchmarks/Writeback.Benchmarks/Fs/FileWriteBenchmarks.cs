using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Writeback.Block;
using Writeback.Fs;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Benchmarks.Fs;

/// <summary>4 KiB sequential buffered writes through the file API (<see cref="FsFile.Write"/>)
/// into a new 64 MiB file on a mounted filesystem, no fsync, in each completion mode, on the real
/// engine with one CPU; against copying the same pages into a dictionary of byte arrays, and
/// against the host kernel writing the same pattern into tmpfs (fio, measured in the same run).</summary>
/// <remarks>Issue: "4 KiB sequential buffered writes through the file API (MemDisk, no fsync),
/// writes per second, in each mode. Target: at least half the rate the host kernel achieves for
/// the same pattern into tmpfs (fio --ioengine=psync --rw=write --bs=4k on /dev/shm, in the same
/// run)".
/// <para>Each invocation is one machine run: a copy of a freshly made 128 MiB filesystem image is
/// mounted on a <see cref="MemDisk"/> with zero service time, <c>/f</c> is created and 16,384
/// writes of 4 KiB fill it from offset 0. The page cache may use 1 GiB and its dirty thresholds
/// are 1 GiB with periodic writeback off, so nothing is written back or throttled: every write is
/// i_rwsem, timestamps, a delalloc reservation over the hole, a new folio in i_pages and the copy.
/// <see cref="MountOnly"/> is the same run without the writes, divided by the same count: the share
/// of the mean that is machine start and mount.</para>
/// <para>The mean is per write. The extra columns: <c>Writes/s</c> = 1e9 / mean (ns);
/// <c>Writes/s net</c> = the same with <see cref="MountOnly"/>'s mean taken off (the writes alone);
/// <c>tmpfs IOPS</c> = the median write IOPS of three runs of
/// <c>fio --name=w --ioengine=psync --rw=write --bs=4k --size=64m</c> on <c>/dev/shm</c>, run by
/// the baseline's process (<see cref="RunFio"/>) just before it is measured, for the same mode
/// (so each run shows two host figures, a hint of the host's noise); <c>of tmpfs/2</c> = FileWrite's
/// writes/s (net in brackets) divided by half that figure (the target is ≥ 1). Without fio on the
/// PATH the process says so, those two columns show "-" and everything else runs.</para></remarks>
[MemoryDiagnoser]
[Config(typeof(Columns))]
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 8, invocationCount: 1)]
public class FileWriteBenchmarks
{
    private const int Writes = 16384;
    private const int PageBytes = 4096;
    private const long CapacityBytes = 128L << 20;
    private const string FioKey = "fio-tmpfs-iops";
    private readonly byte[] _page = new byte[PageBytes];
    private DiskImage? _image;

    /// <summary>How bios complete (the page cache's and the filesystem's mode).</summary>
    [Params(CompletionMode.Irq, CompletionMode.Task)]
    public CompletionMode Mode { get; set; }

    /// <summary>Fills the page with a pattern and makes the empty filesystem image.</summary>
    [GlobalSetup]
    public void Setup()
    {
        for (var i = 0; i < _page.Length; i++)
        {
            _page[i] = (byte)((i * 31) + (i >> 8));
        }

        _image = FormatImage(CapacityBytes, Mode);
    }

    /// <summary>What <see cref="Setup"/> does, then the host's tmpfs figure with fio.</summary>
    [GlobalSetup(Target = nameof(Dictionary))]
    public void SetupWithFio()
    {
        Setup();
        RunFio();
    }

    /// <summary>Copies the pages into a dictionary of pages (baseline).</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Writes)]
    public int Dictionary()
    {
        var pages = new Dictionary<long, byte[]>();
        for (var i = 0; i < Writes; i++)
        {
            if (!pages.TryGetValue(i, out var p))
            {
                pages[i] = p = new byte[PageBytes];
            }

            _page.CopyTo(p, 0);
        }

        return pages.Count;
    }

    /// <summary>Mounts a copy of the image, creates <c>/f</c> and writes it sequentially, 4 KiB at a time.</summary>
    [Benchmark(OperationsPerInvoke = Writes)]
    public void FileWrite() => MountAndRun(write: true);

    /// <summary>Mounts a copy of the image and creates <c>/f</c>: the setup's share of <see cref="FileWrite"/>.</summary>
    [Benchmark(OperationsPerInvoke = Writes)]
    public void MountOnly() => MountAndRun(write: false);

    /// <summary>Makes an empty filesystem of <paramref name="capacityBytes"/> and returns its durable image.</summary>
    internal static DiskImage FormatImage(long capacityBytes, CompletionMode mode)
    {
        DiskImage? image = null;
        using var m = NewMachine();
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = capacityBytes, Latency = LatencyModel.Constant(0) });
            FileSystem.Mkfs(disk, mode: mode);
            image = disk.DurableImage();
        });
        CheckReports(m);
        return image!;
    }

    /// <summary>A one-CPU real-engine machine without lockdep, as every benchmark here uses.</summary>
    internal static Machine NewMachine() =>
        Machine.Create(new MachineOptions { Engine = EngineKind.Real, Cpus = 1, Lockdep = LockdepMode.Off });

    /// <summary>A page cache that neither throttles nor writes back 64 MiB of dirty data on its own.</summary>
    internal static PageCache NewCache(Machine m, CompletionMode mode) =>
        PageCache.Create(m, new PageCacheOptions
        {
            Mode = mode,
            MemoryLimitBytes = 1L << 30,
            DirtyBytes = 1L << 30,
            DirtyBackgroundBytes = 1L << 30,
            DirtyWritebackCentisecs = 0,
        });

    /// <summary>Mounts <paramref name="disk"/>, throwing on failure.</summary>
    internal static FileSystem Mount(MemDisk disk, PageCache cache)
    {
        if (FileSystem.Mount(disk, cache, out var fs, out var problem) != Errno.None)
        {
            throw new InvalidOperationException("mount failed: " + problem);
        }

        return fs!;
    }

    /// <summary>Opens <paramref name="path"/>, throwing on failure.</summary>
    internal static FsFile Open(FileSystem fs, string path, OpenFlags flags)
    {
        Check(fs.Open(path, flags, out var f), "open", path);
        return f!;
    }

    /// <summary>Throws naming the operation unless <paramref name="err"/> is success.</summary>
    internal static void Check(Errno err, string op, string what)
    {
        if (err != Errno.None)
        {
            throw new InvalidOperationException($"{op} {what}: {err}");
        }
    }

    /// <summary>Throws if the machine reported anything (a bug, a lockdep splat, a warning).</summary>
    internal static void CheckReports(Machine m)
    {
        if (m.Reports.Count != 0)
        {
            throw new InvalidOperationException("the benchmark machine reported: " + m.Reports[0].Text);
        }
    }

    /// <summary>Prints <paramref name="value"/> under <paramref name="key"/> on the benchmark
    /// process's output, where <see cref="ReportedValue"/> finds it (a "//" line: BenchmarkDotNet
    /// does not parse those as measurements).</summary>
    internal static void Report(string key, string value) => Console.WriteLine($"// {key}: {value}");

    /// <summary>The value printed under <paramref name="key"/> by the process of
    /// <paramref name="benchmarkCase"/> or, with <paramref name="sameParameters"/>, by any process
    /// of a case with the same parameters; null if none printed it.</summary>
    internal static string? ReportedValue(Summary summary, BenchmarkCase benchmarkCase, string key, bool sameParameters)
    {
        var prefix = "// " + key + ": ";
        foreach (var c in summary.BenchmarksCases)
        {
            if (c != benchmarkCase && (!sameParameters || c.Parameters.ValueInfo != benchmarkCase.Parameters.ValueInfo))
            {
                continue;
            }

            var line = summary[c]?.ExecuteResults.SelectMany(r => r.StandardOutput).LastOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
            if (line is not null)
            {
                return line[prefix.Length..];
            }
        }

        return null;
    }

    /// <summary>Operations per second of <paramref name="benchmarkCase"/> (1e9 / mean), or null if it has no result.</summary>
    internal static double? PerSecond(Summary summary, BenchmarkCase benchmarkCase) =>
        summary[benchmarkCase]?.ResultStatistics?.Mean is { } ns and > 0 ? 1e9 / ns : null;

    /// <summary>Formats a rate with thousands separators.</summary>
    internal static string Rate(double perSecond) => perSecond.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>Runs fio three times on /dev/shm and reports the median write IOPS; says so if fio is missing.</summary>
    private static void RunFio()
    {
        var runs = new List<double>();
        for (var run = 0; run < 3; run++)
        {
            var iops = FioOnce(out var problem);
            if (iops is null)
            {
                Console.WriteLine("// fio: " + problem + "; the tmpfs figure is skipped.");
                Report(FioKey, "skipped");
                return;
            }

            runs.Add(iops.Value);
        }

        var sorted = runs.Order().ToList();
        Console.WriteLine("// fio tmpfs write IOPS, each run: " + string.Join(", ", runs.Select(Rate)));
        Report(FioKey, sorted[sorted.Count / 2].ToString("F0", CultureInfo.InvariantCulture));
    }

    private static double? FioOnce(out string? problem)
    {
        var file = $"/dev/shm/writeback-bench-fio.{Environment.ProcessId}";
        var psi = new ProcessStartInfo("fio")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "--name=w", "--ioengine=psync", "--rw=write", "--bs=4k", "--size=64m", "--filename=" + file, "--unlink=1", "--output-format=json" })
        {
            psi.ArgumentList.Add(arg);
        }

        try
        {
            using var fio = Process.Start(psi)!;
            var stderr = fio.StandardError.ReadToEndAsync();
            var json = fio.StandardOutput.ReadToEnd();
            fio.WaitForExit();
            if (fio.ExitCode != 0)
            {
                problem = $"fio exited with {fio.ExitCode}: {stderr.Result.Trim()}";
                return null;
            }

            using var doc = JsonDocument.Parse(json);
            problem = null;
            return doc.RootElement.GetProperty("jobs")[0].GetProperty("write").GetProperty("iops").GetDouble();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            problem = "fio is not installed (apt-get install fio): " + ex.Message;
            return null;
        }
        catch (JsonException ex)
        {
            problem = "fio's JSON output did not parse: " + ex.Message;
            return null;
        }
        finally
        {
            File.Delete(file);
        }
    }

    private void MountAndRun(bool write)
    {
        using var m = NewMachine();
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = CapacityBytes, Latency = LatencyModel.Constant(0) }, _image);
            var fs = Mount(disk, NewCache(m, Mode));
            var f = Open(fs, "/f", OpenFlags.Create);
            for (var i = 0; write && i < Writes; i++)
            {
                Check(f.Write((long)i * PageBytes, _page, out var written), "write", "/f");
                if (written != PageBytes)
                {
                    throw new InvalidOperationException($"short write at {i}: {written} bytes");
                }
            }

            if (write && f.Size != (long)Writes * PageBytes)
            {
                throw new InvalidOperationException($"/f is {f.Size} bytes after the writes");
            }

            Check(f.Close(), "close", "/f");
        });
        CheckReports(m);
    }

    /// <summary>A column computed from the summary, for the figures BenchmarkDotNet does not derive itself.</summary>
    internal sealed class DerivedColumn(string id, string name, string legend, Func<Summary, BenchmarkCase, string> value) : IColumn
    {
        public string Id => id;

        public string ColumnName => name;

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Custom;

        public int PriorityInCategory => 0;

        public bool IsNumeric => true;

        public UnitType UnitType => UnitType.Dimensionless;

        public string Legend => legend;

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => value(summary, benchmarkCase);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => value(summary, benchmarkCase);

        public bool IsAvailable(Summary summary) => true;

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    }

    private sealed class Columns : ManualConfig
    {
        public Columns()
        {
            AddColumn(
                new DerivedColumn("WritesPerSecond", "Writes/s", "Writes per second: 1e9 / Mean (ns)", (s, c) => IsMountOnly(c) ? "-" : PerSecond(s, c) is { } r ? Rate(r) : "-"),
                new DerivedColumn("NetWritesPerSecond", "Writes/s net", "FileWrite without the mount: 1e9 / (Mean - MountOnly's Mean)", (s, c) => NetPerSecond(s, c) is { } r ? Rate(r) : "-"),
                new DerivedColumn("TmpfsIops", "tmpfs IOPS", "Host kernel, fio psync 4 KiB sequential writes into a 64 MiB file on /dev/shm: median of 3 runs, by this mode's baseline process", (s, c) => TmpfsIops(s, c) is { } iops ? Rate(iops) : "-"),
                new DerivedColumn("OfHalfTmpfs", "of tmpfs/2", "FileWrite's Writes/s (and net) divided by half the tmpfs IOPS (target: at least 1)", OfHalfTmpfs));
        }

        private static bool IsFileWrite(BenchmarkCase c) => c.Descriptor.WorkloadMethod.Name == nameof(FileWrite);

        private static bool IsMountOnly(BenchmarkCase c) => c.Descriptor.WorkloadMethod.Name == nameof(MountOnly);

        private static double? TmpfsIops(Summary s, BenchmarkCase c) =>
            ReportedValue(s, c, FioKey, sameParameters: true) is { } v && double.TryParse(v, CultureInfo.InvariantCulture, out var iops) ? iops : null;

        private static double? NetPerSecond(Summary s, BenchmarkCase c)
        {
            var mount = s.BenchmarksCases.FirstOrDefault(m => IsMountOnly(m) && m.Parameters.ValueInfo == c.Parameters.ValueInfo);
            return IsFileWrite(c) && mount is not null && s[c]?.ResultStatistics?.Mean is { } mean && s[mount]?.ResultStatistics?.Mean is { } mountMean && mean > mountMean
                ? 1e9 / (mean - mountMean)
                : null;
        }

        private static string OfHalfTmpfs(Summary s, BenchmarkCase c)
        {
            if (!IsFileWrite(c) || TmpfsIops(s, c) is not { } iops || PerSecond(s, c) is not { } r)
            {
                return "-";
            }

            var half = iops / 2;
            var text = (r / half).ToString("F2", CultureInfo.InvariantCulture);
            return NetPerSecond(s, c) is { } net ? text + " (" + (net / half).ToString("F2", CultureInfo.InvariantCulture) + ")" : text;
        }
    }
}
