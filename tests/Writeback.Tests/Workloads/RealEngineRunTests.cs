using System.Threading;
using Writeback.Kernel;
using Writeback.Tests.Infrastructure;
using Writeback.Workloads.Running;

namespace Writeback.Tests.Workloads;

/// <summary>Jobs on the real engine (host threads, measured times): they finish clean and verified
/// under both completion designs, and a cancellation from the progress callback stops them early.</summary>
[Collection(MachineFixture.RealEngine)]
public class RealEngineRunTests
{
    private static readonly TimeSpan s_hangLimit = TimeSpan.FromMinutes(2);

    [Theory]
    [InlineData("irq")]
    [InlineData("task")]
    public void BufferedAndAsyncDirectJobs_OnTheRealEngine_FinishClean_Verified_WithMeasuredLatencies(string completion)
    {
        var r = Run("""
            [buffered]
            rw=randwrite
            bs=4k
            size=256k
            fsync=16
            verify=crc32c

            [direct]
            rw=randwrite
            bs=4k
            size=256k
            direct=1
            ioengine=libaio
            iodepth=8
            verify=crc32c
            """, completion);

        JobRuns.AssertClean(r);
        Assert.Equal(2, r.Jobs.Count);
        Assert.Equal("measured", r.Model.TimeBasis);
        Assert.Equal(completion, r.Options.DesignName);
        foreach (var j in r.Jobs)
        {
            Assert.Equal(64, j.Write.Ios);
            Assert.Equal(256 << 10, j.Write.Bytes);
            Assert.Equal(256 << 10, j.VerifyBytes);
            Assert.True(j.Write.Clat.Max > 0 && j.Write.Clat.Mean > 0, $"job {j.Name}: clat max {j.Write.Clat.Max} ns, mean {j.Write.Clat.Mean} ns");
            Assert.True(j.Write.Lat.Max > 0, $"job {j.Name}: lat max {j.Write.Lat.Max} ns");
            Assert.True(j.Write.RuntimeNs > 0, $"job {j.Name}: runtime {j.Write.RuntimeNs} ns");
        }

        var buffered = r.Jobs.Single(j => j.Name == "buffered");
        Assert.Equal(4, buffered.Sync.Count);
        Assert.True(buffered.Sync.Lat.Max > 0, "fsync latency measured");
        var direct = r.Jobs.Single(j => j.Name == "direct");
        Assert.Equal(64, direct.Write.Slat.Count);
        Assert.True(r.Model.CompletionLatency.Count > 0 && r.Model.CompletionLatency.MaxNs > 0, "completion latency measured");
        Assert.True(r.ElapsedNs > 0);
    }

    [Theory]
    [InlineData("irq")]
    [InlineData("task")]
    public void CancellingFromTheProgressCallback_StopsALargerJobEarly_AndMarksTheRunInterrupted(string completion)
    {
        const long Planned = 32L << 20;
        using var cts = new CancellationTokenSource();
        var calls = 0;
        var control = new RunControl
        {
            Cancellation = cts.Token,
            Progress = p =>
            {
                if (p.BytesDone > 0 && Interlocked.Increment(ref calls) == 1)
                {
                    cts.Cancel();
                }
            },
        };

        var r = Run("""
            [big]
            rw=write
            bs=4k
            size=32m
            verify=crc32c
            """, completion, control);

        Assert.True(r.Failure is null, $"machine failed: {r.FailureDetail ?? r.Failure}");
        Assert.True(r.Model.Reports.Count == 0, "kernel reports:\n" + string.Join("\n", r.Model.Reports));
        Assert.True(calls > 0, "progress was never reported");
        Assert.True(r.Interrupted);
        var job = Assert.Single(r.Jobs);
        Assert.Equal(Errno.None, job.Error);
        Assert.True(job.Write.Bytes > 0, "some I/O ran before the cancellation");
        Assert.True(job.Write.Bytes < Planned, $"{job.Write.Bytes} of {Planned} bytes: the job ran to the end");
        Assert.Equal(0, job.VerifyErrors);
        Assert.Equal(0, job.VerifyBytes); // an interrupted job skips its verify phase
    }

    // The run on a thread of its own, so that a hang fails the test instead of the test run.
    private static RunResult Run(string text, string completion, RunControl? control = null)
    {
        var specs = JobRuns.Specs(text, "real.fio");
        var options = new WbsimOptions { Cpus = 2 }.With("engine", "real").With("completion", completion);
        RunResult? result = null;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                result = WorkloadRunner.Run(specs, options, "real.fio", control);
            }
            catch (Exception ex)
            {
                error = ex;
            }
        })
        {
            IsBackground = true,
            Name = "real-engine-run",
        };
        thread.Start();
        Assert.True(thread.Join(s_hangLimit), $"the real-engine run ({completion}) did not finish within {s_hangLimit.TotalMinutes} min: it hangs");
        Assert.Null(error);
        return Assert.IsType<RunResult>(result);
    }
}
