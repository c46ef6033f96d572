using Writeback.Kernel;
using Writeback.Workloads.Fio;
using Writeback.Workloads.Running;

namespace Writeback.Tests.Workloads;

/// <summary>Job files given as text, run on the model, and the check that a run ended clean.</summary>
internal static class JobRuns
{
    /// <summary>The jobs of <paramref name="text"/>, read as the job file <paramref name="file"/>.</summary>
    public static IReadOnlyList<JobSpec> Specs(string text, string file = "test.fio") =>
        [.. FioJobFile.Parse(text, file).Select(JobSpec.From)];

    /// <summary>Runs the jobs of <paramref name="text"/>, on 2 CPUs unless <paramref name="options"/> say otherwise.</summary>
    public static RunResult Run(string text, WbsimOptions? options = null, RunControl? control = null, string file = "test.fio") =>
        WorkloadRunner.Run(Specs(text, file), options ?? new WbsimOptions { Cpus = 2 }, file, control);

    /// <summary>Asserts that the run ended clean: the machine did not fail, the kernel reported
    /// nothing, the run was not interrupted, and no job had an error or a verify error.</summary>
    public static void AssertClean(RunResult r)
    {
        Assert.True(r.Failure is null, $"machine failed: {r.FailureDetail ?? r.Failure}");
        Assert.True(r.Model.Reports.Count == 0, "kernel reports:\n" + string.Join("\n", r.Model.Reports));
        Assert.False(r.Interrupted);
        Assert.All(r.Jobs, j => Assert.True(j.Error == Errno.None, $"job {j.Name}: {j.Error} {j.ErrorContext}"));
        Assert.Equal(0, r.VerifyErrors);
    }
}
