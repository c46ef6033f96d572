using System.Collections.Concurrent;
using Writeback.Block;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Workloads.Torture;
using Xunit.Abstractions;

namespace Writeback.Tests.Workloads;

/// <summary>The interleaved torture run as a library: several workers on several CPUs, with
/// injected interrupts, CPU hotplug and device latency outliers, are clean in both modes and
/// every variant; a seed replays bit for bit; hotplug happens and, in task mode, drains deferred
/// completions; and a dead-CPU drain that loses a bio is caught as a hang within seconds, with a
/// report that names every task's last operations and the replay command.</summary>
public class InterleavedTortureTests(ITestOutputHelper output)
{
    private const int Ops = 100;

    /// <summary>Task mode, v5 (whose one-jiffy delayed kick leaves bios in a batch long enough for
    /// a CPU to die under them): with LoseDeferredBioOnOffline, seeds 1, 3, 5 and 6 hang and 4
    /// does not — the drain that lost a bio was a batch of one or none (found by running seeds 1
    /// to 6; the assertion needs only one of the set to catch it).</summary>
    private static readonly ulong[] s_lostBioSeeds = [1, 3, 4, 5, 6];

    private static readonly InterleavedOptions s_lostBioConfig = new() { Completion = CompletionMode.Task, Variant = TaskCompletionVariant.V5, Operations = Ops };

    // The clean runs of the lost-bio seeds serve two tests; xunit runs a class's tests one at a time.
    private static readonly ConcurrentDictionary<ulong, Lazy<InterleavedResult>> s_cleanLostBioRuns = new();

    public static TheoryData<CompletionMode, TaskCompletionVariant, ulong> CleanRuns
    {
        get
        {
            var data = new TheoryData<CompletionMode, TaskCompletionVariant, ulong>();

            // Seeds 1, 2 and 5 between them have 4096- and 512-byte blocks, tight and loose dirty
            // limits, and round-robin and submitter interrupt affinity.
            foreach (var seed in new[] { 1UL, 2UL, 5UL })
            {
                data.Add(CompletionMode.Irq, TaskCompletionVariant.Merged, seed);
                data.Add(CompletionMode.Task, TaskCompletionVariant.Merged, seed);
            }

            foreach (var variant in new[] { TaskCompletionVariant.V4, TaskCompletionVariant.V5, TaskCompletionVariant.Cpumask })
            {
                data.Add(CompletionMode.Task, variant, 2);
                data.Add(CompletionMode.Task, variant, 5);
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(CleanRuns))]
    public void BoundedRun_IsCleanInBothModesAndEveryVariant(CompletionMode mode, TaskCompletionVariant variant, ulong seed)
    {
        var result = new InterleavedRun(new InterleavedOptions { Completion = mode, Variant = variant, Operations = Ops }, seed).Execute();
        output.WriteLine(Figures(result));

        Assert.True(result.IsClean, result.Violation?.Text);
        Assert.Equal((seed, mode, variant), (result.Seed, result.Completion, result.Variant));
        Assert.Equal(Ops, result.OperationsPerWorker);
        Assert.Equal(InterleavedOptions.DefaultWorkers * Ops, result.Operations);
        Assert.True(result.BytesChecked > 0);
        Assert.True(result.IrqInjections > 0, "no interrupt was injected");
        Assert.True(result.HotplugEvents > 0, "no CPU went offline");
        Assert.True(result.HotplugEvents % 2 == 0, $"{result.HotplugEvents} hotplug events: a CPU went offline and never came back");
    }

    [Fact]
    public void SameSeed_GivesTheSameResult()
    {
        var options = new InterleavedOptions { Completion = CompletionMode.Task, Variant = TaskCompletionVariant.V5, Operations = 60 };
        var first = new InterleavedRun(options, 3).Execute();
        var second = new InterleavedRun(options, 3).Execute();

        Assert.True(first.IsClean, first.Violation?.Text);
        Assert.Equal(first with { HostMs = 0 }, second with { HostMs = 0 });
    }

    [Fact]
    public void TaskMode_HotplugHappensInEveryRun_AndDrainsDeferredCompletionsOverTheSeeds()
    {
        long drained = 0;
        foreach (var seed in s_lostBioSeeds)
        {
            var result = CleanLostBioRun(seed);
            output.WriteLine(Figures(result));
            Assert.True(result.IsClean, result.Violation?.Text);
            Assert.True(result.HotplugEvents > 0, $"seed {seed}: no CPU went offline");
            drained += result.DrainedByHotplug;
        }

        Assert.True(drained > 0, "no deferred completion was drained by a dead-CPU callback over the seeds");
    }

    [Fact]
    public void InjectedLoseDeferredBioOnOffline_IsCaughtAsAHang_ForSeedsThatAreCleanWithoutIt()
    {
        var caught = new List<InterleavedResult>();
        foreach (var seed in s_lostBioSeeds)
        {
            var broken = new InterleavedRun(s_lostBioConfig with { InjectedBugs = InjectedBug.LoseDeferredBioOnOffline, StallTimeout = TimeSpan.FromSeconds(2) }, seed).Execute();
            output.WriteLine(Figures(broken));
            if (!broken.IsClean)
            {
                caught.Add(broken);
                var clean = CleanLostBioRun(seed);
                Assert.True(clean.IsClean, $"seed {seed} is not clean without the injected bug: {clean.Violation?.Text}");
            }
        }

        Assert.NotEmpty(caught);
        foreach (var r in caught)
        {
            var v = r.Violation!;
            output.WriteLine(v.Text);
            Assert.StartsWith("hung: ", v.What, StringComparison.Ordinal);
            Assert.Contains("2000 ms", v.What, StringComparison.Ordinal);
            Assert.Contains("task-completion:", v.Detail, StringComparison.Ordinal);
            Assert.StartsWith($"wbsim torture --seed {r.Seed} --completion task --variant v5 --hotplug --ops {Ops}", v.ReplayCommand, StringComparison.Ordinal);
            Assert.Contains("InjectedBugs = LoseDeferredBioOnOffline", v.ReplayCommand, StringComparison.Ordinal);
            Assert.True(v.Operation < v.PlannedOperations);
            Assert.NotEmpty(v.LastOperations);
            Assert.All(v.LastOperations, line => Assert.Matches(@"^(w\d+ #\d+ |hotplug: |init: |final: )", line));
        }
    }

    /// <summary>Found by this run (seeds 7 to 26: seed 13 in IRQ mode, seed 22 in task mode with
    /// v4): opening a closed file whose extents spill into extent blocks, while writeback of it
    /// commits an extent change, fails with EUCLEAN — FsMount.Resolve reads the inode with
    /// InodeTable.Read(tx: null), which reads the inode's block and then its extent blocks, each
    /// under its own buffer lock but not under the inode's lock, so it can see the inode's new
    /// extent count with the old extent blocks ("inode 4: its extent blocks hold 18 extents, the
    /// inode says 19"). Unskip once the lookup reads a consistent inode.</summary>
    // Found by this run: a lookup read the disk copy of a cached inode while writeback committed
    // an extent change to it, and saw a torn record (EUCLEAN); FsMount now reads the in-core copy.
    [Theory]
    [InlineData(CompletionMode.Irq, TaskCompletionVariant.Merged, 13UL)]
    [InlineData(CompletionMode.Task, TaskCompletionVariant.V4, 22UL)]
    public void OpenDuringWritebackOfAFileWithExtentBlocks_IsClean_RegressionSeeds(CompletionMode mode, TaskCompletionVariant variant, ulong seed)
    {
        var result = new InterleavedRun(new InterleavedOptions { Completion = mode, Variant = variant }, seed).Execute();
        Assert.True(result.IsClean, result.Violation?.Text);
    }

    [Fact]
    public void ReplayCommand_HasTheTortureHotplugFormat_AndNamesLibraryOnlySettings()
    {
        var options = new InterleavedOptions { Completion = CompletionMode.Task, Variant = TaskCompletionVariant.Cpumask };
        Assert.Equal("wbsim torture --seed 7 --completion task --variant cpumask --hotplug --ops 120", InterleavedRun.ReplayCommandFor(7, options, 120));
        Assert.Equal("wbsim torture --seed 7 --completion irq --variant merged --hotplug --ops 5 --cpus 8", InterleavedRun.ReplayCommandFor(7, new InterleavedOptions { Cpus = 8 }, 5));

        var library = InterleavedRun.ReplayCommandFor(7, options with { Workers = 2 }, 120);
        Assert.StartsWith("wbsim torture --seed 7 --completion task --variant cpumask --hotplug --ops 120  # and InterleavedOptions { Workers = 2,", library, StringComparison.Ordinal);
    }

    [Fact]
    public void Operations_AreDrawnFromTheSeed_AndTheDrawnCountReplaysTheRun()
    {
        var drawn = new InterleavedRun(new InterleavedOptions { Workers = 1, Hotplug = false, Cpus = 2 }, 9).Execute();
        Assert.True(drawn.IsClean, drawn.Violation?.Text);
        Assert.InRange(drawn.OperationsPerWorker, 100, 200);
        Assert.Equal(0, drawn.HotplugEvents);

        var given = new InterleavedRun(new InterleavedOptions { Workers = 1, Hotplug = false, Cpus = 2, Operations = drawn.OperationsPerWorker }, 9).Execute();
        Assert.Equal(drawn with { HostMs = 0, ReplayCommand = string.Empty }, given with { HostMs = 0, ReplayCommand = string.Empty });
    }

    [Fact]
    public void Execute_RunsOnce()
    {
        var run = new InterleavedRun(new InterleavedOptions { Workers = 1, Operations = 5, Hotplug = false, Cpus = 1 }, 1);
        Assert.True(run.Execute().IsClean);
        Assert.Throws<InvalidOperationException>(() => run.Execute());
    }

    [Theory]
    [InlineData(nameof(InterleavedOptions.Cpus))]
    [InlineData(nameof(InterleavedOptions.Workers))]
    [InlineData(nameof(InterleavedOptions.Operations))]
    [InlineData(nameof(InterleavedOptions.OutlierProbability))]
    [InlineData(nameof(InterleavedOptions.StallTimeout))]
    public void Options_BadSetting_IsRejectedByName(string setting)
    {
        var options = setting switch
        {
            nameof(InterleavedOptions.Cpus) => new InterleavedOptions { Cpus = 1 },
            nameof(InterleavedOptions.Workers) => new InterleavedOptions { Workers = 0 },
            nameof(InterleavedOptions.Operations) => new InterleavedOptions { Operations = 0 },
            nameof(InterleavedOptions.OutlierProbability) => new InterleavedOptions { OutlierProbability = 1.5 },
            _ => new InterleavedOptions { StallTimeout = TimeSpan.Zero },
        };
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new InterleavedRun(options, 1));
        Assert.Equal(setting, ex.ParamName);
    }

    private static InterleavedResult CleanLostBioRun(ulong seed) =>
        s_cleanLostBioRuns.GetOrAdd(seed, s => new Lazy<InterleavedResult>(() => new InterleavedRun(s_lostBioConfig, s).Execute())).Value;

    private static string Figures(InterleavedResult r) =>
        $"{r.Completion} {r.Variant} seed {r.Seed}: {r.Operations} ops, {r.BytesChecked} bytes checked, {r.HotplugEvents} hotplug events, "
        + $"{r.IrqInjections} injected irqs, {r.DrainedByHotplug} drained by hotplug, {r.ModelledNs / 1_000_000} ms modelled, {r.HostMs} ms host, {(r.IsClean ? "clean" : "VIOLATION")}";
}
