using System.Threading;
using Writeback.Fs;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Workloads.Running;

namespace Writeback.Tests.Workloads;

/// <summary>Running fio jobs on the model: every pattern does real I/O through the file API, the
/// figures add up, verify proves the data and can fail, and the designs differ where they must.</summary>
public class WorkloadRunnerTests
{
    private static void Clean(RunResult r)
    {
        Assert.Null(r.Failure);
        Assert.Empty(r.Model.Reports);
        Assert.All(r.Jobs, j => Assert.Equal(Errno.None, j.Error));
        Assert.Equal(0, r.VerifyErrors);
    }

    [Fact]
    public void SequentialBufferedWrite_WritesSizeBytes_WithFsyncsCounted()
    {
        var r = JobRuns.Run("""
            [seq]
            rw=write
            bs=4k
            size=256k
            fsync=16
            """);
        Clean(r);
        var job = Assert.Single(r.Jobs);
        Assert.Equal(64, job.Write.Ios);
        Assert.Equal(256 << 10, job.Write.Bytes);
        Assert.Equal(0, job.Read.Ios);
        Assert.Equal(4, job.Sync.Count);
        Assert.True(job.Write.RuntimeNs > 0);
        Assert.True(job.Write.Clat.Min > 0);
        Assert.Equal(-1, job.Write.Slat.Count - 1);
        Assert.Equal(64, job.Depths[1]);
        Assert.Equal("modelled", r.Model.TimeBasis);
        Assert.True(r.ElapsedNs > 0);
    }

    [Theory]
    [InlineData("irq")]
    [InlineData("task")]
    public void RandomWrite_WithVerify_WritesEveryBlockOnce_AndReadsItAllBack(string completion)
    {
        var r = JobRuns.Run("""
            [rand]
            rw=randwrite
            bs=4k
            size=512k
            verify=crc32c
            """, new WbsimOptions { Cpus = 2 }.With("completion", completion));
        Clean(r);
        var job = Assert.Single(r.Jobs);
        Assert.Equal(128, job.Write.Ios);
        Assert.Equal(512 << 10, job.VerifyBytes);
    }

    [Fact]
    public void Verify_CatchesABlockChangedBehindTheJobsBack()
    {
        var control = new RunControl
        {
            BeforeVerify = (fs, spec, instance) =>
            {
                Assert.Equal(Errno.None, fs.Open(spec.FilePath(instance, 0), OpenFlags.None, out var f));
                Assert.Equal(Errno.None, f!.Write(8192, new byte[4096], out _));
                f.Close();
            },
        };
        var r = JobRuns.Run("""
            [seq]
            rw=write
            bs=4k
            size=64k
            verify=crc32c
            """, control: control);
        var job = Assert.Single(r.Jobs);
        Assert.Equal(1, job.VerifyErrors);
        Assert.Contains("offset 8192", job.FirstVerifyError, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_CatchesAStaleBlock_FromTheWriteBeforeTheLast()
    {
        byte[]? stale = null;
        var control = new RunControl
        {
            BeforeVerify = (fs, spec, instance) =>
            {
                // Put back what the first pass wrote at offset 0: a correct header, a stale generation.
                Assert.Equal(Errno.None, fs.Open(spec.FilePath(instance, 0), OpenFlags.None, out var f));
                Assert.Equal(Errno.None, f!.Write(0, stale, out _));
                f.Close();
            },
        };
        stale = new byte[4096];
        VerifyBlock.Fill(stale, 0, 1);
        var r = JobRuns.Run("""
            [seq]
            rw=write
            bs=4k
            size=64k
            runtime=1
            time_based=1
            verify=crc32c
            """, control: control);
        var job = Assert.Single(r.Jobs);
        Assert.Equal(1, job.VerifyErrors);
    }

    [Fact]
    public void ReadJob_ReadsTheLaidOutFile()
    {
        var r = JobRuns.Run("""
            [reader]
            rw=randread
            bs=16k
            size=1m
            """);
        Clean(r);
        var job = Assert.Single(r.Jobs);
        Assert.Equal(64, job.Read.Ios);
        Assert.Equal(1 << 20, job.Read.Bytes);
        Assert.Equal(0, job.Write.Ios);
        Assert.True(job.Read.RuntimeNs > 0);
        Assert.Equal(0, job.Write.RuntimeNs);
    }

    [Fact]
    public void MixedRandomJob_SplitsByRwmixread_AndUsesEachDirectionsBlockSize()
    {
        var r = JobRuns.Run("""
            [mix]
            rw=randrw
            rwmixread=75
            bs=4k,8k
            size=2m
            """);
        Clean(r);
        var job = Assert.Single(r.Jobs);
        Assert.True(job.Read.Ios > 2 * job.Write.Ios, $"{job.Read.Ios} reads vs {job.Write.Ios} writes");
        Assert.True(job.Write.Ios > 0);
        Assert.Equal(job.Read.Ios * 4096, job.Read.Bytes);
        Assert.Equal(job.Write.Ios * 8192, job.Write.Bytes);
        Assert.Equal(2 << 20, job.Read.Bytes + job.Write.Bytes);
    }

    [Fact]
    public void AsyncDirectWrites_KeepIodepthInFlight_AndRecordSubmissionLatency()
    {
        var r = JobRuns.Run("""
            [aio]
            rw=randwrite
            bs=4k
            size=1m
            direct=1
            ioengine=libaio
            iodepth=8
            """);
        Clean(r);
        var job = Assert.Single(r.Jobs);
        Assert.Equal(256, job.Write.Ios);
        Assert.Equal(256, job.Write.Slat.Count);
        Assert.True(job.Depths[8] > 0, "some submissions found 7 others in flight");
        Assert.Equal(0, job.Depths.Skip(9).Sum());
        Assert.Equal(256, job.Depths.Sum());
    }

    [Fact]
    public void UnalignedDirectWrite_FailsTheJob_WithEinval()
    {
        var r = JobRuns.Run("""
            [bad]
            rw=write
            bs=1000
            size=64k
            direct=1
            """);
        var job = Assert.Single(r.Jobs);
        Assert.Equal(Errno.EINVAL, job.Error);
        Assert.Equal(0, job.Write.Ios);
    }

    [Fact]
    public void TimeBasedJob_RunsForItsRuntimeOfMachineTime_OverAndOverItsRange()
    {
        var r = JobRuns.Run("""
            [tb]
            rw=write
            bs=4k
            size=64k
            runtime=20ms
            time_based=1
            """);
        Clean(r);
        var job = Assert.Single(r.Jobs);
        Assert.True(job.Write.Ios > 16, $"{job.Write.Ios} I/Os: more than one pass of 16 blocks");
        Assert.True(r.ElapsedNs >= 20_000_000, $"{r.ElapsedNs} ns");
        Assert.InRange(job.Write.RuntimeNs, 20_000_000, 40_000_000);
    }

    [Fact]
    public void RampTime_ExcludesEarlyIo_FromTheStatistics()
    {
        const string Job = """
            [tb]
            rw=write
            bs=4k
            size=64k
            runtime=20ms
            time_based=1
            {0}
            """;
        var plain = Assert.Single(JobRuns.Run(string.Format(System.Globalization.CultureInfo.InvariantCulture, Job, "")).Jobs);
        var ramped = Assert.Single(JobRuns.Run(string.Format(System.Globalization.CultureInfo.InvariantCulture, Job, "ramp_time=10ms")).Jobs);
        Assert.True(ramped.Write.RuntimeNs <= 21_000_000 && ramped.Write.RuntimeNs >= 19_000_000, $"{ramped.Write.RuntimeNs}");
        Assert.True(plain.Write.Ios > 0 && ramped.Write.Ios > 0);
    }

    [Fact]
    public void Numjobs_MakesOneResultPerInstance_OrOneWithGroupReporting()
    {
        const string Job = """
            [w]
            rw=write
            bs=4k
            size=64k
            numjobs=3
            """;
        var separate = JobRuns.Run(Job);
        Clean(separate);
        Assert.Equal(3, separate.Jobs.Count);
        Assert.All(separate.Jobs, j => Assert.Equal(16, j.Write.Ios));
        Assert.Equal(3, separate.Jobs.Select(j => j.Pid).Distinct().Count());
        var grouped = JobRuns.Run(Job + "\ngroup_reporting=1\n");
        var g = Assert.Single(grouped.Jobs);
        Assert.Equal(3, g.Jobs);
        Assert.Equal(48, g.Write.Ios);
        Assert.Equal(48, grouped.Groups[0].Write.Ios);
    }

    [Fact]
    public void EndFsync_AndFsyncOnClose_AreCountedAsSyncs()
    {
        var r = JobRuns.Run("""
            [w]
            rw=write
            bs=4k
            size=64k
            nrfiles=2
            end_fsync=1
            fsync_on_close=1
            """);
        Clean(r);
        Assert.Equal(4, Assert.Single(r.Jobs).Sync.Count);
    }

    [Fact]
    public void Thinktime_StretchesTheRun()
    {
        const string Job = """
            [w]
            rw=write
            bs=4k
            size=32k
            {0}
            """;
        var quick = JobRuns.Run(string.Format(System.Globalization.CultureInfo.InvariantCulture, Job, ""));
        var slow = JobRuns.Run(string.Format(System.Globalization.CultureInfo.InvariantCulture, Job, "thinktime=5ms"));
        Assert.True(slow.ElapsedNs > quick.ElapsedNs + (8 * 4_000_000), $"{slow.ElapsedNs} vs {quick.ElapsedNs}");
    }

    [Fact]
    public void DontcacheWrites_DropTheirFoliesAfterWriteback()
    {
        var r = JobRuns.Run("""
            [u]
            rw=write
            bs=64k
            size=1m
            uncached=1
            end_fsync=1
            """, new WbsimOptions { Cpus = 2 }.With("completion", "task"));
        Clean(r);
        Assert.True(r.Model.DropbehindRemoved > 0);
        Assert.Equal(0, r.Model.DropbehindLeft);
    }

    [Fact]
    public void Designs_DeferCompletionWork_ToTheirOwnWorkqueues()
    {
        const string Job = """
            [w]
            rw=write
            bs=4k
            size=256k
            end_fsync=1
            [o]
            rw=randwrite
            bs=4k
            size=64k
            overwrite=1
            end_fsync=1
            [d]
            rw=write
            bs=4k
            size=64k
            direct=1
            ioengine=libaio
            iodepth=4
            """;
        var irq = JobRuns.Run(Job, new WbsimOptions { Cpus = 2 });
        var task = JobRuns.Run(Job, new WbsimOptions { Cpus = 2 }.With("completion", "task"));
        Clean(irq);
        Clean(task);
        Assert.True(irq.Model.Workqueues["ioend"].Queued > 0);
        Assert.True(irq.Model.Workqueues["dio"].Queued > 0);
        Assert.Equal(0, irq.Model.Workqueues["bio_complete"].Queued);
        Assert.Equal(0, task.Model.Workqueues["ioend"].Queued);
        Assert.Equal(0, task.Model.Workqueues["dio"].Queued);
        Assert.True(task.Model.Workqueues["bio_complete"].Queued > 0);
        Assert.Equal(0, irq.Model.DeferralLatency.Count);
        Assert.True(task.Model.DeferralLatency.Count > 0);
        Assert.True(irq.Model.CompletionLatency.Count > 0 && task.Model.CompletionLatency.Count > 0);
        Assert.NotNull(irq.Model.Pages);
        Assert.True(irq.Model.IrqsOffByClassNs[ModelReport.PagesClassName] > 0, "irqsave i_pages keeps interrupts off");
        Assert.Equal(0, task.Model.IrqsOffByClassNs[ModelReport.PagesClassName]);
        Assert.Equal('-', irq.Model.Usage[ModelReport.PagesClassName][1]); // taken in hardirq, always with irqs off
        Assert.Equal('+', task.Model.Usage[ModelReport.PagesClassName][1]); // never in hardirq, taken with irqs on
    }

    [Fact]
    public void ForcedPlainLock_WithIrqCompletion_GetsALockdepReport()
    {
        var r = JobRuns.Run("""
            [w]
            rw=randwrite
            bs=4k
            size=512k
            overwrite=1
            end_fsync=1
            """, new WbsimOptions { Cpus = 2 }.With("plain_lock", "1"));
        Assert.NotEmpty(r.Model.Reports);
        Assert.Contains("inconsistent lock state", r.Model.Reports[0], StringComparison.Ordinal);
        Assert.Contains("i_pages", r.Model.Reports[0], StringComparison.Ordinal);
    }

    [Fact]
    public void ForcedPlainLock_WithLockdepFail_StopsTheMachine_AndStillReports()
    {
        var r = JobRuns.Run("""
            [w]
            rw=randwrite
            bs=4k
            size=512k
            overwrite=1
            end_fsync=1
            """, new WbsimOptions { Cpus = 2 }.With("plain_lock", "1").With("lockdep", "fail"));
        Assert.NotNull(r.Failure);
        Assert.NotEmpty(r.Model.Reports);
        Assert.Contains("lock_stat version", r.Model.LockStatText, StringComparison.Ordinal);
    }

    [Fact]
    public void SameSeed_SameFigures_OtherSeed_OtherSchedule()
    {
        const string Job = """
            [w]
            rw=randwrite
            bs=4k
            size=256k
            numjobs=2
            fsync=16
            """;
        static string Fingerprint(RunResult r) => string.Join(
            ",",
            r.Jobs.SelectMany(j => new[] { j.Write.Clat.Min, j.Write.Clat.Max, (long)j.Write.Clat.Mean, j.Sync.Lat.Max, j.Write.RuntimeNs })
                .Append(r.ElapsedNs).Append(r.Model.IrqsOffTotalNs)) + r.Model.LockStatText;
        var a = Fingerprint(JobRuns.Run(Job, new WbsimOptions { Cpus = 2, Seed = 7 }));
        var b = Fingerprint(JobRuns.Run(Job, new WbsimOptions { Cpus = 2, Seed = 7 }));
        var c = Fingerprint(JobRuns.Run(Job, new WbsimOptions { Cpus = 2, Seed = 8 }));
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void Cancellation_StopsTheJobs_AndMarksTheRunInterrupted()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var r = JobRuns.Run("""
            [w]
            rw=write
            bs=4k
            size=64m
            """, control: new RunControl { Cancellation = cts.Token });
        Assert.True(r.Interrupted);
        Assert.Equal(0, Assert.Single(r.Jobs).Write.Ios);
    }

    [Fact]
    public void Progress_IsReported_AndReachesThePlannedBytes()
    {
        var seen = new List<RunProgress>();
        var r = JobRuns.Run("""
            [w]
            rw=write
            bs=4k
            size=512k
            """, control: new RunControl { Progress = seen.Add });
        Clean(r);
        Assert.NotEmpty(seen);
        Assert.Equal(512 << 10, seen[^1].BytesPlanned);
        Assert.Equal(512 << 10, seen[^1].BytesDone);
        Assert.Equal(1.0, seen[^1].Fraction);
        Assert.Equal("irq", seen[^1].Design);
    }

    [Fact]
    public void Directory_AndFilenameOptions_PlaceTheFiles()
    {
        var seen = new List<string>();
        var control = new RunControl { BeforeVerify = (fs, spec, i) => seen.Add(spec.FilePath(i, 0)) };
        var r = JobRuns.Run("""
            [a]
            directory=/x/y
            rw=write
            bs=4k
            size=16k
            [b]
            directory=/x
            filename=shared
            rw=write
            bs=4k
            size=16k
            numjobs=2
            """, control: control);
        Clean(r);
        Assert.Equal(["/x/shared", "/x/shared", "/x/y/a.0.0"], seen.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void DiskCapacity_GrowsToFitTheJobs()
    {
        var r = JobRuns.Run("""
            [big]
            rw=write
            bs=1m
            size=80m
            fallocate=none
            """, new WbsimOptions { Cpus = 2 }.With("disk_size", "16m"));
        Clean(r);
        Assert.Equal(80L << 20, Assert.Single(r.Jobs).Write.Bytes);
    }
}
