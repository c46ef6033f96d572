using System.Text.RegularExpressions;
using Writeback.Block;
using Writeback.Diagnostics;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;
using Writeback.Workloads.Reports;
using Writeback.Workloads.Running;

namespace Writeback.Tests.Workloads;

/// <summary>The fio-style text report: fio 3.33's normal output column for column (units, num2str,
/// percentile tables, distributions, group lines), the model's sections, and every printed figure
/// taken from the run.</summary>
public class FioTextReportTests
{
    // ---------------------------------------------------------------------------------------------
    // Building results by hand: a fake clock — every latency is chosen, so every number is known.

    private static JobSpec Spec(string name = "seq-write", Action<Dictionary<string, string>>? options = null, IReadOnlyList<double>? percentiles = null) => new()
    {
        Name = name,
        Where = "test.fio:1",
        Rw = RwKind.Write,
        RwText = "write",
        Size = 8 << 20,
        FileSize = 8 << 20,
        Directory = "/tmp/fioref",
        FsyncEvery = 64,
        Percentiles = percentiles ?? JobSpec.DefaultPercentiles,
        Options = WithOptions(options),
    };

    private static Dictionary<string, string> WithOptions(Action<Dictionary<string, string>>? options)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal) { ["rw"] = "write", ["bs"] = "4k", ["size"] = "8m", ["fsync"] = "64" };
        options?.Invoke(d);
        return d;
    }

    private static void Writes(IoStats s, int count, long clatNs, long slatNs = -1)
    {
        for (var i = 0; i < count; i++)
        {
            s.Record(4096, 4096, slatNs, clatNs, 0);
        }
    }

    // The reference run of FioReference/normal.txt, rebuilt: 2048 writes of 4 KiB in 34 ms whose
    // completion latencies fall in fio's buckets as fio's did (4=88.38%, 10=10.89%, 50=0.54%,
    // 100=0.05%, 250=0.15%), and 31 fsyncs.
    private static JobResult SeqWrite(JobSpec? spec = null, long slowestNs = 126_000)
    {
        var job = new JobResult(spec ?? Spec(), 0) { Pid = 12 };
        Writes(job.Write, 1810, 3000);
        Writes(job.Write, 223, 5000);
        Writes(job.Write, 11, 30_000);
        Writes(job.Write, 1, 60_000);
        Writes(job.Write, 2, 126_000);
        Writes(job.Write, 1, slowestNs);
        job.Write.RuntimeNs = 34_000_000;
        for (var i = 0; i < 30; i++)
        {
            job.Sync.Record(750_000);
        }

        job.Sync.Record(1_800_000);
        job.Depths[1] = 2048;
        return job;
    }

    private static LockStatEntry Pages() => new()
    {
        ClassName = ModelReport.PagesClassName,
        Name = "&mapping->i_pages",
        IsRead = false,
        ConBounces = 0,
        Contentions = 0,
        WaitTimeMinNs = 0,
        WaitTimeMaxNs = 0,
        WaitTimeTotalNs = 0,
        WaitTimeAvgNs = 0,
        AcqBounces = 0,
        Acquisitions = 6000,
        HoldTimeMinNs = 100,
        HoldTimeMaxNs = 9800,
        HoldTimeTotalNs = 1_800_000,
        HoldTimeAvgNs = 300,
        Wait = LatencySummary.Empty,
        Hold = new LatencySummary(6000, 100, 250, 600, 1200, 5000, 9800, 300),
        ContentionPoints = [],
        ContendedPoints = [],
    };

    private static ModelReport Model(
        LatencySummary? completion = null,
        LatencySummary? deferral = null,
        IReadOnlyList<string>? reports = null,
        bool withPages = true) => FakeRuns.Model(
            lockStat: withPages ? [Pages()] : [],
            irqsOffByClassNs: new Dictionary<string, long>(StringComparer.Ordinal) { [ModelReport.PagesClassName] = 1_500_000 },
            irqsOff: new IrqsOffMax(9800, 2, 1000, 10_800, "__folio_end_writeback+0x40", "__folio_end_writeback+0x9c", "&mapping->i_pages"),
            irqsOffTotalNs: 2_000_000,
            irqLatency: new LatencySummary(2048, 500, 1000, 1500, 2500, 3000, 4000, 1100),
            completionLatency: completion ?? new LatencySummary(2048, 1000, 12_340, 20_000, 45_670, 50_000, 78_900, 13_000),
            deferralLatency: deferral,
            workqueues: new Dictionary<string, (long Queued, long Executed)>(StringComparer.Ordinal)
            {
                ["ioend"] = (64, 64),
                ["dio"] = (0, 0),
                ["buf"] = (0, 0),
                ["bio_complete"] = (0, 0),
                ["writeback"] = (3, 2),
                ["events"] = (0, 0),
            },
            dropbehindLeft: 1,
            dropbehindRemoved: 5,
            reports: reports,
            lockStatText: "lock_stat version 0.4\n(lock_stat table)\n",
            lockStatPercentilesText: "(percentiles table)",
            irqsOffText: "# irqsoff latency trace\n",
            irqsOffSummaryText: "irqsoff summary\n");

    private static RunResult Run(
        IReadOnlyList<JobResult>? jobs = null,
        ModelReport? model = null,
        WbsimOptions? options = null,
        bool interrupted = false,
        string? failure = null) =>
        FakeRuns.Run(
            jobs ?? [SeqWrite()],
            model ?? Model(),
            options,
            jobFile: "seq.fio",
            elapsedNs: 35_000_000,
            hostWallMs: 1234,
            interrupted: interrupted,
            failure: failure);

    private static string[] Lines(string text) => text.Split('\n');

    private static string LineStarting(string text, string prefix) =>
        Lines(text).Single(l => l.StartsWith(prefix, StringComparison.Ordinal));

    private static string ReferenceFile(string name) =>
        File.ReadAllText(RepoRoot.File("tests", "Writeback.Tests", "Workloads", "FioReference", name));

    // ---------------------------------------------------------------------------------------------
    // The whole report.

    [Fact]
    public void SequentialPsyncWrite_MatchesTheGoldenText()
    {
        const string Expected = """
            seq-write: (g=0): rw=write, bs=(R) 4096B-4096B, (W) 4096B-4096B, (T) 4096B-4096B, ioengine=psync, iodepth=1
            wbsim (Writeback model, kernel 7.3.0-writeback)
            machine: engine=sim seed=1 cpus=4 completion=irq i_pages=irqsave latency=nvme (times modelled)
            Starting 1 process
            seq-write: Laying out IO file (1 file / 8MiB)

            seq-write: (groupid=0, jobs=1): err= 0: pid=12: modelled time
              write: IOPS=60.2k, BW=235MiB/s (247MB/s)(8192KiB/34msec); 0 zone resets
                clat (usec): min=3, max=126, avg= 3.57, stdev= 5.27
                 lat (usec): min=3, max=126, avg= 3.57, stdev= 5.27
                clat percentiles (usec):
                 |  1.00th=[    4],  5.00th=[    4], 10.00th=[    4], 20.00th=[    4],
                 | 30.00th=[    4], 40.00th=[    4], 50.00th=[    4], 60.00th=[    4],
                 | 70.00th=[    4], 80.00th=[    4], 90.00th=[    6], 95.00th=[    6],
                 | 99.00th=[    6], 99.50th=[   31], 99.90th=[  126], 99.95th=[  126],
                 | 99.99th=[  126]
              lat (usec)   : 4=88.38%, 10=10.89%, 50=0.54%, 100=0.05%, 250=0.15%
              fsync/fdatasync/sync_file_range:
                sync (usec): min=750, max=1800, avg=783.87, stdev=188.59
                sync percentiles (usec):
                 |  1.00th=[  754],  5.00th=[  754], 10.00th=[  754], 20.00th=[  754],
                 | 30.00th=[  754], 40.00th=[  754], 50.00th=[  754], 60.00th=[  754],
                 | 70.00th=[  754], 80.00th=[  754], 90.00th=[  754], 95.00th=[  754],
                 | 99.00th=[ 1800], 99.50th=[ 1800], 99.90th=[ 1800], 99.95th=[ 1800],
                 | 99.99th=[ 1800]
              IO depths    : 1=100.0%, 2=0.0%, 4=0.0%, 8=0.0%, 16=0.0%, 32=0.0%, >=64=0.0%
                 issued rwts: total=0,2048,0,31 short=0,0,0,0 dropped=0,0,0,0
                 latency   : target=0, window=0, percentile=100.00%, depth=1

            Run status group 0 (all jobs):
              WRITE: bw=235MiB/s (247MB/s), 235MiB/s-235MiB/s (247MB/s-247MB/s), io=8192KiB (8389kB), run=34-34msec

            == model: irq (times modelled) ==
            machine time: 35.000ms (first job start to last job end)
            completion latency (device done -> completion work done): p50=12.34us p99=45.67us max=78.90us (n=2048)
            interrupt latency: p99=2.50us max=4.00us (n=2048)
            i_pages hold: p50=250ns p99=1.20us max=9.80us, 6000 acquisitions, irqs-off total 1.50ms
            irqs-off total: 2.00ms
            longest irqs-off: 9.80us on CPU 2 (&mapping->i_pages) __folio_end_writeback+0x40 -> __folio_end_writeback+0x9c
            workqueues: ioend=64/64 dio=0/0 buf=0/0 bio_complete=0/0 writeback=3/2
            dropbehind folios: removed 5, left 1
            lockdep: clean

            == /proc/lock_stat ==
            lock_stat version 0.4
            (lock_stat table)

            == lock_stat percentiles ==
            (percentiles table)

            == irqsoff tracer ==
            # irqsoff latency trace
            irqsoff summary

            """;
        Assert.Equal(Expected, FioTextReport.Format(Run()));
    }

    [Fact]
    public void Write_ProducesTheSameTextAsFormat_WithUnixLineEndings()
    {
        var run = Run();
        using var w = new StringWriter();
        w.NewLine = "\r\n";
        FioTextReport.Write(w, run);
        Assert.Equal(FioTextReport.Format(run), w.ToString());
        Assert.DoesNotContain('\r', w.ToString());
    }

    [Fact]
    public void Report_HasTheLinesOfFiosReference_InTheSameOrder()
    {
        // fio's lines the model leaves out on purpose: cpu, submit/complete (not modelled) and the
        // disk stats; the version line is wbsim's. Numbers differ: compare each line up to its first digit.
        string[] omitted = ["  cpu ", "     submit ", "     complete ", "Disk stats", "  vda:"];
        static string Shape(string line) => Regex.Match(line, @"^[^0-9]*").Value;
        var fio = Lines(ReferenceFile("normal.txt"))
            .Where(l => !omitted.Any(o => l.StartsWith(o, StringComparison.Ordinal)))
            .Select(l => l.StartsWith("fio-", StringComparison.Ordinal) ? "wbsim" : l)
            .Select(Shape)
            .ToList();
        var oursText = FioTextReport.Format(Run());
        var ours = Lines(oursText[..oursText.IndexOf("\n== model:", StringComparison.Ordinal)])
            .Where(l => !l.StartsWith("machine: ", StringComparison.Ordinal))
            .Select(l => l.StartsWith("wbsim (", StringComparison.Ordinal) ? "wbsim" : l)
            .Select(Shape)
            .ToList();
        foreach (var list in new[] { fio, ours })
        {
            while (list.Count > 0 && list[^1].Length == 0)
            {
                list.RemoveAt(list.Count - 1);
            }
        }

        Assert.Equal(fio, ours);
    }

    [Fact]
    public void Report_ReproducesFiosFiguresWhereTheRunIsTheSame()
    {
        // Same I/O count, bytes, runtime and bucket shares as normal.txt: those lines are fio's, byte for byte.
        var fio = Lines(ReferenceFile("normal.txt"));
        var ours = FioTextReport.Format(Run());
        foreach (var prefix in new[] { "seq-write: (g=0)", "  write: IOPS=", "  lat (usec)   :", "     issued rwts:", "     latency   :", "  WRITE: bw=", "Starting ", "seq-write: Laying out" })
        {
            Assert.Equal(fio.Single(l => l.StartsWith(prefix, StringComparison.Ordinal)), LineStarting(ours, prefix));
        }
    }

    [Fact]
    public void Format_IsDeterministic()
    {
        Assert.Equal(FioTextReport.Format(Run()), FioTextReport.Format(Run()));
    }

    // ---------------------------------------------------------------------------------------------
    // Every number comes from the result.

    [Fact]
    public void ChangingOneLatency_ChangesTheLinesThatShowIt()
    {
        var before = Lines(FioTextReport.Format(Run([SeqWrite(slowestNs: 126_000)])));
        var after = Lines(FioTextReport.Format(Run([SeqWrite(slowestNs: 190_000)])));
        var changed = before.Zip(after).Where(p => p.First != p.Second).Select(p => p.Second).ToList();
        Assert.Equal(before.Length, after.Length);
        Assert.Contains("    clat (usec): min=3, max=190, avg= 3.60, stdev= 6.12", changed);
        Assert.Contains("     lat (usec): min=3, max=190, avg= 3.60, stdev= 6.12", changed);
        Assert.Contains("     | 99.00th=[    6], 99.50th=[   31], 99.90th=[  127], 99.95th=[  127],", changed);
        Assert.Contains("     | 99.99th=[  190]", changed);
        Assert.Contains("  lat (usec)   : 4=88.38%, 10=10.89%, 50=0.54%, 100=0.05%, 250=0.15%", before);
        Assert.Equal(4, changed.Count);
    }

    [Fact]
    public void ModelFigures_AreTheModelReportsOwn()
    {
        var text = FioTextReport.Format(Run(model: Model(completion: new LatencySummary(7, 1, 2, 3, 4_321_000, 5, 6_000_000, 7))));
        Assert.Equal("completion latency (device done -> completion work done): p50=2ns p99=4.32ms max=6.00ms (n=7)", LineStarting(text, "completion latency"));
        Assert.DoesNotContain("task-completion deferral", text, StringComparison.Ordinal);
    }

    [Fact]
    public void DeferralLatency_IsShownOnlyWhenTheTaskFacilityDeferredWork()
    {
        var options = new WbsimOptions { Completion = CompletionMode.Task, Variant = TaskCompletionVariant.V4 };
        var text = FioTextReport.Format(Run(options: options, model: Model(deferral: new LatencySummary(3, 900, 1000, 1100, 2200, 2200, 2500, 1200))));
        Assert.Equal("task-completion deferral latency: p50=1.00us p99=2.20us max=2.50us (n=3)", LineStarting(text, "task-completion deferral"));
        Assert.Contains("== model: task:v4 (times modelled) ==\n", text, StringComparison.Ordinal);
        Assert.Equal("machine: engine=sim seed=1 cpus=4 completion=task variant=v4 i_pages=plain latency=nvme (times modelled)", LineStarting(text, "machine: "));
    }

    [Fact]
    public void MachineLine_NamesThePlainLockMisconfiguration()
    {
        var text = FioTextReport.Format(Run(options: new WbsimOptions { PlainLock = true, Cpus = 8, Seed = 7, LatencyName = "sata" }));
        Assert.Equal("machine: engine=sim seed=7 cpus=8 completion=irq i_pages=plain latency=sata (times modelled)", LineStarting(text, "machine: "));
        Assert.Contains("== model: irq+plain (times modelled) ==\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void ModelSection_WithoutPagesOrIrqsOff_SaysSo_AndListsLockdepReports()
    {
        var model = Model(reports: ["WARNING: inconsistent lock state\nreport one", "report two\n"], withPages: false);
        var text = FioTextReport.Format(Run(model: model));
        Assert.Equal("i_pages hold: not taken, irqs-off total 1.50ms", LineStarting(text, "i_pages hold:"));
        Assert.Equal("lockdep: 2 reports", LineStarting(text, "lockdep:"));
        Assert.EndsWith("\n== lockdep ==\nWARNING: inconsistent lock state\nreport one\nreport two\n", text, StringComparison.Ordinal);
    }

    // ---------------------------------------------------------------------------------------------
    // fio's units and number formats.

    [Theory]
    [InlineData(1583L, 14_440_000L, "    clat (nsec): min=1583, max=14440k,")]
    [InlineData(50_000L, 150_000L, "    clat (usec): min=50, max=150,")]
    [InlineData(3_000_000L, 150_000_000L, "    clat (msec): min=3, max=150,")]
    [InlineData(50_000L, 50_000L, "    clat (nsec): min=50000, max=50000, avg=50000.00, stdev= 0.00")]
    [InlineData(1_500L, 1_700L, "    clat (nsec): min=1500, max=1700, avg=1600.00, stdev=141.42")]
    public void LatencyLine_PicksFiosUnit(long a, long b, string expectedStart)
    {
        var job = new JobResult(Spec(), 0);
        Writes(job.Write, 1, a);
        Writes(job.Write, 1, b);
        job.Write.RuntimeNs = 1_000_000;
        var line = LineStarting(FioTextReport.Format(Run([job])), "    clat (");
        Assert.StartsWith(expectedStart, line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(60_235L, false, "", "60.2k")]
    [InlineData(999L, false, "", "999")]
    [InlineData(1_500_000L, false, "", "1500k")]
    [InlineData(12_345_678L, false, "", "12.3M")]
    [InlineData(246_723_764L, true, "B/s", "235MiB/s")]
    [InlineData(246_723_764L, false, "B/s", "247MB/s")]
    [InlineData(2_000_000_000L, true, "B/s", "1907MiB/s")]
    [InlineData(40_960L, true, "B/s", "40.0KiB/s")]
    [InlineData(40_960L, false, "B/s", "41.0kB/s")]
    [InlineData(8_388_608L, true, "B", "8192KiB")]
    [InlineData(8_388_608L, false, "B", "8389kB")]
    [InlineData(4096L, true, "B", "4096B")]
    [InlineData(65_536L, true, "B", "64.0KiB")]
    [InlineData(1_048_576L, true, "B", "1024KiB")]
    public void Num2Str_RoundsAsFioDoes(long value, bool pow2, string unit, string expected)
    {
        Assert.Equal(expected, FioTextNumbers.Num2Str(value, FioTextNumbers.SigFigs, 1, pow2, unit));
    }

    [Fact]
    public void Num2Str_SixFigures_IsFiosLatencyFormat()
    {
        Assert.Equal("14440k", FioTextNumbers.Num2Str(14_440_000, 6, 1, false, ""));
        Assert.Equal("211775", FioTextNumbers.Num2Str(211_775, 6, 1, false, ""));
    }

    [Fact]
    public void SlowJob_PrintsKiBAndFiosDecimals()
    {
        var job = new JobResult(Spec(), 0);
        Writes(job.Write, 10, 50_000);
        job.Write.RuntimeNs = 1_000_000_000;
        var text = FioTextReport.Format(Run([job]));
        Assert.Equal("  write: IOPS=10, BW=40.0KiB/s (41.0kB/s)(40.0KiB/1000msec); 0 zone resets", LineStarting(text, "  write:"));
    }

    [Fact]
    public void Runtime_IsRoundedUpToWholeMilliseconds_AsFioDoes()
    {
        var job = SeqWrite();
        job.Write.RuntimeNs = 33_001_000; // 33001 us -> 34 ms
        Assert.EndsWith("(8192KiB/34msec); 0 zone resets", LineStarting(FioTextReport.Format(Run([job])), "  write:"), StringComparison.Ordinal);
        job.Write.RuntimeNs = 34_000_999; // 34000 us -> 34 ms
        Assert.EndsWith("(8192KiB/34msec); 0 zone resets", LineStarting(FioTextReport.Format(Run([job])), "  write:"), StringComparison.Ordinal);
    }

    [Fact]
    public void KbBase1000_PutsDecimalUnitsFirst()
    {
        var text = FioTextReport.Format(Run([SeqWrite(Spec() with { KbBase = 1000 })]));
        Assert.Equal("  write: IOPS=60.2k, BW=247MB/s (235MiB/s)(8389kB/34msec); 0 zone resets", LineStarting(text, "  write:"));
        Assert.StartsWith("seq-write: (g=0): rw=write, bs=(R) 4096B-4096B,", text, StringComparison.Ordinal);
    }

    // ---------------------------------------------------------------------------------------------
    // Percentile tables.

    [Fact]
    public void PercentileTable_UsesTheDecimalsOfTheListAsWritten_FourPerLine()
    {
        var spec = Spec(options: o => o["percentile_list"] = "10:20:30:40:50:99.999", percentiles: [10, 20, 30, 40, 50, 99.999]);
        var job = new JobResult(spec, 0);
        Writes(job.Write, 100, 3000);
        job.Write.RuntimeNs = 1_000_000;
        var text = FioTextReport.Format(Run([job]));
        Assert.Contains(
            "    clat percentiles (nsec):\n" +
            "     | 10.000th=[ 3000], 20.000th=[ 3000], 30.000th=[ 3000], 40.000th=[ 3000],\n" +
            "     | 50.000th=[ 3000], 99.999th=[ 3000]\n",
            text,
            StringComparison.Ordinal);
    }

    [Fact]
    public void PercentileTable_WithoutDecimals_AndAWideColumn()
    {
        // A list without decimals prints "%3.0f"; a 6-digit value widens the column to 6.
        var spec = Spec(options: o => o["percentile_list"] = "99:50", percentiles: [99, 50]);
        var job = new JobResult(spec, 0);
        Writes(job.Write, 99, 1000);
        Writes(job.Write, 1, 150_000);
        job.Write.RuntimeNs = 1_000_000;
        var text = FioTextReport.Format(Run([job]));
        Assert.Contains("    clat percentiles (nsec):\n     |  50th=[ 1023],  99th=[ 1023]\n", text, StringComparison.Ordinal);

        var spec2 = Spec(options: o => o["percentile_list"] = "50:100", percentiles: [50, 100]);
        var job2 = new JobResult(spec2, 0);
        Writes(job2.Write, 99, 1000);
        Writes(job2.Write, 1, 150_000);
        job2.Write.RuntimeNs = 1_000_000;
        Assert.Contains("    clat percentiles (nsec):\n     |  50th=[  1023], 100th=[150000]\n", FioTextReport.Format(Run([job2])), StringComparison.Ordinal);
    }

    [Fact]
    public void PercentileTable_InMsec_WhenTheValuesAreLarge()
    {
        var job = new JobResult(Spec(percentiles: [50, 99]), 0);
        Writes(job.Write, 50, 3_000_000);
        Writes(job.Write, 50, 150_000_000);
        job.Write.RuntimeNs = 10_000_000_000;
        var text = FioTextReport.Format(Run([job]));

        // 3 ms sits in the histogram bucket [2.884, 3.014] ms, 150 ms is the largest value; both are
        // rounded up to whole ms. A list given as doubles without decimals prints "%3.0f".
        Assert.Contains("    clat percentiles (msec):\n     |  50th=[    4],  99th=[  150]\n", text, StringComparison.Ordinal);
        Assert.Contains("  lat (msec)   : 4=50.00%, 250=50.00%\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void LatencyDistribution_SpansUnits_FivePerLine_AndShowsTinySharesAs001()
    {
        var job = new JobResult(Spec(), 0);
        Writes(job.Write, 1, 1);           // nsec 2=
        Writes(job.Write, 1, 3);           // nsec 4=
        Writes(job.Write, 1, 5);           // nsec 10=
        Writes(job.Write, 1, 15);          // nsec 20=
        Writes(job.Write, 1, 25);          // nsec 50=
        Writes(job.Write, 1, 2_500_000_000); // msec >=2000=
        Writes(job.Write, 20_000 - 6, 1000); // usec 2=
        job.Write.RuntimeNs = 3_000_000_000;
        var text = FioTextReport.Format(Run([job]));
        Assert.Contains(
            "  lat (nsec)   : 2=0.01%, 4=0.01%, 10=0.01%, 20=0.01%, 50=0.01%\n" +
            "  lat (usec)   : 2=99.97%\n" +
            "  lat (msec)   : >=2000=0.01%\n",
            text,
            StringComparison.Ordinal);
    }

    // ---------------------------------------------------------------------------------------------
    // Jobs, groups, blocks that appear only when they have something to say.

    [Fact]
    public void GroupReporting_PrintsOneBlockForTheInstances_WithJobs2()
    {
        var spec = Spec("rand-dio", o => o["numjobs"] = "2") with { NumJobs = 2, GroupReporting = true, IoEngine = "libaio", IoDepth = 8, Direct = true, RwText = "randwrite", Rw = RwKind.RandWrite, FileSize = 16 << 20, Size = 16 << 20 };
        var a = new JobResult(spec, 0) { Pid = 20 };
        var b = new JobResult(spec, 0) { Pid = 21 };
        foreach (var j in new[] { a, b })
        {
            Writes(j.Write, 100, 50_000, slatNs: 4000);
            j.Write.RuntimeNs = 1_000_000_000;
            j.Depths[8] = 100;
        }

        var sum = new JobResult(spec, 0) { Jobs = 0, Pid = 20 };
        sum.Add(a);
        sum.Add(b);
        var text = FioTextReport.Format(Run([sum]));
        Assert.StartsWith(
            "rand-dio: (g=0): rw=randwrite, bs=(R) 4096B-4096B, (W) 4096B-4096B, (T) 4096B-4096B, ioengine=libaio, iodepth=8\n" +
            "...\n" +
            "wbsim (Writeback model, kernel " + Machine.KernelRelease + ")\n" +
            "machine: engine=sim seed=1 cpus=4 completion=irq i_pages=irqsave latency=nvme (times modelled)\n" +
            "Starting 2 processes\n" +
            "rand-dio: Laying out IO file (1 file / 16MiB)\n" +
            "rand-dio: Laying out IO file (1 file / 16MiB)\n" +
            "\n" +
            "rand-dio: (groupid=0, jobs=2): err= 0: pid=20: modelled time\n" +
            "  write: IOPS=200, BW=800KiB/s (819kB/s)(800KiB/1000msec); 0 zone resets\n",
            text,
            StringComparison.Ordinal);
        Assert.Equal("  IO depths    : 1=0.0%, 2=0.0%, 4=0.0%, 8=100.0%, 16=0.0%, 32=0.0%, >=64=0.0%", LineStarting(text, "  IO depths"));
        Assert.Equal("     latency   : target=0, window=0, percentile=100.00%, depth=8", LineStarting(text, "     latency"));
    }

    [Fact]
    public void SharedFileName_IsLaidOutOnce_AndSeveralFilesSayTotal()
    {
        var shared = Spec("shared") with { NumJobs = 3, FileName = "data" };
        var multi = Spec("multi") with { NrFiles = 4, FileSize = 2 << 20 };
        var text = FioTextReport.Format(Run([SeqWrite(shared), SeqWrite(multi)]));
        Assert.Equal("shared: Laying out IO file (1 file / 8MiB)", LineStarting(text, "shared: Laying out"));
        Assert.Equal("multi: Laying out IO files (4 files / total 8MiB)", LineStarting(text, "multi: Laying out"));
        Assert.Equal("Starting 4 processes", LineStarting(text, "Starting"));
    }

    [Fact]
    public void SyncBlock_AppearsOnlyWhenTheJobSynced()
    {
        var job = new JobResult(Spec(), 0);
        Writes(job.Write, 10, 5000);
        job.Write.RuntimeNs = 1_000_000;
        var without = FioTextReport.Format(Run([job]));
        Assert.DoesNotContain("fsync/fdatasync", without, StringComparison.Ordinal);
        Assert.DoesNotContain("sync (", without, StringComparison.Ordinal);

        job.Sync.Record(2_000_000);
        var with = FioTextReport.Format(Run([job]));
        Assert.Contains("  fsync/fdatasync/sync_file_range:\n    sync (nsec): min=2000.0k, max=2000.0k, avg=2000000.00, stdev= 0.00\n    sync percentiles (usec):\n", with, StringComparison.Ordinal);
        Assert.Contains("issued rwts: total=0,10,0,1 ", with, StringComparison.Ordinal);
    }

    [Fact]
    public void Slat_AppearsOnlyForAsynchronousSubmission()
    {
        var sync = new JobResult(Spec(), 0);
        Writes(sync.Write, 10, 5000);
        sync.Write.RuntimeNs = 1_000_000;
        Assert.DoesNotContain("slat", FioTextReport.Format(Run([sync])), StringComparison.Ordinal);

        var async = new JobResult(Spec() with { IoEngine = "libaio", Direct = true }, 0);
        Writes(async.Write, 10, 5000, slatNs: 700);
        async.Write.RuntimeNs = 1_000_000;
        var text = FioTextReport.Format(Run([async]));
        Assert.Contains("    slat (nsec): min=700, max=700, avg=700.00, stdev= 0.00\n    clat (nsec): min=5000, max=5000, avg=5000.00, stdev= 0.00\n     lat (nsec): min=5700, max=5700, avg=5700.00, stdev= 0.00\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadsComeBeforeWrites_AndOnlyDirectionsWithIos()
    {
        var job = new JobResult(Spec() with { Rw = RwKind.ReadWrite, RwText = "rw" }, 0);
        Writes(job.Read, 5, 2000);
        Writes(job.Write, 5, 4000);
        job.Read.RuntimeNs = 1_000_000;
        job.Write.RuntimeNs = 1_000_000;
        var text = FioTextReport.Format(Run([job]));
        var read = text.IndexOf("\n  read: IOPS=5000, BW=19.5MiB/s (20.5MB/s)(20.0KiB/1msec)\n", StringComparison.Ordinal);
        var write = text.IndexOf("\n  write: IOPS=5000,", StringComparison.Ordinal);
        Assert.True(read > 0 && write > read, text);
        Assert.Contains("\n   READ: bw=19.5MiB/s (20.5MB/s), 19.5MiB/s-19.5MiB/s (20.5MB/s-20.5MB/s), io=20.0KiB (20.5kB), run=1-1msec\n  WRITE: ", text, StringComparison.Ordinal);

        var writeOnly = FioTextReport.Format(Run([SeqWrite()]));
        Assert.DoesNotContain("  read:", writeOnly, StringComparison.Ordinal);
        Assert.DoesNotContain("READ:", writeOnly, StringComparison.Ordinal);
    }

    [Fact]
    public void BandwidthAndIopsSamples_AreSummarisedPerHalfSecond()
    {
        var job = new JobResult(Spec(), 0);
        Writes(job.Write, 1000, 5000);
        job.Write.RuntimeNs = 1_500_000_000;
        job.Write.Sample(400 * 1024, 100); // 800 KiB/s, 200 IO/s
        job.Write.Sample(300 * 1024, 75);  // 600 KiB/s, 150 IO/s
        job.Write.Sample(324 * 1024, 81);  // 648 KiB/s, 162 IO/s
        var text = FioTextReport.Format(Run([job]));

        // The group moved 4096000 B in 1500 ms: 2730666 B/s = 2666.67 KiB/s; 682 (the mean, truncated) is 25.58 % of it.
        Assert.Contains(
            "   bw (  KiB/s): min=  600, max=  800, per=25.58%, avg=682.67, stdev=104.41, samples=3\n" +
            "   iops        : min=  150, max=  200, avg=170.67, stdev=26.10, samples=3\n" +
            "  lat (usec)   : ",
            text,
            StringComparison.Ordinal);
    }

    [Fact]
    public void BandwidthSamples_SwitchToMiB_AboveOneGiBPerSecond()
    {
        var job = new JobResult(Spec(), 0);
        Writes(job.Write, 10, 5000);
        job.Write.RuntimeNs = 1_000_000_000;
        job.Write.Sample(1L << 30, 262_144); // 2 GiB/s
        job.Write.Sample(3L << 29, 393_216); // 3 GiB/s
        var line = LineStarting(FioTextReport.Format(Run([job])), "   bw (");
        Assert.Equal("   bw (  MiB/s): min= 2048, max= 3072, per=100.00%, avg=2560.00, stdev=724.08, samples=2", line);
    }

    [Theory]
    [InlineData(Errno.EIO, "write at offset 4096 of /tmp/fioref/x", "err= 5:", "  error=Input/output error: write at offset 4096 of /tmp/fioref/x")]
    [InlineData(Errno.ENOSPC, null, "err=28:", "  error=No space left on device")]
    public void Error_ShowsTheErrnoNumber_AndWhatFailed(Errno err, string? context, string expectedErr, string expectedLine)
    {
        var job = SeqWrite();
        job.Error = err;
        job.ErrorContext = context;
        var text = FioTextReport.Format(Run([job]));
        var lines = Lines(text);
        var header = Array.FindIndex(lines, l => l.StartsWith("seq-write: (groupid=0", StringComparison.Ordinal));
        Assert.Contains(expectedErr + " pid=12: modelled time", lines[header], StringComparison.Ordinal);
        Assert.Equal(expectedLine, lines[header + 1]);
    }

    [Fact]
    public void Verify_ReportsErrorsOrBytesChecked()
    {
        var clean = SeqWrite();
        clean.VerifyBytes = 8 << 20;
        var text = FioTextReport.Format(Run([clean]));
        Assert.Equal("  verify: 8192KiB checked, 0 errors", LineStarting(text, "  verify:"));
        Assert.Contains("depth=1\n  verify: ", text, StringComparison.Ordinal);

        var bad = SeqWrite();
        bad.VerifyBytes = 8 << 20;
        bad.VerifyErrors = 3;
        bad.FirstVerifyError = "/tmp/fioref/seq-write.0.0: block at 4096 has a bad checksum";
        Assert.Equal("  verify: 3 errors in 8192KiB, first: /tmp/fioref/seq-write.0.0: block at 4096 has a bad checksum", LineStarting(FioTextReport.Format(Run([bad])), "  verify:"));

        Assert.DoesNotContain("verify", FioTextReport.Format(Run()), StringComparison.Ordinal);
    }

    [Fact]
    public void RunStatusGroup_TakesMinAndMaxOverJobs_AndTheAggregateOverTheLongest()
    {
        var fast = SeqWrite(Spec("fast"));
        var slow = new JobResult(Spec("slow"), 0) { Pid = 13 };
        for (var i = 0; i < 1024; i++)
        {
            slow.Write.Record(4096, 4096, -1, 90_000, 0);
        }

        slow.Write.RuntimeNs = 100_000_000;
        var text = FioTextReport.Format(Run([fast, slow]));
        Assert.Equal(
            "  WRITE: bw=120MiB/s (126MB/s), 40.0MiB/s-235MiB/s (41.9MB/s-247MB/s), io=12.0MiB (12.6MB), run=34-100msec",
            LineStarting(text, "  WRITE:"));
        Assert.Equal(2, Lines(text).Count(l => l.Contains("(groupid=0, jobs=1)", StringComparison.Ordinal)));
    }

    [Fact]
    public void Interrupted_And_Failure_AreSaidAtTheTopOfTheModelSection()
    {
        var text = FioTextReport.Format(Run(interrupted: true, failure: "lockdep: possible irq lock inversion dependency detected"));
        Assert.Contains(
            "== model: irq (times modelled) ==\n" +
            "wbsim: interrupted; figures cover the run until then\n" +
            "wbsim: the machine stopped: lockdep: possible irq lock inversion dependency detected\n" +
            "machine time: ",
            text,
            StringComparison.Ordinal);
        Assert.DoesNotContain("wbsim: interrupted", FioTextReport.Format(Run()), StringComparison.Ordinal);
    }

    [Fact]
    public void MeasuredRuns_SayMeasured()
    {
        var model = Model();
        var measured = FakeRuns.Model("measured", lockStat: model.LockStat, usage: model.Usage, irqsOffByClassNs: model.IrqsOffByClassNs);
        var text = FioTextReport.Format(Run(model: measured, options: new WbsimOptions { Engine = EngineKind.Real }));
        Assert.Contains("err= 0: pid=12: measured time\n", text, StringComparison.Ordinal);
        Assert.Contains("engine=real", text, StringComparison.Ordinal);
        Assert.Contains("\ncompletion latency (device done -> completion work done): none\ninterrupt latency: none\n", text, StringComparison.Ordinal);
        Assert.Contains("\nlongest irqs-off: none\nworkqueues: ioend=0/0 dio=0/0 buf=0/0 bio_complete=0/0\n", text, StringComparison.Ordinal);
        Assert.EndsWith("\n== irqsoff tracer ==\n", text, StringComparison.Ordinal);
    }
}
