using System.CommandLine;
using System.Text.RegularExpressions;
using System.Threading;
using Writeback.Block;
using Writeback.Cli;
using Writeback.Mm;
using Writeback.Workloads.Torture;

namespace Writeback.Tests.Cli;

/// <summary>wbsim torture: a clean run exits 0 with the table; one seed with a few operations in
/// one configuration; the first violation exits 1 with what, the seed, the last operations and the
/// replay command; the replay command reruns the same run; --duration keeps going with more
/// seeds; bad input exits 2 naming the option.</summary>
public sealed class TortureCommandTests
{
    private static (int Code, string Out, string Err) Torture(params string[] args) =>
        Torture(runOne: null, CancellationToken.None, args);

    private static (int Code, string Out, string Err) Torture(Func<TortureOptions, ulong, OracleResult>? runOne, CancellationToken ct, params string[] args)
    {
        var output = new StringWriter { NewLine = "\n" };
        var error = new StringWriter { NewLine = "\n" };
        var command = TortureCommand.Build(output, error, terminal: false, runOne, ct);
        var code = new RootCommand { command }.Parse(["torture", .. args]).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (code, output.ToString(), error.ToString());
    }

    private static long Row(string table, string name)
    {
        var m = Regex.Match(table, $@"^  {Regex.Escape(name)} +([\d,]+)", RegexOptions.Multiline);
        Assert.True(m.Success, $"no '{name}' row in:\n{table}");
        return long.Parse(m.Groups[1].Value.Replace(",", string.Empty, StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public void CleanRun_ExitsZero_WithTheTable()
    {
        var (code, output, error) = Torture("--seeds", "2", "--ops", "15");

        Assert.True(code == 0, error + output);
        Assert.Contains("wbsim torture: completion all, variant all, mix full, 2 CPUs, 15 operations per run", output, StringComparison.Ordinal);
        Assert.Equal(2, Row(output, "seeds run"));
        Assert.Contains("seeds run      2 (seeds 1-2)", output, StringComparison.Ordinal);
        Assert.Equal(10, Row(output, "runs"));
        Assert.Equal(150, Row(output, "operations"));
        Assert.True(Row(output, "bytes checked") > 0);
        Assert.Equal(0, Row(output, "violations"));
        Assert.Matches(@"host time +\d+\.\d s", output);
        Assert.Matches(@"operations/s +\d+", output);
        Assert.Contains("wbsim: torture 100% |", error, StringComparison.Ordinal);
    }

    [Fact]
    public void OneSeed_WithFewOperations_RunsThatSeedInTheChosenConfiguration()
    {
        var (code, output, error) = Torture("--seed", "7", "--ops", "20", "--completion", "task", "--variant", "v5", "--cpus", "3");

        Assert.True(code == 0, error + output);
        Assert.Contains("completion task, variant v5, mix full, 3 CPUs, 20 operations per run", output, StringComparison.Ordinal);
        Assert.Contains("seeds run      1 (seed 7)", output, StringComparison.Ordinal);
        Assert.Equal(1, Row(output, "runs"));
        Assert.Equal(20, Row(output, "operations"));
        Assert.Contains("seed 7 task/v5", error, StringComparison.Ordinal);
    }

    [Fact]
    public void IrqOnly_RunsOncePerSeed()
    {
        var seen = new List<(CompletionMode, TaskCompletionVariant, ulong)>();
        var (code, output, _) = Torture(Fake(seen), CancellationToken.None, "--seeds", "3", "--completion", "irq");

        Assert.Equal(0, code);
        Assert.Equal([(CompletionMode.Irq, TaskCompletionVariant.Merged, 1UL), (CompletionMode.Irq, TaskCompletionVariant.Merged, 2UL), (CompletionMode.Irq, TaskCompletionVariant.Merged, 3UL)], seen);
        Assert.Equal(3, Row(output, "runs"));
    }

    [Fact]
    public void AllCompletionsAndVariants_AreIrqOnceThenEveryTaskVariant_PerSeed()
    {
        var seen = new List<(CompletionMode, TaskCompletionVariant, ulong)>();
        var (code, _, _) = Torture(Fake(seen), CancellationToken.None, "--seed", "5");

        Assert.Equal(0, code);
        Assert.Equal(
            [
                (CompletionMode.Irq, TaskCompletionVariant.Merged, 5UL),
                (CompletionMode.Task, TaskCompletionVariant.Merged, 5UL),
                (CompletionMode.Task, TaskCompletionVariant.V4, 5UL),
                (CompletionMode.Task, TaskCompletionVariant.V5, 5UL),
                (CompletionMode.Task, TaskCompletionVariant.Cpumask, 5UL),
            ],
            seen);
    }

    [Fact]
    public void Duration_KeepsGoingWithMoreSeeds_UntilTheTimeIsUp()
    {
        var seen = new List<(CompletionMode, TaskCompletionVariant, ulong)>();
        var runOne = Fake(seen);
        var (code, output, _) = Torture(
            (o, s) =>
            {
                Thread.Sleep(2);
                return runOne(o, s);
            },
            CancellationToken.None,
            "--seeds", "2", "--duration", "300ms", "--completion", "task", "--variant", "merged");

        Assert.Equal(0, code);
        Assert.True(seen.Count > 2, $"only {seen.Count} seeds ran");
        Assert.Equal(Enumerable.Range(1, seen.Count).Select(i => (ulong)i), seen.Select(s => s.Item3));
        Assert.Equal(seen.Count, Row(output, "seeds run"));
    }

    [Fact]
    public void Violation_ExitsOne_PrintingWhatTheSeedTheLastOperationsAndTheReplayCommand()
    {
        OracleResult Broken(TortureOptions o, ulong s) =>
            new OracleRun(o, s) { AfterModelWrite = (file, pos, _) => file.Data[pos] ^= 0xff }.Execute();

        var (code, output, _) = Torture(Broken, CancellationToken.None, "--seeds", "3", "--completion", "task", "--variant", "v4");

        Assert.Equal(1, code);
        Assert.Contains("torture violation: ", output, StringComparison.Ordinal);
        Assert.Contains("seed 1, completion task, variant v4, ", output, StringComparison.Ordinal);
        Assert.Matches(@"last \d+ operations:\n    #\d+ ", output);
        Assert.Matches(@"  replay: wbsim torture --seed 1 --completion task --variant v4 --ops \d+\n", output);
        Assert.Equal(1, Row(output, "violations"));
        Assert.Equal(1, Row(output, "runs"));
    }

    [Fact]
    public void TheReplayCommand_RerunsTheSameRun()
    {
        var result = new OracleRun(new TortureOptions { Completion = CompletionMode.Task, Variant = TaskCompletionVariant.Cpumask, Operations = 30 }, 11).Execute();
        Assert.True(result.IsClean, result.Violation?.Text);
        var args = result.ReplayCommand.Split(' ');
        Assert.Equal(["wbsim", "torture"], args[..2]);

        var (code, output, error) = Torture(args[2..]);

        Assert.True(code == 0, error + output);
        Assert.Equal(1, Row(output, "runs"));
        Assert.Equal(result.Operations, Row(output, "operations"));
        Assert.Equal(result.BytesChecked, Row(output, "bytes checked"));
    }

    [Fact]
    public void Interrupted_ExitsWith130_AndPrintsTheTable()
    {
        using var cts = new CancellationTokenSource();
        var seen = new List<(CompletionMode, TaskCompletionVariant, ulong)>();
        var runOne = Fake(seen);
        var (code, output, error) = Torture(
            (o, s) =>
            {
                cts.Cancel();
                return runOne(o, s);
            },
            cts.Token,
            "--seeds", "5");

        Assert.Equal(130, code);
        Assert.Single(seen);
        Assert.Contains("interrupted", error, StringComparison.Ordinal);
        Assert.Equal(1, Row(output, "runs"));
    }

    [Theory]
    [InlineData("--seeds", "0")]
    [InlineData("--seeds", "many")]
    [InlineData("--seed", "-3")]
    [InlineData("--ops", "0")]
    [InlineData("--ops", "lots")]
    [InlineData("--completion", "both")]
    [InlineData("--variant", "v6")]
    [InlineData("--duration", "soon")]
    [InlineData("--duration", "-5s")]
    [InlineData("--cpus", "0")]
    [InlineData("--mix", "odd")]
    public void BadOption_ExitsTwo_NamingIt(string option, string value)
    {
        var (code, output, error) = Torture(option, value);

        Assert.Equal(2, code);
        Assert.Contains($"wbsim torture: {option}: '{value}' is not valid", error, StringComparison.Ordinal);
        Assert.Empty(output);
    }

    [Fact]
    public void Faults_RunEpisodesInTheOracle_AndTheTableCountsThem()
    {
        var (code, output, error) = Torture("--seed", "1", "--ops", "80", "--completion", "irq", "--faults");

        Assert.True(code == 0, error + output);
        Assert.Contains(", faults", output, StringComparison.Ordinal);
        Assert.Matches(@"  faults +[1-9][\d,]* bios failed or dropped in [1-9]\d* episodes
", output);
        Assert.Contains("  hotplug        - (no --hotplug)", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Hotplug_AddsAnInterleavedRunAfterEachOracleRun_AndTheTableCountsItsEvents()
    {
        var (code, output, error) = Torture("--seed", "2", "--ops", "40", "--completion", "task", "--variant", "v5", "--hotplug");

        Assert.True(code == 0, error + output);
        Assert.Contains(", hotplug (4 CPUs)", output, StringComparison.Ordinal);
        Assert.Contains("  runs           1 oracle, 1 interleaved", output, StringComparison.Ordinal);
        Assert.Matches(@"  hotplug +[1-9][\d,]* CPU offline/online events, [\d,]+ completions drained from dead CPUs
", output);
        Assert.Equal(40 + (3 * 40), Row(output, "operations"));
    }

    [Theory]
    [InlineData(new[] { "--faults", "--mix", "classic" }, "--faults: fault episodes need --mix full")]
    [InlineData(new[] { "--hotplug", "--cpus", "1" }, "--hotplug: needs at least 2 CPUs")]
    public void OptionsThatDoNotFitTogether_ExitTwo_NamingThem(string[] args, string expected)
    {
        var (code, output, error) = Torture(["--seed", "1", .. args]);

        Assert.Equal(2, code);
        Assert.Contains($"wbsim torture: {expected}", error, StringComparison.Ordinal);
        Assert.Empty(output);
    }

    [Fact]
    public void UnknownOption_ExitsTwo_NamingIt()
    {
        var (code, output, error) = Torture("--seed", "1", "--frobnicate");

        Assert.Equal(2, code);
        Assert.Contains("wbsim torture: '--frobnicate': not an option or value of torture", error, StringComparison.Ordinal);
        Assert.Empty(output);
    }

    [Fact]
    public void SeedAndSeeds_Together_ExitTwo()
    {
        var (code, output, error) = Torture("--seed", "3", "--seeds", "4");

        Assert.Equal(2, code);
        Assert.Contains("--seed 3 and --seeds 4", error, StringComparison.Ordinal);
        Assert.Empty(output);
    }

    // A run that does nothing: records what it was asked to run.
    private static Func<TortureOptions, ulong, OracleResult> Fake(List<(CompletionMode, TaskCompletionVariant, ulong)> seen) => (o, s) =>
    {
        seen.Add((o.Completion, o.Variant, s));
        return new OracleResult
        {
            Seed = s,
            Completion = o.Completion,
            Variant = o.Variant,
            PlannedOperations = 10,
            Operations = 10,
            BytesChecked = 100,
            BufferedBytesWritten = 0,
            ConvWorkqueueItems = 0,
            DioWorkqueueItems = 0,
            HostMs = 0,
            ReplayCommand = OracleRun.ReplayCommandFor(s, o, 10),
        };
    };

    [Fact]
    public void Crashes_EnumeratesCrashStatesAfterTheOracle_InEachConfiguration()
    {
        var (code, output, error) = Torture("--seed", "1", "--ops", "10", "--completion", "irq", "--crashes");
        Assert.True(code == 0, error + output);
        Assert.Matches(@"crashes irq\s+628 workloads\s+[0-9,]+ states \([1-9][0-9,]* torn\)\s+0 violations", output);
        Assert.Matches(@"  crash states +[1-9][\d,]* checked \([1-9][\d,]* with a torn write\) in 628 workloads\n", output);
    }
}
