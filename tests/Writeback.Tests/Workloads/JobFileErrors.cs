using Writeback.Workloads.Fio;

namespace Writeback.Tests.Workloads;

/// <summary>What a job file error must name: the file, the line, the option and the problem.</summary>
internal static class JobFileErrors
{
    /// <summary>Asserts that <paramref name="ex"/> blames line <paramref name="line"/> of
    /// <paramref name="file"/> and <paramref name="option"/> (null: no option), with a problem that
    /// says <paramref name="problem"/>.</summary>
    public static void AssertNames(JobFileException ex, string file, int line, string? option, string problem)
    {
        Assert.Equal(file, ex.File);
        Assert.Equal(line, ex.Line);
        Assert.Equal(option, ex.Option);
        Assert.Contains(problem, ex.Problem, StringComparison.Ordinal);
    }
}
