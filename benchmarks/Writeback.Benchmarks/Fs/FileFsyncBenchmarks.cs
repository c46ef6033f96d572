using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Writeback.Block;
using Writeback.Fs;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Benchmarks.Fs;

/// <summary>The latency of <see cref="FsFile.Fsync"/> after 1 MiB of 4 KiB buffered writes into a
/// new file, in each completion mode, on a device with zero service time and on one with the
/// default NVMe <see cref="LatencyModel"/>; real engine, one CPU.</summary>
/// <remarks>Issue: "fsync latency after 1 MiB of 4 KiB writes, each mode".
/// <para>A machine runs once, so the fsync cannot be timed by BenchmarkDotNet on its own. Each
/// invocation is one machine run: mount a copy of a freshly made 16 MiB filesystem image, create
/// <c>/f</c>, write 256 × 4 KiB, then (in <see cref="WriteThenFsync"/>) fsync, and close. Two
/// figures come out of it:</para>
/// <list type="bullet">
/// <item><c>Fsync (clock)</c>: the fsync call alone, timed with the machine's clock
/// (<see cref="Machine.NowNs"/>, the host's monotonic clock on the real engine) inside the run;
/// the median over every invocation of the benchmark's process (warm-up included), printed by
/// <see cref="Cleanup"/> on the process's output and read back by the column.</item>
/// <item><c>Δ Mean</c>: the invocation's mean minus that of <see cref="WriteOnly"/> (the
/// baseline, the same run without the fsync) — the same quantity from BenchmarkDotNet's clock,
/// noisier because it is a difference of two whole runs.</item>
/// </list>
/// <para>The fsync writes back 256 dirty folios (their delalloc blocks are allocated then, in a
/// transaction), waits for them — the ioends end past the on-disk size, so each needs completion
/// work: on xfs-conv in IRQ mode, inline in the bio's task-context completion in task mode — logs
/// the timestamps and flushes the device's cache. With <c>nvme</c> each request takes 20 µs +
/// 0.25 ns/byte + up to 2 µs of jitter and a cache flush 100 µs (the <see cref="LatencyModel"/>
/// defaults); with <c>zero</c> the figure is the model's own cost. Dirty thresholds are above
/// the data and periodic writeback is off, so nothing is written before the fsync.</para></remarks>
[MemoryDiagnoser]
[Config(typeof(Columns))]
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 15, invocationCount: 1)]
public class FileFsyncBenchmarks
{
    private const int Writes = 256;
    private const int PageBytes = 4096;
    private const long CapacityBytes = 16L << 20;
    private const string FsyncKey = "fsync-ns";
    private readonly byte[] _page = new byte[PageBytes];
    private readonly List<long> _fsyncNs = [];
    private DiskImage? _image;

    /// <summary>How bios complete (the page cache's and the filesystem's mode).</summary>
    [Params(CompletionMode.Irq, CompletionMode.Task)]
    public CompletionMode Mode { get; set; }

    /// <summary>The device's service time: <c>zero</c>, or <c>nvme</c> (the <see cref="LatencyModel"/> defaults).</summary>
    [Params("zero", "nvme")]
    public string Device { get; set; } = "zero";

    /// <summary>Fills the page with a pattern and makes the empty filesystem image.</summary>
    [GlobalSetup]
    public void Setup()
    {
        for (var i = 0; i < _page.Length; i++)
        {
            _page[i] = (byte)((i * 17) + (i >> 9));
        }

        _image = FileWriteBenchmarks.FormatImage(CapacityBytes, Mode);
    }

    /// <summary>Prints the machine-clock fsync times of this process.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        if (_fsyncNs.Count == 0)
        {
            return;
        }

        var sorted = _fsyncNs.Order().ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"// fsync, machine clock, {sorted.Count} invocations: min {sorted[0] / 1e3:F1} µs, median {sorted[sorted.Count / 2] / 1e3:F1} µs, max {sorted[^1] / 1e3:F1} µs"));
        FileWriteBenchmarks.Report(FsyncKey, sorted[sorted.Count / 2].ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>Mount, create, 1 MiB of 4 KiB writes, close (baseline).</summary>
    [Benchmark(Baseline = true)]
    public void WriteOnly() => Run(fsync: false);

    /// <summary>The same with an fsync after the writes.</summary>
    [Benchmark]
    public void WriteThenFsync() => Run(fsync: true);

    private void Run(bool fsync)
    {
        using var m = FileWriteBenchmarks.NewMachine();
        m.Run(() =>
        {
            var latency = Device == "nvme" ? new LatencyModel() : LatencyModel.Constant(0);
            var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = CapacityBytes, Latency = latency }, _image);
            var fs = FileWriteBenchmarks.Mount(disk, FileWriteBenchmarks.NewCache(m, Mode));
            var f = FileWriteBenchmarks.Open(fs, "/f", OpenFlags.Create);
            for (var i = 0; i < Writes; i++)
            {
                FileWriteBenchmarks.Check(f.Write((long)i * PageBytes, _page, out _), "write", "/f");
            }

            if (fsync)
            {
                var start = m.NowNs;
                FileWriteBenchmarks.Check(f.Fsync(), "fsync", "/f");
                _fsyncNs.Add(m.NowNs - start);
                if (f.Inode.DiskSize != (long)Writes * PageBytes)
                {
                    throw new InvalidOperationException($"on-disk size {f.Inode.DiskSize} after fsync");
                }
            }

            FileWriteBenchmarks.Check(f.Close(), "close", "/f");
        });
        FileWriteBenchmarks.CheckReports(m);
    }

    private sealed class Columns : ManualConfig
    {
        public Columns()
        {
            AddColumn(
                new FileWriteBenchmarks.DerivedColumn("FsyncClock", "Fsync (clock)", "The fsync call alone, machine clock inside the run: median over the process's invocations", FsyncClock),
                new FileWriteBenchmarks.DerivedColumn("DeltaMean", "Δ Mean", "Mean minus the baseline's mean (same parameters)", DeltaMean));
        }

        private static string FsyncClock(Summary s, BenchmarkCase c) =>
            FileWriteBenchmarks.ReportedValue(s, c, FsyncKey, sameParameters: false) is { } v && long.TryParse(v, CultureInfo.InvariantCulture, out var ns)
                ? Micros(ns)
                : "-";

        private static string DeltaMean(Summary s, BenchmarkCase c)
        {
            var baseline = s.BenchmarksCases.FirstOrDefault(b => b.Descriptor.Baseline && b.Parameters.ValueInfo == c.Parameters.ValueInfo);
            return c.Descriptor.Baseline || baseline is null || s[c]?.ResultStatistics is not { } mine || s[baseline]?.ResultStatistics is not { } theirs
                ? "-"
                : Micros(mine.Mean - theirs.Mean);
        }

        private static string Micros(double ns) => (ns / 1e3).ToString("F1", CultureInfo.InvariantCulture) + " µs";
    }
}
