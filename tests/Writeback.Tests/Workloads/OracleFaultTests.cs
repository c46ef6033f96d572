using Writeback.Block;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Workloads.Torture;

namespace Writeback.Tests.Workloads;

/// <summary>The oracle's fault episodes: data write errors during writeback and direct I/O with
/// the fstests error-reporting rules (generic/441, 487 and syncfs's per-filesystem error), a
/// metadata write error that shuts the filesystem down, and dropped writes followed by a power
/// cut — clean in both modes and every variant, and able to fail: the report-to-one-file bug is
/// caught.</summary>
public class OracleFaultTests
{
    public static TheoryData<CompletionMode, TaskCompletionVariant, ulong> FaultRuns
    {
        get
        {
            var data = new TheoryData<CompletionMode, TaskCompletionVariant, ulong>();
            for (var seed = 1UL; seed <= 3; seed++)
            {
                data.Add(CompletionMode.Irq, TaskCompletionVariant.Merged, seed);
                data.Add(CompletionMode.Task, TaskCompletionVariant.Merged, seed);
            }

            data.Add(CompletionMode.Task, TaskCompletionVariant.V4, 4);
            data.Add(CompletionMode.Task, TaskCompletionVariant.V5, 5);
            data.Add(CompletionMode.Task, TaskCompletionVariant.Cpumask, 6);
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(FaultRuns))]
    public void FaultEpisodes_AreSurvived_InBothModesAndEveryVariant(CompletionMode mode, TaskCompletionVariant variant, ulong seed)
    {
        var run = new OracleRun(new TortureOptions { Completion = mode, Variant = variant, Faults = true }, seed);
        var result = run.Execute();

        Assert.True(result.IsClean, result.Violation?.Text);
        Assert.True(result.FaultEpisodes > 0);
        Assert.True(result.FaultsInjected > 0);
        Assert.Contains("--faults", result.ReplayCommand, StringComparison.Ordinal);
    }

    [Fact]
    public void EveryKindOfEpisode_Happens_OverAFewSeeds()
    {
        var log = new List<string>();
        for (var seed = 1UL; seed <= 4; seed++)
        {
            var run = new OracleRun(new TortureOptions { Faults = true }, seed);
            Assert.True(run.Execute().IsClean);
            log.AddRange(run.Log);
        }

        Assert.Contains(log, l => l.Contains(" write error: ", StringComparison.Ordinal) && l.Contains("by fsync", StringComparison.Ordinal));
        Assert.Contains(log, l => l.Contains(" write error: ", StringComparison.Ordinal) && l.Contains("while the error is unseen", StringComparison.Ordinal));
        Assert.Contains(log, l => l.Contains(" direct write error: ", StringComparison.Ordinal));
        Assert.Contains(log, l => l.Contains(" metadata error: ", StringComparison.Ordinal));
        Assert.Contains(log, l => l.Contains(" drop writes: ", StringComparison.Ordinal));
        Assert.Contains(log, l => l.Contains("back to the last sync", StringComparison.Ordinal));
        Assert.Contains(log, l => l.Contains("after the error", StringComparison.Ordinal));
    }

    [Fact]
    public void WithoutFaults_TheSameSeedDrawsTheSameRunAsBefore_AndInjectsNothing()
    {
        var plain = new OracleRun(new TortureOptions { Operations = 60 }, 3).Execute();

        Assert.True(plain.IsClean);
        Assert.Equal(0, plain.FaultEpisodes);
        Assert.Equal(0, plain.FaultsInjected);
        Assert.DoesNotContain("--faults", plain.ReplayCommand, StringComparison.Ordinal);
    }

    [Fact]
    public void ReportingAnErrorToOneFileOnly_NegativeControl_IsCaught()
    {
        var caught = Enumerable.Range(1, 6).Select(seed => new OracleRun(
            new TortureOptions { Faults = true, InjectedBugs = InjectedBug.ReportErrorToOneFile }, (ulong)seed).Execute())
            .FirstOrDefault(r => !r.IsClean);

        var v = Assert.IsType<TortureViolation>(caught?.Violation);
        Assert.Contains("fsync", v.What, StringComparison.Ordinal);
        Assert.Contains("expected EIO", v.What, StringComparison.Ordinal);
    }

    // Found by the soak: a direct write past EOF zeroes the gap through the page cache, and that
    // writeback fails under the fault too; its error is a writeback error like any other.
    [Fact]
    public void FailedDirectWritePastEof_WhoseGapZeroingFailsToo_IsReportedAsAWritebackError_Seed14()
    {
        var run = new OracleRun(new TortureOptions { Completion = CompletionMode.Irq, Variant = TaskCompletionVariant.Merged, Operations = 370, Faults = true }, 14);
        var result = run.Execute();

        Assert.True(result.IsClean, result.Violation?.Text);
    }

    // Found by a wbsim torture --faults --hotplug run: zeroing the gap before a direct write past
    // EOF moved EOF over a hole block it could not write back; the write failed, so the synced
    // size in memory was never logged and a power cut lost it. Zeroing no longer moves EOF.
    [Fact]
    public void FailedDirectWritePastEof_LeavesEofWhereItWas_SoASyncKeepsTheSize_Seed53()
    {
        var run = new OracleRun(new TortureOptions { Completion = CompletionMode.Irq, Variant = TaskCompletionVariant.Merged, Operations = 321, Faults = true }, 53);
        var result = run.Execute();

        Assert.True(result.IsClean, result.Violation?.Text);
    }

    [Fact]
    public void Faults_NeedTheFullMix()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new OracleRun(new TortureOptions { Faults = true, Mix = OracleMix.Classic }, 1));
        Assert.Contains("Faults", ex.Message, StringComparison.Ordinal);
    }
}
