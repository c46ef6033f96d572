using System.Globalization;
using Writeback.Workloads.Fio;

namespace Writeback.Workloads.Running;

/// <summary>One fio job resolved into what the runner does: the access pattern, sizes, files,
/// submission, syncing, timing and verification, each checked against the others.</summary>
/// <remarks>fio defaults are kept: <c>rw=read</c>, <c>bs=4k</c>, <c>ioengine=psync</c>,
/// <c>iodepth=1</c>, <c>fallocate=native</c> (fio preallocates the files it lays out, so a write job
/// writes into unwritten extents), <c>randrepeat=1</c>, <c>verify=0</c>, <c>invalidate=1</c> (files
/// are laid out, synced and dropped from the cache before the job starts). Model: asynchronous engines
/// (libaio, io_uring) submit direct writes asynchronously, up to <c>iodepth</c> in flight; their
/// buffered writes and all reads are synchronous (libaio's buffered I/O is synchronous too; the
/// model has no asynchronous read path).</remarks>
public sealed record JobSpec
{
    /// <summary>The job's name.</summary>
    public required string Name { get; init; }

    /// <summary>Where its section is, for errors.</summary>
    public required string Where { get; init; }

    /// <summary>The access pattern.</summary>
    public RwKind Rw { get; init; } = RwKind.Read;

    /// <summary>The rw= text as written (for the report header).</summary>
    public string RwText { get; init; } = "read";

    /// <summary>Percentage of mixed I/O that reads.</summary>
    public int ReadMixPercent { get; init; } = 50;

    /// <summary>Read block size, bytes.</summary>
    public int ReadBlockSize { get; init; } = 4096;

    /// <summary>Write block size, bytes.</summary>
    public int WriteBlockSize { get; init; } = 4096;

    /// <summary>Bytes of I/O of one job instance (size=), split over its files.</summary>
    public long Size { get; init; }

    /// <summary>Size of each file.</summary>
    public long FileSize { get; init; }

    /// <summary>Where I/O starts in each file.</summary>
    public long Offset { get; init; }

    /// <summary>Files per job instance.</summary>
    public int NrFiles { get; init; } = 1;

    /// <summary>A fixed file name (shared by every instance), or null for fio's <c>name.N.M</c>.</summary>
    public string? FileName { get; init; }

    /// <summary>The directory the files go in ("/" unless set).</summary>
    public string Directory { get; init; } = "/";

    /// <summary>Instances of the job (numjobs).</summary>
    public int NumJobs { get; init; } = 1;

    /// <summary>I/Os in flight for an asynchronous engine.</summary>
    public int IoDepth { get; init; } = 1;

    /// <summary>The ioengine as written.</summary>
    public string IoEngine { get; init; } = "psync";

    /// <summary>Whether the engine submits asynchronously (libaio, io_uring).</summary>
    public bool Async => IoEngine is "libaio" or "io_uring";

    /// <summary>O_DIRECT.</summary>
    public bool Direct { get; init; }

    /// <summary>O_SYNC.</summary>
    public bool OSync { get; init; }

    /// <summary>O_DSYNC.</summary>
    public bool ODsync { get; init; }

    /// <summary>fsync after this many writes (0 = never).</summary>
    public long FsyncEvery { get; init; }

    /// <summary>fdatasync after this many writes (0 = never).</summary>
    public long FdatasyncEvery { get; init; }

    /// <summary>fsync when the job ends.</summary>
    public bool EndFsync { get; init; }

    /// <summary>fsync each file as it is closed.</summary>
    public bool FsyncOnClose { get; init; }

    /// <summary>How files are preallocated: none, native/posix (fallocate, size set), keep (size kept), truncate.</summary>
    public string Fallocate { get; init; } = "native";

    /// <summary>Lay the files out with data before the job, so that writes overwrite written blocks (fio's overwrite=1).</summary>
    public bool Overwrite { get; init; }

    /// <summary>Run time limit (µs; 0 = none).</summary>
    public long RuntimeUs { get; init; }

    /// <summary>Keep going over the same range until the runtime ends.</summary>
    public bool TimeBased { get; init; }

    /// <summary>Time before statistics start (µs).</summary>
    public long RampTimeUs { get; init; }

    /// <summary>Random offsets repeat from run to run (seeded by randseed).</summary>
    public bool RandRepeat { get; init; } = true;

    /// <summary>The random seed (fio's default is 0x89).</summary>
    public ulong RandSeed { get; init; } = 0x89;

    /// <summary>Whether randseed was given (otherwise the machine seed varies offsets when randrepeat=0).</summary>
    public bool RandSeedSet { get; init; }

    /// <summary>Pause after each I/O (µs).</summary>
    public long ThinkTimeUs { get; init; }

    /// <summary>Report the job's instances as one.</summary>
    public bool GroupReporting { get; init; }

    /// <summary>Write a crc32c header into each block and check it when read back.</summary>
    public bool Verify { get; init; }

    /// <summary>Run the verify phase after writing (do_verify).</summary>
    public bool DoVerify { get; init; } = true;

    /// <summary>Write with RWF_DONTCACHE.</summary>
    public bool Uncached { get; init; }

    /// <summary>Percentiles to report.</summary>
    public IReadOnlyList<double> Percentiles { get; init; } = DefaultPercentiles;

    /// <summary>The largest block size the model accepts.</summary>
    public const int MaxBlockSize = 16 << 20;

    /// <summary>fio's default percentile list.</summary>
    public static IReadOnlyList<double> DefaultPercentiles { get; } = [1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99];

    /// <summary>The job's options as written (fio's "job options" object).</summary>
    public IReadOnlyDictionary<string, string> Options { get; init; } = new Dictionary<string, string>();

    /// <summary>The kb_base (for printing sizes).</summary>
    public int KbBase { get; init; } = 1024;

    /// <summary>Whether the job reads.</summary>
    public bool Reads => Rw is RwKind.Read or RwKind.RandRead or RwKind.ReadWrite or RwKind.RandRw;

    /// <summary>Whether the job writes.</summary>
    public bool Writes => Rw is RwKind.Write or RwKind.RandWrite or RwKind.ReadWrite or RwKind.RandRw;

    /// <summary>Whether offsets are random.</summary>
    public bool Random => Rw is RwKind.RandRead or RwKind.RandWrite or RwKind.RandRw;

    /// <summary>Resolves <paramref name="job"/>.</summary>
    /// <exception cref="JobFileException">The options do not fit together; names file, line and option.</exception>
    public static JobSpec From(FioJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        var rwText = job.Get("rw") ?? job.Get("readwrite") ?? "read";
        var (readBs, writeBs) = BlockSizes(job);
        var nrfiles = (int)job.GetNumber("nrfiles", 1);
        var size = job.GetSize("size", 0);
        var filesize = job.GetSize("filesize", 0);
        if (size == 0 && filesize == 0)
        {
            throw new JobFileException(job.File, job.Line, "size", $"job [{job.Name}] needs size= or filesize= (fio cannot size its files otherwise)");
        }

        var fileName = job.Get("filename");
        var files = fileName is null ? nrfiles : 1; // fio: a filename= list sets the file count
        var directory = job.Get("directory", "/")!;
        var spec = new JobSpec
        {
            Name = job.Name,
            Where = $"{job.File}:{job.Line}",
            Rw = rwText switch
            {
                "read" => RwKind.Read,
                "write" => RwKind.Write,
                "randread" => RwKind.RandRead,
                "randwrite" => RwKind.RandWrite,
                "rw" or "readwrite" => RwKind.ReadWrite,
                _ => RwKind.RandRw,
            },
            RwText = rwText,
            ReadMixPercent = job.Options.ContainsKey("rwmixread") ? (int)job.GetNumber("rwmixread", 50)
                : job.Options.ContainsKey("rwmixwrite") ? 100 - (int)job.GetNumber("rwmixwrite", 50) : 50,
            ReadBlockSize = (int)readBs,
            WriteBlockSize = (int)writeBs,
            Size = size == 0 ? filesize * files : size,
            FileSize = filesize == 0 ? size / files : filesize,
            Offset = job.GetSize("offset", 0),
            NrFiles = files,
            FileName = fileName,
            Directory = directory.StartsWith('/') ? directory : "/" + directory,
            NumJobs = (int)job.GetNumber("numjobs", 1),
            IoDepth = (int)job.GetNumber("iodepth", 1),
            IoEngine = job.Get("ioengine", "psync")!,
            Direct = job.GetBool("direct", false) || job.Options.ContainsKey("buffered") && !job.GetBool("buffered", true),
            OSync = job.Get("sync", "none") is "sync" or "1",
            ODsync = job.Get("sync", "none") is "dsync",
            FsyncEvery = job.GetNumber("fsync", 0),
            FdatasyncEvery = job.GetNumber("fdatasync", 0),
            EndFsync = job.GetBool("end_fsync", false),
            FsyncOnClose = job.GetBool("fsync_on_close", false),
            Fallocate = job.Get("fallocate", "native") switch { "0" => "none", "1" => "posix", var f => f! },
            Overwrite = job.GetBool("overwrite", false),
            RuntimeUs = Time(job, "runtime", 1_000_000),
            TimeBased = job.GetBool("time_based", false),
            RampTimeUs = Time(job, "ramp_time", 1_000_000),
            RandRepeat = job.GetBool("randrepeat", true),
            RandSeed = (ulong)job.GetNumber("randseed", 0x89),
            RandSeedSet = job.Options.ContainsKey("randseed"),
            ThinkTimeUs = Time(job, "thinktime", 1),
            GroupReporting = job.GetBool("group_reporting", false),
            Verify = job.Get("verify", "0") is "crc32c" or "crc32c-intel",
            DoVerify = job.GetBool("do_verify", true),
            Uncached = job.GetBool("uncached", false),
            Percentiles = job.Get("percentile_list") is { } pl
                ? pl.Split(':').Select(p => double.Parse(p, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray()
                : DefaultPercentiles,
            Options = job.Options.Where(o => o.Key != "name").ToDictionary(o => o.Key, o => o.Value.Value, StringComparer.Ordinal),
            KbBase = job.KbBase,
        };
        Check(spec, job);
        return spec;
    }

    private static (long Read, long Write) BlockSizes(FioJob job)
    {
        var option = job.Options.ContainsKey("bs") ? "bs" : "blocksize";
        var parts = (job.Get(option) ?? "4k").Split(',');
        long Parse(string text) => text.Length > 0 && FioJobFile.TryParseSize(text, job.KbBase, out var b) ? b : 4096;
        var read = Parse(parts[0]);
        var write = parts.Length > 1 && parts[1].Length > 0 ? Parse(parts[1]) : read;
        if (Math.Max(read, write) > MaxBlockSize)
        {
            throw Bad(job, option, $"{Math.Max(read, write)} bytes is larger than the model's {MaxBlockSize >> 20} MiB block-size limit");
        }

        return (read, write);
    }

    // The combinations fio would reject, or the model cannot run, named by the option at fault.
    private static void Check(JobSpec s, FioJob job)
    {
        var maxBs = s.Rw switch
        {
            RwKind.Read or RwKind.RandRead => s.ReadBlockSize,
            RwKind.Write or RwKind.RandWrite => s.WriteBlockSize,
            _ => Math.Max(s.ReadBlockSize, s.WriteBlockSize),
        };
        if (s.FileSize - s.Offset < maxBs)
        {
            throw Bad(job, job.Options.ContainsKey("filesize") ? "filesize" : "size", $"each file has {Math.Max(0, s.FileSize - s.Offset)} bytes to use after offset, less than one block of {maxBs} bytes");
        }

        if (job.Options.ContainsKey("direct") && job.Options.ContainsKey("buffered") && job.GetBool("direct", false) == job.GetBool("buffered", true))
        {
            throw Bad(job, "buffered", "contradicts direct= (buffered is the inverse of direct)");
        }

        if (s.Uncached && s.Direct)
        {
            throw Bad(job, "uncached", "RWF_DONTCACHE applies to buffered I/O; this job is direct=1");
        }

        if (s.Verify && s.Rw is not (RwKind.Write or RwKind.RandWrite))
        {
            throw Bad(job, "verify", "the model verifies write jobs (rw=write or randwrite): mixed or read jobs have no known contents to check");
        }

        if (s.TimeBased && s.RuntimeUs == 0)
        {
            throw Bad(job, "time_based", "needs runtime= (a time-based job without a runtime never ends)");
        }

        if (s.FileName is { } f && (f.Length == 0 || f.Contains(':', StringComparison.Ordinal) || f.Contains('/', StringComparison.Ordinal)))
        {
            throw Bad(job, "filename", "the model takes one plain file name (fio's ':'-separated lists and paths are not supported; use directory=)");
        }
    }

    private static JobFileException Bad(FioJob job, string option, string problem)
    {
        var at = job.Options.TryGetValue(option, out var v) ? v : null;
        return new JobFileException(at?.File ?? job.File, at?.Line ?? job.Line, option, problem);
    }

    /// <summary>The path of file <paramref name="file"/> of instance <paramref name="instance"/> (fio's <c>name.instance.file</c>).</summary>
    public string FilePath(int instance, int file)
    {
        var name = FileName ?? string.Create(CultureInfo.InvariantCulture, $"{Name}.{instance}.{file}");
        return Directory.EndsWith('/') ? Directory + name : Directory + "/" + name;
    }

    private static long Time(FioJob job, string option, long unitUs) =>
        job.Get(option) is { } v && FioOptionKind.TryParseTime(v, unitUs, out var us) ? us : 0;
}
