using System.Text.Json;
using System.Threading;
using Writeback.Cli;

namespace Writeback.Tests.Cli;

/// <summary>The wbsim command line: run and compare, job files and the default, options from the
/// command line over [wbsim], output formats and files, plots, exit codes and bad input.</summary>
public sealed class WbsimCommandTests : IDisposable
{
    private const string SmallJob = """
        [wbsim]
        cpus=2

        [w]
        rw=randwrite
        bs=4k
        size=256k
        overwrite=1
        end_fsync=1
        verify=crc32c
        """;

    private readonly string _dir = Directory.CreateTempSubdirectory("wbsim-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Job(string text = SmallJob)
    {
        var path = Path.Combine(_dir, $"job{Guid.NewGuid():N}.fio");
        File.WriteAllText(path, text);
        return path;
    }

    private static (int Code, string Out, string Err) Wbsim(params string[] args) => Wbsim(CancellationToken.None, args);

    private static (int Code, string Out, string Err) Wbsim(CancellationToken ct, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = WbsimCommand.Invoke(args, output, error, progressToTerminal: false, ct);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void Run_PrintsFiosBlocks_AndTheModelsSections()
    {
        var (code, output, error) = Wbsim("run", Job());
        Assert.True(code == 0, error + output);
        Assert.Contains("w: (groupid=0, jobs=1): err= 0", output, StringComparison.Ordinal);
        Assert.Contains("Run status group 0 (all jobs):", output, StringComparison.Ordinal);
        Assert.Contains("== model: irq", output, StringComparison.Ordinal);
        Assert.Contains("lock_stat version 0.4", output, StringComparison.Ordinal);
        Assert.Contains("cpus=2", output, StringComparison.Ordinal);
        Assert.Contains("wbsim: [irq] done", error, StringComparison.Ordinal);
    }

    [Fact]
    public void CommandLineOptions_OverrideTheJobFilesWbsimSection()
    {
        var (code, output, _) = Wbsim("run", Job(), "--cpus", "3", "--completion", "task", "--seed", "9");
        Assert.Equal(0, code);
        Assert.Contains("engine=sim seed=9 cpus=3 completion=task", output, StringComparison.Ordinal);
        Assert.Contains("== model: task", output, StringComparison.Ordinal);
    }

    [Fact]
    public void CompareJson_HasOneRunPerDesign_WithTheModelObject()
    {
        var (code, output, error) = Wbsim("compare", Job(), "--output-format", "json");
        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(output);
        var runs = doc.RootElement.GetProperty("runs");
        Assert.Equal(2, runs.GetArrayLength());
        Assert.Equal("irq", runs[0].GetProperty("model").GetProperty("completion").GetString());
        Assert.Equal("irqsave", runs[0].GetProperty("model").GetProperty("i_pages_lock").GetString());
        Assert.Equal("task", runs[1].GetProperty("model").GetProperty("completion").GetString());
        Assert.Equal("plain", runs[1].GetProperty("model").GetProperty("i_pages_lock").GetString());
        Assert.Equal(64, runs[0].GetProperty("jobs")[0].GetProperty("write").GetProperty("total_ios").GetInt32());
    }

    [Fact]
    public void CompareJson_IsByteIdenticalForTheSameSeed_ApartFromHost()
    {
        static string WithoutHost(string json)
        {
            using var doc = JsonDocument.Parse(json);
            var runs = doc.RootElement.GetProperty("runs").EnumerateArray()
                .Select(r => string.Join(",", r.EnumerateObject().Where(p => p.Name != "host").Select(p => p.Name + "=" + p.Value.GetRawText())));
            return string.Join("\n", runs);
        }

        var job = Job();
        var a = Wbsim("compare", job, "--output-format", "json");
        var b = Wbsim("compare", job, "--output-format", "json");
        Assert.Equal(0, a.Code);
        Assert.Equal(WithoutHost(a.Out), WithoutHost(b.Out));
        Assert.Contains("\"host\"", a.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Compare_PrintsTheSideBySideTable()
    {
        var (code, output, _) = Wbsim("compare", Job());
        Assert.Equal(0, code);
        var table = output[output.IndexOf("Comparison of", StringComparison.Ordinal)..];
        Assert.Matches(@"design\s+irq\s+task", table);
        Assert.Matches(@"i_pages lock\s+irqsave\s+plain", table);
        Assert.Contains("workqueue bio_complete (queued)", table, StringComparison.Ordinal);
    }

    [Fact]
    public void CompareVariantsAll_RunsEveryTaskVariant()
    {
        var (code, output, _) = Wbsim("compare", Job(), "--variants", "all", "--output-format", "json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        var designs = doc.RootElement.GetProperty("runs").EnumerateArray().Select(r => r.GetProperty("model").GetProperty("design").GetString()).ToList();
        Assert.Equal(["irq", "task", "task:v4", "task:v5", "task:cpumask"], designs);
    }

    [Fact]
    public void ComparePlainLock_AddsTheMisconfiguredRun_WhoseLockdepReportIsNotAFailure()
    {
        var (code, output, _) = Wbsim("compare", Job(), "--plain-lock", "1", "--output-format", "json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        var plain = doc.RootElement.GetProperty("runs")[1].GetProperty("model");
        Assert.Equal("irq+plain", plain.GetProperty("design").GetString());
        Assert.True(plain.GetProperty("lockdep").GetProperty("reports").GetInt32() > 0);
        Assert.Contains("inconsistent lock state", plain.GetProperty("lockdep").GetProperty("first").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void RunStoppedByLockdep_ExitsOne_AndStillPrints()
    {
        var (code, output, _) = Wbsim("run", Job(), "--plain-lock", "1", "--lockdep", "fail");
        Assert.Equal(1, code);
        Assert.Contains("the machine stopped", output, StringComparison.Ordinal);
    }

    [Fact]
    public void OutputFile_GetsTheReport_AndPlotsAreWritten()
    {
        var report = Path.Combine(_dir, "out.json");
        var plots = Path.Combine(_dir, "plots");
        var (code, output, _) = Wbsim("compare", Job(), "--output-format", "both", "--output", report, "--plot", plots);
        Assert.Equal(0, code);
        var text = File.ReadAllText(report);
        Assert.Contains("Run status group", text, StringComparison.Ordinal);
        Assert.Contains("\"runs\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Run status group", output, StringComparison.Ordinal);
        foreach (var png in new[] { "hold-time.png", "completion-latency.png", "irqsoff.png", "throughput.png" })
        {
            Assert.True(File.Exists(Path.Combine(plots, png)), png);
        }
    }

    [Theory]
    [InlineData("--cpus", "0", "--cpus")]
    [InlineData("--engine", "fast", "--engine")]
    [InlineData("--latency", "soon", "--latency")]
    [InlineData("--memory", "lots", "--memory")]
    public void BadOption_ExitsTwo_NamingIt(string option, string value, string named)
    {
        var (code, output, error) = Wbsim("run", Job(), option, value);
        Assert.Equal(2, code);
        Assert.Contains(named, error, StringComparison.Ordinal);
        Assert.Contains(value, error, StringComparison.Ordinal);
        Assert.Empty(output);
    }

    [Fact]
    public void BadOutputFormat_IsRejectedByTheParser()
    {
        var (code, _, error) = Wbsim("run", Job(), "--output-format", "xml");
        Assert.NotEqual(0, code);
        Assert.Contains("xml", error, StringComparison.Ordinal);
    }

    [Fact]
    public void BadJobFile_ExitsTwo_NamingFileLineAndOption()
    {
        var path = Job("[w]\nrw=write\nsize=1m\nbs=huge\n");
        var (code, _, error) = Wbsim("run", path);
        Assert.Equal(2, code);
        Assert.Contains($"{path}:4: option 'bs'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingJobFile_ExitsTwo()
    {
        var (code, _, error) = Wbsim("run", Path.Combine(_dir, "nope.fio"));
        Assert.Equal(2, code);
        Assert.Contains("cannot read", error, StringComparison.Ordinal);
    }

    [Fact]
    public void OutputInAMissingDirectory_FailsBeforeAnyRun_AndKeepsExistingFiles()
    {
        var (code, _, error) = Wbsim("run", Job(), "--output", Path.Combine(_dir, "no", "such", "out.txt"));
        Assert.Equal(2, code);
        Assert.Contains("--output", error, StringComparison.Ordinal);
        Assert.DoesNotContain("running", error, StringComparison.Ordinal);
    }

    [Fact]
    public void OutputThatCannotBeWrittenAfterTheRuns_GoesToStandardOutput_NotLost()
    {
        // /proc exists but takes no new files: the check before the runs passes, the write fails.
        var (code, output, error) = Wbsim("run", Job(), "--output", "/proc/wbsim-cannot-write.txt");
        Assert.Equal(0, code);
        Assert.Contains("cannot write '/proc/wbsim-cannot-write.txt'", error, StringComparison.Ordinal);
        Assert.Contains("Run status group 0 (all jobs):", output, StringComparison.Ordinal);
    }

    [Fact]
    public void PlotIntoAFile_FailsBeforeAnyRun()
    {
        var file = Path.Combine(_dir, "a-file");
        File.WriteAllText(file, "keep me");
        var (code, _, error) = Wbsim("run", Job(), "--plot", file);
        Assert.Equal(2, code);
        Assert.Contains("--plot", error, StringComparison.Ordinal);
        Assert.Equal("keep me", File.ReadAllText(file));
    }

    [Fact]
    public void Interrupted_ExitsWith130_AndStillReports()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var (code, output, _) = Wbsim(cts.Token, "run", Job());
        Assert.Equal(130, code);
        Assert.Contains("interrupted", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_ListsTheCommandsAndModelOptions()
    {
        var (code, output, _) = Wbsim("run", "--help");
        Assert.Equal(0, code);
        foreach (var name in new[] { "--engine", "--cpus", "--completion", "--variant", "--plain-lock", "--lockdep", "--latency", "--memory", "--output-format", "--plot" })
        {
            Assert.Contains(name, output, StringComparison.Ordinal);
        }
    }
}
