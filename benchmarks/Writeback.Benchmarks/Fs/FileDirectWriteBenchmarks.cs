using BenchmarkDotNet.Attributes;
using Writeback.Block;
using Writeback.Fs;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Benchmarks.Fs;

/// <summary>4 KiB synchronous direct writes (<see cref="OpenFlags.Direct"/>) through the file API,
/// sequential over an 8 MiB file, in each completion mode and over three kinds of space: blocks
/// already written, blocks preallocated (unwritten), and holes; against the same number of
/// synchronous 4 KiB write bios straight to the device. Real engine, one CPU, zero service time.</summary>
/// <remarks>Issue: "4 KiB direct writes per second".
/// <para>The file <c>/d</c> is made once in <see cref="Setup"/> and kept in a filesystem image
/// (32 MiB): <c>written</c> — 8 MiB written and synced, so each direct write is a pure overwrite
/// (i_rwsem shared, no transaction, the bio); <c>unwritten</c> — 8 MiB fallocated, so each write's
/// completion converts its block to written (a transaction; in IRQ mode the completion is
/// deferred to the dio workqueue); <c>hole</c> — truncated up to 8 MiB and sparse, so each write
/// also allocates its block (unwritten, then converted at completion). None extends the file.
/// Each invocation is one machine run that mounts a copy of the image, opens <c>/d</c> for direct
/// I/O and writes it from 0 to 8 MiB, 4 KiB a write.</para>
/// <para>The baseline is a run on an unformatted <see cref="MemDisk"/> that submits the same 2,048
/// write bios of 4 KiB and waits for each (<see cref="Bio.SubmitWait"/>): the block layer's share of
/// a direct write. The mean is per write (the mount is in it, amortised over the 2,048 writes);
/// writes per second is 1e9 / mean (ns), also in the <c>Writes/s</c> column.</para></remarks>
[MemoryDiagnoser]
[Config(typeof(Columns))]
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 8, invocationCount: 1)]
public class FileDirectWriteBenchmarks
{
    private const int Writes = 2048;
    private const int PageBytes = 4096;
    private const long FileBytes = (long)Writes * PageBytes;
    private const long CapacityBytes = 32L << 20;
    private readonly byte[] _page = new byte[PageBytes];
    private DiskImage? _image;

    /// <summary>How bios complete (the page cache's and the filesystem's mode).</summary>
    [Params(CompletionMode.Irq, CompletionMode.Task)]
    public CompletionMode Mode { get; set; }

    /// <summary>What the writes land on: <c>written</c> blocks, <c>unwritten</c> (fallocated) blocks, or a <c>hole</c>.</summary>
    [Params("written", "unwritten", "hole")]
    public string Space { get; set; } = "written";

    /// <summary>Fills the page with a pattern and makes the image holding <c>/d</c>.</summary>
    [GlobalSetup]
    public void Setup()
    {
        for (var i = 0; i < _page.Length; i++)
        {
            _page[i] = (byte)((i * 13) + (i >> 10));
        }

        var empty = FileWriteBenchmarks.FormatImage(CapacityBytes, Mode);
        using var m = FileWriteBenchmarks.NewMachine();
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), DiskOptions(), empty);
            var fs = FileWriteBenchmarks.Mount(disk, FileWriteBenchmarks.NewCache(m, Mode));
            var f = FileWriteBenchmarks.Open(fs, "/d", OpenFlags.Create);
            switch (Space)
            {
                case "written":
                    for (var i = 0; i < Writes; i++)
                    {
                        FileWriteBenchmarks.Check(f.Write((long)i * PageBytes, _page, out _), "write", "/d");
                    }

                    break;
                case "unwritten":
                    FileWriteBenchmarks.Check(f.Fallocate(0, FileBytes), "fallocate", "/d");
                    break;
                case "hole":
                    FileWriteBenchmarks.Check(f.Truncate(FileBytes), "truncate", "/d");
                    break;
                default:
                    throw new InvalidOperationException("unknown space " + Space);
            }

            FileWriteBenchmarks.Check(f.Close(), "close", "/d");
            FileWriteBenchmarks.Check(fs.Unmount(), "unmount", "/");
            _image = disk.DurableImage();
        });
        FileWriteBenchmarks.CheckReports(m);
    }

    /// <summary>Synchronous 4 KiB write bios straight to the device (baseline).</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Writes)]
    public void Bios()
    {
        using var m = FileWriteBenchmarks.NewMachine();
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), DiskOptions());
            var sectors = (ulong)PageBytes / BlockDevice.SectorSize;
            for (var i = 0; i < Writes; i++)
            {
                var bio = new Bio(disk, BioOp.Write) { Sector = (ulong)i * sectors };
                bio.AddVec(_page);
                FileWriteBenchmarks.Check(bio.SubmitWait(), "bio", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        });
        FileWriteBenchmarks.CheckReports(m);
    }

    /// <summary>Mounts a copy of the image and writes <c>/d</c> with direct I/O, 4 KiB at a time.</summary>
    [Benchmark(OperationsPerInvoke = Writes)]
    public void DirectWrite()
    {
        using var m = FileWriteBenchmarks.NewMachine();
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), DiskOptions(), _image);
            var fs = FileWriteBenchmarks.Mount(disk, FileWriteBenchmarks.NewCache(m, Mode));
            var f = FileWriteBenchmarks.Open(fs, "/d", OpenFlags.Direct);
            for (var i = 0; i < Writes; i++)
            {
                FileWriteBenchmarks.Check(f.Write((long)i * PageBytes, _page, out var written), "direct write", "/d");
                if (written != PageBytes)
                {
                    throw new InvalidOperationException($"short direct write at {i}: {written} bytes");
                }
            }

            if (f.Size != FileBytes)
            {
                throw new InvalidOperationException($"/d is {f.Size} bytes after the writes");
            }

            FileWriteBenchmarks.Check(f.Close(), "close", "/d");
        });
        FileWriteBenchmarks.CheckReports(m);
    }

    private static DiskOptions DiskOptions() => new() { CapacityBytes = CapacityBytes, Latency = LatencyModel.Constant(0) };

    private sealed class Columns : BenchmarkDotNet.Configs.ManualConfig
    {
        public Columns() =>
            AddColumn(new FileWriteBenchmarks.DerivedColumn("WritesPerSecond", "Writes/s", "Writes per second: 1e9 / Mean (ns)",
                (s, c) => FileWriteBenchmarks.PerSecond(s, c) is { } r ? FileWriteBenchmarks.Rate(r) : "-"));
    }
}
