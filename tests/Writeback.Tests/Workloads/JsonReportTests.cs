using System.Globalization;
using System.Text;
using System.Text.Json;
using Writeback.Block;
using Writeback.Diagnostics;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;
using Writeback.Workloads.Reports;
using Writeback.Workloads.Running;

namespace Writeback.Tests.Workloads;

/// <summary>The JSON report: fio 3.33's keys, nesting, order and units for the jobs, the "model"
/// object's contract, and output that depends on nothing but the run outside "host".</summary>
public class JsonReportTests
{
    private static readonly DateTimeOffset s_when = new(2026, 12, 1, 22, 25, 45, 91, TimeSpan.Zero);
    private static readonly JsonReportHost s_host = new(1234, "testhost", s_when);

    // ---------------------------------------------------------------------------------------------
    // Building results by hand: every figure is chosen, so every printed number can be checked.

    private static JobSpec Spec(string name = "seq-write", IReadOnlyList<double>? percentiles = null) => new()
    {
        Name = name,
        Where = "test.fio:1",
        Rw = RwKind.Write,
        RwText = "write",
        Size = 1 << 20,
        FileSize = 1 << 20,
        Percentiles = percentiles ?? JobSpec.DefaultPercentiles,
        Options = new Dictionary<string, string>(StringComparer.Ordinal) { ["rw"] = "write", ["bs"] = "4k", ["size"] = "1m", ["fsync"] = "64" },
    };

    // 256 writes of 4 KiB, clat 10..265 us, over 1.5 s, three full 500 ms samples, 4 fsyncs.
    private static JobResult Job(JobSpec? spec = null)
    {
        var job = new JobResult(spec ?? Spec(), 0) { Pid = 7 };
        for (var i = 0; i < 256; i++)
        {
            job.Write.Record(4096, 4096, -1, 10_000 + (i * 1000L), i * 5_000_000L);
        }

        job.Write.RuntimeNs = 1_500_000_000;
        job.Write.Sample(400 * 1024, 100);
        job.Write.Sample(300 * 1024, 75);
        job.Write.Sample(324 * 1024, 81);
        job.Depths[1] = 256;
        foreach (var ns in new long[] { 500_000, 600_000, 700_000, 2_000_000 })
        {
            job.Sync.Record(ns);
        }

        return job;
    }

    private static LockStatEntry Entry(string className, string name, long acquisitions, bool read = false) => new()
    {
        ClassName = className,
        Name = name,
        IsRead = read,
        ConBounces = 1,
        Contentions = 3,
        WaitTimeMinNs = 100,
        WaitTimeMaxNs = 900,
        WaitTimeTotalNs = 1500,
        WaitTimeAvgNs = 500,
        AcqBounces = 2,
        Acquisitions = acquisitions,
        HoldTimeMinNs = 50,
        HoldTimeMaxNs = 5000,
        HoldTimeTotalNs = 40_000,
        HoldTimeAvgNs = 40_000 / acquisitions,
        Wait = LatencySummary.Empty,
        Hold = new LatencySummary(acquisitions, 50, 300, 800, 4000, 5000, 5000, 40_000.0 / acquisitions),
        ContentionPoints = [],
        ContendedPoints = [],
    };

    private static ModelReport Model(
        IReadOnlyDictionary<string, (long Queued, long Executed)>? workqueues = null,
        IrqsOffMax? irqsOff = null,
        IReadOnlyList<string>? reports = null) => FakeRuns.Model(
            lockStat: [Entry(ModelReport.PagesClassName, "&mapping->i_pages", 100), Entry("&sb->s_type->i_lock_key", "&sb->s_type->i_lock_key#2", 10)],
            usage: new Dictionary<string, string>(StringComparer.Ordinal) { [ModelReport.PagesClassName] = "{IN-HARDIRQ-W}" },
            irqsOffByClassNs: new Dictionary<string, long>(StringComparer.Ordinal) { [ModelReport.PagesClassName] = 12_345 },
            irqsOff: irqsOff,
            irqsOffTotalNs: 20_000,
            irqLatency: new LatencySummary(10, 100, 200, 300, 400, 500, 600, 250.5),
            completionLatency: new LatencySummary(256, 1000, 2000, 3000, 4000, 5000, 6000, 2500.25),
            workqueues: workqueues ?? new Dictionary<string, (long Queued, long Executed)>(StringComparer.Ordinal) { ["ioend"] = (5, 5), ["events"] = (2, 1) },
            dropbehindLeft: 1,
            dropbehindRemoved: 2,
            reports: reports);

    private static RunResult Run(JobResult? job = null, ModelReport? model = null, WbsimOptions? options = null, long hostWallMs = 99) =>
        FakeRuns.Run(
            [job ?? Job()],
            model ?? Model(),
            options ?? new WbsimOptions { Cpus = 2, Seed = 42 },
            jobFile: "seq.fio",
            elapsedNs: 1_600_000_000,
            hostWallMs: hostWallMs);

    private static JsonElement Parse(string json) => JsonDocument.Parse(json).RootElement.Clone();

    private static JsonElement WriteOf(RunResult run) => Parse(JsonReport.Format(run, s_host)).GetProperty("jobs")[0].GetProperty("write");

    private static List<string> Keys(JsonElement e) => [.. e.EnumerateObject().Select(p => p.Name)];

    private static void AssertKinds(JsonElement e, params (string Key, JsonValueKind Kind)[] expected)
    {
        foreach (var (key, kind) in expected)
        {
            Assert.True(e.TryGetProperty(key, out var v), $"missing key \"{key}\"");
            Assert.True(v.ValueKind == kind, $"\"{key}\" is {v.ValueKind}, expected {kind}");
        }
    }

    // The document without its host object (the last top-level member).
    private static string WithoutHost(string json)
    {
        var at = json.IndexOf("\n  \"host\": {", StringComparison.Ordinal);
        Assert.True(at > 0, "no host object");
        return json[..at];
    }

    private static JsonElement Reference(string file) =>
        Parse(File.ReadAllText(RepoRoot.File("tests", "Writeback.Tests", "Workloads", "FioReference", file)));

    private static void AssertSubsequence(IReadOnlyList<string> ours, IReadOnlyList<string> fio, string what)
    {
        var j = 0;
        foreach (var key in ours)
        {
            while (j < fio.Count && fio[j] != key)
            {
                j++;
            }

            Assert.True(j < fio.Count, $"{what}: key \"{key}\" is not in fio's keys after the previous one (ours: {string.Join(", ", ours)}; fio: {string.Join(", ", fio)})");
            j++;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // fio's structure

    [Fact]
    public void TopLevel_HasFioVersionGlobalOptionsJobsModelAndHost_InThatOrder()
    {
        var root = Parse(JsonReport.Format(Run(), s_host));
        Assert.Equal(["fio version", "global options", "jobs", "model", "host"], Keys(root));
        Assert.Equal("wbsim (Writeback model, kernel " + Machine.KernelRelease + ")", root.GetProperty("fio version").GetString());
        Assert.Empty(Keys(root.GetProperty("global options")));
        Assert.Equal(JsonValueKind.Array, root.GetProperty("jobs").ValueKind);
    }

    [Fact]
    public void Job_HasFioKeys_AndOmitsWhatIsNotModelled()
    {
        var job = Parse(JsonReport.Format(Run(), s_host)).GetProperty("jobs")[0];
        AssertKinds(job,
            ("jobname", JsonValueKind.String), ("groupid", JsonValueKind.Number), ("error", JsonValueKind.Number),
            ("job options", JsonValueKind.Object), ("read", JsonValueKind.Object), ("write", JsonValueKind.Object),
            ("sync", JsonValueKind.Object), ("job_runtime", JsonValueKind.Number), ("iodepth_level", JsonValueKind.Object),
            ("latency_ns", JsonValueKind.Object), ("latency_us", JsonValueKind.Object), ("latency_ms", JsonValueKind.Object));
        foreach (var invented in new[] { "usr_cpu", "sys_cpu", "ctx", "majf", "minf", "trim", "timestamp", "time" })
        {
            Assert.False(job.TryGetProperty(invented, out _), $"\"{invented}\" is not modelled and must not be printed");
        }

        Assert.Equal("seq-write", job.GetProperty("jobname").GetString());
        Assert.Equal(1500, job.GetProperty("job_runtime").GetInt64());
    }

    [Fact]
    public void JobOptions_AreTheSpecsOptionsAsWritten_InOrder()
    {
        var options = Parse(JsonReport.Format(Run(), s_host)).GetProperty("jobs")[0].GetProperty("job options");
        Assert.Equal(["rw", "bs", "size", "fsync"], Keys(options));
        Assert.Equal("4k", options.GetProperty("bs").GetString());
    }

    [Fact]
    public void Direction_HasEveryFioKeyWithItsType()
    {
        var write = WriteOf(Run());
        var n = JsonValueKind.Number;
        AssertKinds(write,
            ("io_bytes", n), ("io_kbytes", n), ("bw_bytes", n), ("bw", n), ("iops", n), ("runtime", n), ("total_ios", n),
            ("short_ios", n), ("drop_ios", n), ("slat_ns", JsonValueKind.Object), ("clat_ns", JsonValueKind.Object),
            ("lat_ns", JsonValueKind.Object), ("bw_min", n), ("bw_max", n), ("bw_agg", n), ("bw_mean", n), ("bw_dev", n),
            ("bw_samples", n), ("iops_min", n), ("iops_max", n), ("iops_mean", n), ("iops_stddev", n), ("iops_samples", n));
        foreach (var name in new[] { "slat_ns", "clat_ns", "lat_ns" })
        {
            AssertKinds(write.GetProperty(name), ("min", n), ("max", n), ("mean", n), ("stddev", n), ("N", n));
        }
    }

    [Fact]
    public void Direction_Units_AreFios_BytesKiBPerSecondMillisecondsNanoseconds()
    {
        var job = Job();
        var write = WriteOf(Run(job));
        const long Bytes = 256 * 4096;
        Assert.Equal(Bytes, write.GetProperty("io_bytes").GetInt64());
        Assert.Equal(Bytes / 1024, write.GetProperty("io_kbytes").GetInt64());
        var bwBytes = (long)Math.Floor(Bytes / 1.5);
        Assert.Equal(bwBytes, write.GetProperty("bw_bytes").GetInt64());
        Assert.Equal(bwBytes / 1024, write.GetProperty("bw").GetInt64());
        Assert.Equal(256 / 1.5, write.GetProperty("iops").GetDouble(), 9);
        Assert.Equal(1500, write.GetProperty("runtime").GetInt64());
        Assert.Equal(256, write.GetProperty("total_ios").GetInt64());
        var clat = write.GetProperty("clat_ns");
        Assert.Equal(10_000, clat.GetProperty("min").GetInt64());
        Assert.Equal(265_000, clat.GetProperty("max").GetInt64());
        Assert.Equal(job.Write.Clat.Mean, clat.GetProperty("mean").GetDouble());
        Assert.Equal(job.Write.Clat.StdDev, clat.GetProperty("stddev").GetDouble());
        Assert.Equal(0, write.GetProperty("slat_ns").GetProperty("N").GetInt64());
    }

    [Fact]
    public void BandwidthSamples_AreKiBPerSecond_AndIopsSamplesPerSecond()
    {
        var write = WriteOf(Run());

        // 400, 300 and 324 KiB per 500 ms are 800, 600 and 648 KiB/s.
        Assert.Equal(600, write.GetProperty("bw_min").GetInt64());
        Assert.Equal(800, write.GetProperty("bw_max").GetInt64());
        Assert.Equal(2048 / 3.0, write.GetProperty("bw_mean").GetDouble(), 9);
        Assert.Equal(3, write.GetProperty("bw_samples").GetInt64());
        Assert.Equal(150, write.GetProperty("iops_min").GetInt64());
        Assert.Equal(200, write.GetProperty("iops_max").GetInt64());
        Assert.Equal(3, write.GetProperty("iops_samples").GetInt64());

        // The group is this job alone, whose bandwidth is 666 KiB/s: the share is capped at 100 as fio caps it.
        Assert.Equal(100.0, write.GetProperty("bw_agg").GetDouble());
    }

    [Fact]
    public void ClatPercentiles_AreTheHistogramsPercentiles_KeyedAsFioKeysThem()
    {
        var job = Job();
        var percentile = WriteOf(Run(job)).GetProperty("clat_ns").GetProperty("percentile");
        Assert.Equal(JobSpec.DefaultPercentiles.Select(p => p.ToString("F6", CultureInfo.InvariantCulture)), Keys(percentile));
        Assert.Equal(job.Write.ClatHistogram.Percentile(99), percentile.GetProperty("99.000000").GetInt64());
        Assert.Equal(job.Write.ClatHistogram.Percentile(99.99), percentile.GetProperty("99.990000").GetInt64());
        Assert.Equal(job.Write.ClatHistogram.Percentile(50), percentile.GetProperty("50.000000").GetInt64());
    }

    [Fact]
    public void Percentiles_FollowTheJobsList_SortedAsFioSortsIt()
    {
        var job = Job(Spec(percentiles: [99.9, 50, 99.9]));
        var percentile = WriteOf(Run(job)).GetProperty("clat_ns").GetProperty("percentile");
        Assert.Equal(["50.000000", "99.900000"], Keys(percentile));
    }

    [Fact]
    public void EmptyDirection_HasZeros_AndNoPercentiles()
    {
        var read = Parse(JsonReport.Format(Run(), s_host)).GetProperty("jobs")[0].GetProperty("read");
        Assert.Equal(0, read.GetProperty("io_bytes").GetInt64());
        Assert.Equal(0, read.GetProperty("bw").GetInt64());
        Assert.Equal(0, read.GetProperty("runtime").GetInt64());
        Assert.Equal(0, read.GetProperty("clat_ns").GetProperty("N").GetInt64());
        Assert.False(read.GetProperty("clat_ns").TryGetProperty("percentile", out _));
    }

    [Fact]
    public void Sync_HasTotalIosAndLatencyWithPercentiles()
    {
        var job = Job();
        var sync = Parse(JsonReport.Format(Run(job), s_host)).GetProperty("jobs")[0].GetProperty("sync");
        Assert.Equal(["total_ios", "lat_ns"], Keys(sync));
        Assert.Equal(4, sync.GetProperty("total_ios").GetInt64());
        var lat = sync.GetProperty("lat_ns");
        Assert.Equal(500_000, lat.GetProperty("min").GetInt64());
        Assert.Equal(2_000_000, lat.GetProperty("max").GetInt64());
        Assert.Equal(job.Sync.Histogram.Percentile(99), lat.GetProperty("percentile").GetProperty("99.000000").GetInt64());
    }

    [Fact]
    public void IodepthLevel_GroupsDepthsAsFio_AndShowsANonEmptyLevelAsAtLeastPointOnePercent()
    {
        var job = new JobResult(Spec(), 0);
        job.Depths[1] = 9_998;
        job.Depths[3] = 1;
        job.Depths[8] = 1;
        var level = Parse(JsonReport.Format(Run(job), s_host)).GetProperty("jobs")[0].GetProperty("iodepth_level");
        Assert.Equal(["1", "2", "4", "8", "16", "32", ">=64"], Keys(level));
        Assert.Equal(99.98, level.GetProperty("1").GetDouble(), 9);
        Assert.Equal(0.1, level.GetProperty("2").GetDouble());
        Assert.Equal(0.0, level.GetProperty("4").GetDouble());
        Assert.Equal(0.1, level.GetProperty("8").GetDouble());
    }

    [Fact]
    public void LatencyBuckets_AreSharesOfAllIos_ByTotalLatency_UnderFiosUpperEdges()
    {
        var job = new JobResult(Spec(), 0);
        job.Write.Record(4096, 4096, 100, 200, 0);             // lat 300 ns
        job.Write.Record(4096, 4096, 1_000, 29_000, 0);        // lat 30 us
        job.Read.Record(4096, 4096, -1, 3_000_000, 0);         // lat 3 ms
        job.Read.Record(4096, 4096, -1, 3_000_000_000, 0);     // lat 3 s
        var j = Parse(JsonReport.Format(Run(job), s_host)).GetProperty("jobs")[0];
        Assert.Equal(["2", "4", "10", "20", "50", "100", "250", "500", "750", "1000"], Keys(j.GetProperty("latency_ns")));
        Assert.Equal(["2", "4", "10", "20", "50", "100", "250", "500", "750", "1000"], Keys(j.GetProperty("latency_us")));
        Assert.Equal(["2", "4", "10", "20", "50", "100", "250", "500", "750", "1000", "2000", ">=2000"], Keys(j.GetProperty("latency_ms")));
        Assert.Equal(25.0, j.GetProperty("latency_ns").GetProperty("500").GetDouble());
        Assert.Equal(25.0, j.GetProperty("latency_us").GetProperty("50").GetDouble());
        Assert.Equal(25.0, j.GetProperty("latency_ms").GetProperty("4").GetDouble());
        Assert.Equal(25.0, j.GetProperty("latency_ms").GetProperty(">=2000").GetDouble());
        var sum = new[] { "latency_ns", "latency_us", "latency_ms" }.Sum(k => j.GetProperty(k).EnumerateObject().Sum(p => p.Value.GetDouble()));
        Assert.Equal(100.0, sum, 9);
    }

    [Fact]
    public void LatencyBuckets_PutAnExactValueOnAnEdgeWhereFioPutsIt()
    {
        // fio counts 50 us in the 50..99 us bucket, keyed "100".
        var job = new JobResult(Spec(), 0);
        job.Write.Record(4096, 4096, -1, 50_000, 0);
        var us = Parse(JsonReport.Format(Run(job), s_host)).GetProperty("jobs")[0].GetProperty("latency_us");
        Assert.Equal(100.0, us.GetProperty("100").GetDouble());
    }

    [Theory]
    [InlineData("aio.json")]
    [InlineData("out.json")]
    public void KeyOrder_IsASubsequenceOfRealFios(string reference)
    {
        var fio = Reference(reference).GetProperty("jobs")[0];
        var ours = Parse(JsonReport.Format(Run(), s_host));
        AssertSubsequence([.. Keys(ours).Where(k => k is not ("model" or "host"))], Keys(Reference(reference)), "top level");
        var job = ours.GetProperty("jobs")[0];
        AssertSubsequence(Keys(job), Keys(fio), "jobs[0]");
        foreach (var direction in new[] { "read", "write" })
        {
            AssertSubsequence(Keys(job.GetProperty(direction)), Keys(fio.GetProperty(direction)), direction);
            foreach (var lat in new[] { "slat_ns", "clat_ns", "lat_ns" })
            {
                AssertSubsequence(Keys(job.GetProperty(direction).GetProperty(lat)), Keys(fio.GetProperty("write").GetProperty(lat)), direction + "." + lat);
            }
        }

        AssertSubsequence(Keys(job.GetProperty("sync")), Keys(fio.GetProperty("sync")), "sync");
        foreach (var name in new[] { "iodepth_level", "latency_ns", "latency_us", "latency_ms" })
        {
            Assert.Equal(Keys(fio.GetProperty(name)), Keys(job.GetProperty(name)));
        }
    }

    [Fact]
    public void WriteKeys_AreExactlyAiosMinusNothing()
    {
        // Every key of fio's read/write object is printed; only trim (a whole direction) is left out.
        var fio = Reference("aio.json").GetProperty("jobs")[0].GetProperty("write");
        Assert.Equal(Keys(fio), Keys(WriteOf(Run())));
    }

    // ---------------------------------------------------------------------------------------------
    // The "model" object

    [Fact]
    public void Model_HasEveryContractKeyWithItsType()
    {
        var model = Parse(JsonReport.Format(Run(), s_host)).GetProperty("model");
        var (n, s, o) = (JsonValueKind.Number, JsonValueKind.String, JsonValueKind.Object);
        AssertKinds(model,
            ("engine", s), ("seed", n), ("cpus", n), ("completion", s), ("task_variant", s), ("i_pages_lock", s),
            ("time_basis", s), ("design", s), ("latency", s), ("job_file", s), ("lock_stat", JsonValueKind.Array),
            ("irqsoff", o), ("irq_latency_ns", o), ("completion_latency_ns", o), ("deferral_latency_ns", o),
            ("workqueues", o), ("dropbehind", o), ("lockdep", o), ("verify", o), ("interrupted", JsonValueKind.False),
            ("failure", JsonValueKind.Null), ("elapsed_ns", n));
        Assert.Equal("sim", model.GetProperty("engine").GetString());
        Assert.Equal(42, model.GetProperty("seed").GetInt64());
        Assert.Equal(2, model.GetProperty("cpus").GetInt32());
        Assert.Equal("irq", model.GetProperty("completion").GetString());
        Assert.Equal("merged", model.GetProperty("task_variant").GetString());
        Assert.Equal("irqsave", model.GetProperty("i_pages_lock").GetString());
        Assert.Equal("modelled", model.GetProperty("time_basis").GetString());
        Assert.Equal("irq", model.GetProperty("design").GetString());
        Assert.Equal("nvme", model.GetProperty("latency").GetString());
        Assert.Equal("seq.fio", model.GetProperty("job_file").GetString());
        Assert.Equal(1_600_000_000, model.GetProperty("elapsed_ns").GetInt64());
        foreach (var name in new[] { "irq_latency_ns", "completion_latency_ns", "deferral_latency_ns" })
        {
            AssertKinds(model.GetProperty(name), ("p50", n), ("p99", n), ("max", n), ("count", n));
        }

        AssertKinds(model.GetProperty("dropbehind"), ("removed", n), ("left", n));
        AssertKinds(model.GetProperty("lockdep"), ("reports", n), ("first", JsonValueKind.Null));
        AssertKinds(model.GetProperty("verify"), ("errors", n), ("bytes", n));
        Assert.Equal(400, model.GetProperty("irq_latency_ns").GetProperty("p99").GetInt64());
        Assert.Equal(256, model.GetProperty("completion_latency_ns").GetProperty("count").GetInt64());
    }

    [Theory]
    [InlineData(EngineKind.Real, CompletionMode.Task, TaskCompletionVariant.V5, false, "real", "task", "v5", "plain", "task:v5")]
    [InlineData(EngineKind.Deterministic, CompletionMode.Irq, TaskCompletionVariant.Merged, true, "sim", "irq", "merged", "plain", "irq+plain")]
    [InlineData(EngineKind.Deterministic, CompletionMode.Task, TaskCompletionVariant.Cpumask, false, "sim", "task", "cpumask", "plain", "task:cpumask")]
    public void Model_NamesTheDesign(EngineKind engine, CompletionMode completion, TaskCompletionVariant variant, bool plainLock,
        string engineName, string completionName, string variantName, string lockName, string design)
    {
        var options = new WbsimOptions
        {
            Engine = engine,
            Completion = completion,
            Variant = variant,
            PlainLock = plainLock,
        };
        var model = Parse(JsonReport.Format(Run(options: options), s_host)).GetProperty("model");
        Assert.Equal(engineName, model.GetProperty("engine").GetString());
        Assert.Equal(completionName, model.GetProperty("completion").GetString());
        Assert.Equal(variantName, model.GetProperty("task_variant").GetString());
        Assert.Equal(lockName, model.GetProperty("i_pages_lock").GetString());
        Assert.Equal(design, model.GetProperty("design").GetString());
    }

    [Fact]
    public void LockStat_NamesThePageCacheIndexLockIPages_AndKeepsTheKernelsPrintedName()
    {
        var lockStat = Parse(JsonReport.Format(Run(), s_host)).GetProperty("model").GetProperty("lock_stat");
        Assert.Equal(2, lockStat.GetArrayLength());
        var pages = lockStat[0];
        var (n, s) = (JsonValueKind.Number, JsonValueKind.String);
        AssertKinds(pages, ("class", s), ("name", s), ("acquisitions", n), ("contentions", n), ("waittime_ns", JsonValueKind.Object),
            ("holdtime_ns", JsonValueKind.Object), ("usage", s), ("irqsoff_ns_total", n), ("read", JsonValueKind.False));
        AssertKinds(pages.GetProperty("waittime_ns"), ("min", n), ("max", n), ("total", n));
        AssertKinds(pages.GetProperty("holdtime_ns"), ("min", n), ("max", n), ("total", n), ("p50", n), ("p99", n));
        Assert.Equal("i_pages", pages.GetProperty("class").GetString());
        Assert.Equal("&mapping->i_pages", pages.GetProperty("name").GetString());
        Assert.Equal("{IN-HARDIRQ-W}", pages.GetProperty("usage").GetString());
        Assert.Equal(12_345, pages.GetProperty("irqsoff_ns_total").GetInt64());
        Assert.Equal(300, pages.GetProperty("holdtime_ns").GetProperty("p50").GetInt64());
        Assert.Equal(4000, pages.GetProperty("holdtime_ns").GetProperty("p99").GetInt64());

        var other = lockStat[1];
        Assert.Equal("&sb->s_type->i_lock_key", other.GetProperty("class").GetString());
        Assert.Equal("&sb->s_type->i_lock_key#2", other.GetProperty("name").GetString());
        Assert.Equal(0, other.GetProperty("irqsoff_ns_total").GetInt64());
        Assert.Equal(JsonValueKind.Null, other.GetProperty("usage").ValueKind);
    }

    [Fact]
    public void Workqueues_AlwaysListTheFourDeferralQueuesFirst_ThenTheOthersByName()
    {
        var empty = new Dictionary<string, (long Queued, long Executed)>(StringComparer.Ordinal);
        var none = Parse(JsonReport.Format(Run(model: Model(workqueues: empty)), s_host)).GetProperty("model").GetProperty("workqueues");
        Assert.Equal(["ioend", "dio", "buf", "bio_complete"], Keys(none));
        Assert.Equal(0, none.GetProperty("bio_complete").GetProperty("queued").GetInt64());

        var some = new Dictionary<string, (long Queued, long Executed)>(StringComparer.Ordinal)
        {
            ["writeback"] = (4, 4),
            ["bio_complete"] = (9, 8),
            ["events"] = (1, 1),
        };
        var wq = Parse(JsonReport.Format(Run(model: Model(workqueues: some)), s_host)).GetProperty("model").GetProperty("workqueues");
        Assert.Equal(["ioend", "dio", "buf", "bio_complete", "events", "writeback"], Keys(wq));
        Assert.Equal(9, wq.GetProperty("bio_complete").GetProperty("queued").GetInt64());
        Assert.Equal(8, wq.GetProperty("bio_complete").GetProperty("executed").GetInt64());
    }

    [Fact]
    public void IrqsOff_WithASpan_PrintsIt_AndWithoutOne_ZerosAndNulls()
    {
        var span = new IrqsOffMax(7_000, 1, 100_000, 107_000, "xa_lock_irqsave+0x10", "xa_unlock_irqrestore+0x8", ModelReport.PagesClassName);
        var with = Parse(JsonReport.Format(Run(model: Model(irqsOff: span)), s_host)).GetProperty("model").GetProperty("irqsoff");
        Assert.Equal(["max_ns", "max_cpu", "max_start", "max_end", "total_ns", "cause", "start_site", "end_site"], Keys(with));
        Assert.Equal(7_000, with.GetProperty("max_ns").GetInt64());
        Assert.Equal(1, with.GetProperty("max_cpu").GetInt32());
        Assert.Equal(100_000, with.GetProperty("max_start").GetInt64());
        Assert.Equal(107_000, with.GetProperty("max_end").GetInt64());
        Assert.Equal(20_000, with.GetProperty("total_ns").GetInt64());
        Assert.Equal("&mapping->i_pages", with.GetProperty("cause").GetString());
        Assert.Equal("xa_lock_irqsave+0x10", with.GetProperty("start_site").GetString());

        var without = Parse(JsonReport.Format(Run(), s_host)).GetProperty("model").GetProperty("irqsoff");
        Assert.Equal(0, without.GetProperty("max_ns").GetInt64());
        Assert.Equal(JsonValueKind.Null, without.GetProperty("max_cpu").ValueKind);
        Assert.Equal(JsonValueKind.Null, without.GetProperty("cause").ValueKind);
        Assert.Equal(20_000, without.GetProperty("total_ns").GetInt64());
    }

    [Fact]
    public void Lockdep_CountsReports_AndQuotesTheFirst()
    {
        var model = Parse(JsonReport.Format(Run(model: Model(reports: ["WARNING: inconsistent lock state\n...", "second"])), s_host)).GetProperty("model");
        Assert.Equal(2, model.GetProperty("lockdep").GetProperty("reports").GetInt32());
        Assert.Equal("WARNING: inconsistent lock state\n...", model.GetProperty("lockdep").GetProperty("first").GetString());
    }

    [Fact]
    public void Model_CarriesFailureInterruptionAndVerify()
    {
        var job = Job();
        job.VerifyBytes = 1 << 20;
        job.VerifyErrors = 2;
        var run = FakeRuns.Run(
            [job], Model(), new WbsimOptions(), jobFile: "v.fio", elapsedNs: 5, hostWallMs: 1, interrupted: true, failure: "lockdep: inconsistent lock state");
        var model = Parse(JsonReport.Format(run, s_host)).GetProperty("model");
        Assert.True(model.GetProperty("interrupted").GetBoolean());
        Assert.Equal("lockdep: inconsistent lock state", model.GetProperty("failure").GetString());
        Assert.Equal(2, model.GetProperty("verify").GetProperty("errors").GetInt64());
        Assert.Equal(1 << 20, model.GetProperty("verify").GetProperty("bytes").GetInt64());
    }

    // ---------------------------------------------------------------------------------------------
    // Host, determinism, the runs document and the writers

    [Fact]
    public void Host_HoldsWallTimeNameAndFioStyleTime()
    {
        var host = Parse(JsonReport.Format(Run(), s_host)).GetProperty("host");
        Assert.Equal(["wall_ms", "host_name", "time", "timestamp", "timestamp_ms"], Keys(host));
        Assert.Equal(1234, host.GetProperty("wall_ms").GetInt64());
        Assert.Equal("testhost", host.GetProperty("host_name").GetString());
        Assert.Equal("Tue Dec  1 22:25:45 2026", host.GetProperty("time").GetString());
        Assert.Equal(s_when.ToUnixTimeSeconds(), host.GetProperty("timestamp").GetInt64());
        Assert.Equal(s_when.ToUnixTimeMilliseconds(), host.GetProperty("timestamp_ms").GetInt64());
    }

    [Fact]
    public void Host_Current_TakesTheWallTimeGivenAndThisMachinesName()
    {
        var host = JsonReportHost.Current(77);
        Assert.Equal(77, host.WallMs);
        Assert.Equal(Environment.MachineName, host.HostName);
        Assert.Equal(Environment.MachineName, Parse(JsonReport.Format(Run(hostWallMs: 77))).GetProperty("host").GetProperty("host_name").GetString());
    }

    [Fact]
    public void SameRun_WithDifferentHosts_IsByteIdenticalOutsideHost()
    {
        var a = JsonReport.Format(Run(hostWallMs: 1), s_host);
        var b = JsonReport.Format(Run(hostWallMs: 2), new JsonReportHost(987_654, "elsewhere", s_when.AddDays(100)));
        Assert.NotEqual(a, b);
        Assert.Equal(WithoutHost(a), WithoutHost(b));
        Assert.Equal(Encoding.UTF8.GetBytes(WithoutHost(a)), Encoding.UTF8.GetBytes(WithoutHost(b)));
    }

    [Fact]
    public void FormatRuns_WrapsEachRunsDocumentInARunsArray()
    {
        var irq = Run();
        var task = Run(options: new WbsimOptions { Completion = CompletionMode.Task });
        var json = JsonReport.FormatRuns([irq, task], _ => s_host);
        var root = Parse(json);
        Assert.Equal(["runs"], Keys(root));
        var runs = root.GetProperty("runs");
        Assert.Equal(2, runs.GetArrayLength());
        Assert.Equal("irq", runs[0].GetProperty("model").GetProperty("completion").GetString());
        Assert.Equal("task", runs[1].GetProperty("model").GetProperty("completion").GetString());
        Assert.True(JsonElement.DeepEquals(Parse(JsonReport.Format(irq, s_host)), runs[0]));
        Assert.Equal(1234, runs[1].GetProperty("host").GetProperty("wall_ms").GetInt64());
        Assert.EndsWith("}", json, StringComparison.Ordinal);
        Assert.Equal(json, JsonReport.FormatRuns([irq, task], s_host));
    }

    [Fact]
    public void FormatRuns_OfNoRuns_IsAnEmptyArray()
    {
        Assert.Equal("{\n  \"runs\": []\n}", JsonReport.FormatRuns([]));
    }

    [Fact]
    public void Writers_ProduceFormatsText_AndANewline()
    {
        var run = Run();
        var expected = JsonReport.Format(run, s_host) + "\n";
        using var stream = new MemoryStream();
        JsonReport.Write(stream, run, s_host);
        Assert.Equal(expected, Encoding.UTF8.GetString(stream.ToArray()));
        using var text = new StringWriter();
        JsonReport.Write(text, run, s_host);
        Assert.Equal(expected, text.ToString());

        var runsExpected = JsonReport.FormatRuns([run, run], _ => s_host) + "\n";
        using var runsStream = new MemoryStream();
        JsonReport.WriteRuns(runsStream, [run, run], _ => s_host);
        Assert.Equal(runsExpected, Encoding.UTF8.GetString(runsStream.ToArray()));
        using var runsText = new StringWriter();
        JsonReport.WriteRuns(runsText, [run, run], _ => s_host);
        Assert.Equal(runsExpected, runsText.ToString());
    }

    [Fact]
    public void RealRun_OnTheDeterministicEngine_GivesTheSameDocumentTwice()
    {
        const string Job = """
            [w]
            rw=write
            bs=4k
            size=64k
            fsync=8
            """;

        // A small machine keeps the two runs to a few seconds.
        var options = new WbsimOptions { Cpus = 1, Seed = 3, DiskBytes = 16L << 20, MemoryBytes = 16L << 20 };
        var a = JsonReport.Format(JobRuns.Run(Job, options), s_host);
        var b = JsonReport.Format(JobRuns.Run(Job, options), s_host);
        Assert.Equal(a, b);
        var root = Parse(a);
        Assert.Equal(16, root.GetProperty("jobs")[0].GetProperty("write").GetProperty("total_ios").GetInt64());
        Assert.Contains(root.GetProperty("model").GetProperty("lock_stat").EnumerateArray(), e => e.GetProperty("class").GetString() == "i_pages");
    }

    // ---------------------------------------------------------------------------------------------
    // Golden document: any change to the format shows here first.

    [Fact]
    public void Golden_SmallRun()
    {
        var spec = new JobSpec
        {
            Name = "tiny",
            Where = "tiny.fio:1",
            Rw = RwKind.Write,
            RwText = "write",
            Size = 8192,
            FileSize = 8192,
            Percentiles = [50, 99],
            Options = new Dictionary<string, string>(StringComparer.Ordinal) { ["rw"] = "write", ["size"] = "8k" },
        };
        var job = new JobResult(spec, 0) { Pid = 3 };
        job.Write.Record(4096, 4096, -1, 1_000, 1_000);
        job.Write.Record(4096, 4096, -1, 3_000, 4_000);
        job.Write.RuntimeNs = 4_000_000;
        job.Depths[1] = 2;
        var model = FakeRuns.Model(
            lockStat: [Entry(ModelReport.PagesClassName, "&mapping->i_pages", 4)],
            usage: new Dictionary<string, string>(StringComparer.Ordinal) { [ModelReport.PagesClassName] = "{IN-HARDIRQ-W}" },
            irqsOffByClassNs: new Dictionary<string, long>(StringComparer.Ordinal) { [ModelReport.PagesClassName] = 700 },
            irqsOff: new IrqsOffMax(300, 0, 1_000, 1_300, "a+0x1", "b+0x2", ModelReport.PagesClassName),
            irqsOffTotalNs: 700,
            irqLatency: new LatencySummary(2, 10, 10, 20, 20, 20, 20, 15),
            completionLatency: new LatencySummary(2, 100, 100, 200, 200, 200, 200, 150),
            workqueues: new Dictionary<string, (long Queued, long Executed)>(StringComparer.Ordinal) { ["ioend"] = (2, 2) });
        var run = FakeRuns.Run([job], model, new WbsimOptions { Cpus = 1, Seed = 7 }, jobFile: "tiny.fio", elapsedNs: 4_000_000, hostWallMs: 5);
        Assert.Equal(GoldenTiny, JsonReport.Format(run, new JsonReportHost(5, "h", new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero))));
    }

    private const string GoldenTiny = """
        {
          "fio version": "wbsim (Writeback model, kernel 7.3.0-writeback)",
          "global options": {},
          "jobs": [
            {
              "jobname": "tiny",
              "groupid": 0,
              "error": 0,
              "job options": {
                "rw": "write",
                "size": "8k"
              },
              "read": {
                "io_bytes": 0,
                "io_kbytes": 0,
                "bw_bytes": 0,
                "bw": 0,
                "iops": 0,
                "runtime": 0,
                "total_ios": 0,
                "short_ios": 0,
                "drop_ios": 0,
                "slat_ns": {
                  "min": 0,
                  "max": 0,
                  "mean": 0,
                  "stddev": 0,
                  "N": 0
                },
                "clat_ns": {
                  "min": 0,
                  "max": 0,
                  "mean": 0,
                  "stddev": 0,
                  "N": 0
                },
                "lat_ns": {
                  "min": 0,
                  "max": 0,
                  "mean": 0,
                  "stddev": 0,
                  "N": 0
                },
                "bw_min": 0,
                "bw_max": 0,
                "bw_agg": 0,
                "bw_mean": 0,
                "bw_dev": 0,
                "bw_samples": 0,
                "iops_min": 0,
                "iops_max": 0,
                "iops_mean": 0,
                "iops_stddev": 0,
                "iops_samples": 0
              },
              "write": {
                "io_bytes": 8192,
                "io_kbytes": 8,
                "bw_bytes": 2048000,
                "bw": 2000,
                "iops": 500,
                "runtime": 4,
                "total_ios": 2,
                "short_ios": 0,
                "drop_ios": 0,
                "slat_ns": {
                  "min": 0,
                  "max": 0,
                  "mean": 0,
                  "stddev": 0,
                  "N": 0
                },
                "clat_ns": {
                  "min": 1000,
                  "max": 3000,
                  "mean": 2000,
                  "stddev": 1414.213562373095,
                  "N": 2,
                  "percentile": {
                    "50.000000": 1023,
                    "99.000000": 3000
                  }
                },
                "lat_ns": {
                  "min": 1000,
                  "max": 3000,
                  "mean": 2000,
                  "stddev": 1414.213562373095,
                  "N": 2
                },
                "bw_min": 0,
                "bw_max": 0,
                "bw_agg": 0,
                "bw_mean": 0,
                "bw_dev": 0,
                "bw_samples": 0,
                "iops_min": 0,
                "iops_max": 0,
                "iops_mean": 0,
                "iops_stddev": 0,
                "iops_samples": 0
              },
              "sync": {
                "total_ios": 0,
                "lat_ns": {
                  "min": 0,
                  "max": 0,
                  "mean": 0,
                  "stddev": 0,
                  "N": 0
                }
              },
              "job_runtime": 4,
              "iodepth_level": {
                "1": 100,
                "2": 0,
                "4": 0,
                "8": 0,
                "16": 0,
                "32": 0,
                ">=64": 0
              },
              "latency_ns": {
                "2": 0,
                "4": 0,
                "10": 0,
                "20": 0,
                "50": 0,
                "100": 0,
                "250": 0,
                "500": 0,
                "750": 0,
                "1000": 0
              },
              "latency_us": {
                "2": 50,
                "4": 50,
                "10": 0,
                "20": 0,
                "50": 0,
                "100": 0,
                "250": 0,
                "500": 0,
                "750": 0,
                "1000": 0
              },
              "latency_ms": {
                "2": 0,
                "4": 0,
                "10": 0,
                "20": 0,
                "50": 0,
                "100": 0,
                "250": 0,
                "500": 0,
                "750": 0,
                "1000": 0,
                "2000": 0,
                ">=2000": 0
              }
            }
          ],
          "model": {
            "engine": "sim",
            "seed": 7,
            "cpus": 1,
            "completion": "irq",
            "task_variant": "merged",
            "i_pages_lock": "irqsave",
            "time_basis": "modelled",
            "design": "irq",
            "latency": "nvme",
            "job_file": "tiny.fio",
            "elapsed_ns": 4000000,
            "interrupted": false,
            "failure": null,
            "verify": {
              "errors": 0,
              "bytes": 0
            },
            "lockdep": {
              "reports": 0,
              "first": null
            },
            "lock_stat": [
              {
                "class": "i_pages",
                "name": "&mapping->i_pages",
                "acquisitions": 4,
                "contentions": 3,
                "waittime_ns": {
                  "min": 100,
                  "max": 900,
                  "total": 1500
                },
                "holdtime_ns": {
                  "min": 50,
                  "max": 5000,
                  "total": 40000,
                  "p50": 300,
                  "p99": 4000
                },
                "usage": "{IN-HARDIRQ-W}",
                "irqsoff_ns_total": 700,
                "read": false
              }
            ],
            "irqsoff": {
              "max_ns": 300,
              "max_cpu": 0,
              "max_start": 1000,
              "max_end": 1300,
              "total_ns": 700,
              "cause": "&mapping->i_pages",
              "start_site": "a+0x1",
              "end_site": "b+0x2"
            },
            "irq_latency_ns": {
              "p50": 10,
              "p99": 20,
              "max": 20,
              "count": 2
            },
            "completion_latency_ns": {
              "p50": 100,
              "p99": 200,
              "max": 200,
              "count": 2
            },
            "deferral_latency_ns": {
              "p50": 0,
              "p99": 0,
              "max": 0,
              "count": 0
            },
            "workqueues": {
              "ioend": {
                "queued": 2,
                "executed": 2
              },
              "dio": {
                "queued": 0,
                "executed": 0
              },
              "buf": {
                "queued": 0,
                "executed": 0
              },
              "bio_complete": {
                "queued": 0,
                "executed": 0
              }
            },
            "dropbehind": {
              "removed": 0,
              "left": 0
            }
          },
          "host": {
            "wall_ms": 5,
            "host_name": "h",
            "time": "Fri Jan  2 03:04:05 2026",
            "timestamp": 1767323045,
            "timestamp_ms": 1767323045000
          }
        }
        """;
}
