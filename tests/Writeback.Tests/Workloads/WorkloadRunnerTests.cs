using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Workloads.Fio;
using Writeback.Workloads.Running;

namespace Writeback.Tests.Workloads;

/// <summary>Running fio jobs on the model: every pattern does real I/O through the file API, the
/// figures add up, verify catches nothing on a correct stack, and the designs differ where they must.</summary>
public class WorkloadRunnerTests
{
    internal static IReadOnlyList<JobSpec> Jobs(string text) =>
        [.. FioJobFile.Parse(text, "test.fio").Select(JobSpec.From)];

    internal static RunResult Run(string text, WbsimOptions? options = null) =>
        WorkloadRunner.Run(Jobs(text), options ?? new WbsimOptions { Cpus = 2 }, "test.fio");

    [Fact]
    public void SequentialBufferedWrite_WritesSizeBytes_WithFsyncsCounted()
    {
        var r = Run("""
            [seq]
            rw=write
            bs=4k
            size=256k
            fsync=16
            """);
        Assert.Null(r.Failure);
        var job = Assert.Single(r.Jobs);
        Assert.Equal(Errno.None, job.Error);
        Assert.Equal(64, job.Write.Ios);
        Assert.Equal(256 << 10, job.Write.Bytes);
        Assert.Equal(0, job.Read.Ios);
        Assert.Equal(4, job.Sync.Count);
        Assert.True(job.Write.RuntimeNs > 0);
        Assert.True(job.Write.Clat.Min > 0);
        Assert.Equal("modelled", r.Model.TimeBasis);
        Assert.Empty(r.Model.Reports);
    }
}
