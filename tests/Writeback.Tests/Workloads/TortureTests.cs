using Writeback.Block;
using Writeback.Mm;
using Writeback.Workloads.Torture;

namespace Writeback.Tests.Workloads;

/// <summary>The torture oracle as a library: bounded runs of the full mix (appends, rename and
/// unlink with orphans held open) are clean in both modes and every variant; a violation says what,
/// the seed, the last operations and the replay command; the replay command reruns the same run;
/// and a deliberately broken model is caught — the oracle can fail.</summary>
public class TortureTests
{
    public static TheoryData<CompletionMode, TaskCompletionVariant, ulong> BoundedRuns
    {
        get
        {
            var data = new TheoryData<CompletionMode, TaskCompletionVariant, ulong>();
            for (var seed = 1UL; seed <= 4; seed++)
            {
                data.Add(CompletionMode.Irq, TaskCompletionVariant.Merged, seed);
                data.Add(CompletionMode.Task, TaskCompletionVariant.Merged, seed);
            }

            // Every other variant on a seed of each setting (4096/512-byte blocks, injection, dirty limits).
            foreach (var variant in new[] { TaskCompletionVariant.V4, TaskCompletionVariant.V5, TaskCompletionVariant.Cpumask })
            {
                data.Add(CompletionMode.Task, variant, 5);
                data.Add(CompletionMode.Task, variant, 6);
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(BoundedRuns))]
    public void FullMix_IsCleanInBothModesAndEveryVariant(CompletionMode mode, TaskCompletionVariant variant, ulong seed)
    {
        var run = new OracleRun(new TortureOptions { Completion = mode, Variant = variant }, seed);
        var result = run.Execute();

        Assert.True(result.IsClean, result.Violation?.Text);
        Assert.Equal(result.PlannedOperations, result.Operations);
        Assert.InRange(result.PlannedOperations, 200, 400);
        Assert.True(result.BytesChecked > 0);
        Assert.Equal(seed, result.Seed);
        Assert.Equal(mode, result.Completion);
        Assert.Equal(variant, result.Variant);
        if (mode == CompletionMode.Task)
        {
            Assert.Equal(0, result.ConvWorkqueueItems);
            Assert.Equal(0, result.DioWorkqueueItems);
        }
    }

    [Fact]
    public void FullMix_RenamesAndUnlinksFiles_AndWorksOnOrphansHeldOpen()
    {
        var run = new OracleRun(new TortureOptions(), 1);
        Assert.True(run.Execute().IsClean);

        Assert.Contains(run.Log, l => l.Contains(" rename /fsx", StringComparison.Ordinal) && l.Contains("replacing", StringComparison.Ordinal));
        Assert.Contains(run.Log, l => l.Contains(" unlink /fsx", StringComparison.Ordinal) && l.Contains("held open", StringComparison.Ordinal));
        Assert.Contains(run.Log, l => l.Contains(" append /fsx", StringComparison.Ordinal));
        Assert.Contains(run.Log, l => l.Contains("(unlinked #", StringComparison.Ordinal) && l.Contains(" read ", StringComparison.Ordinal));
        Assert.Contains(run.Log, l => l.Contains("no such file: ENOENT", StringComparison.Ordinal));
    }

    [Fact]
    public void ClassicMix_DrawsNoNamespaceOperations()
    {
        var run = new OracleRun(new TortureOptions { Mix = OracleMix.Classic }, 1);
        Assert.True(run.Execute().IsClean);

        Assert.DoesNotContain(run.Log, l => l.Contains("rename", StringComparison.Ordinal) || l.Contains("unlink", StringComparison.Ordinal) || l.Contains("append", StringComparison.Ordinal));
    }

    [Fact]
    public void Violation_CarriesWhatTheSeedTheLastOperationsAndTheReplayCommand()
    {
        var run = new OracleRun(new TortureOptions { Completion = CompletionMode.Task, Variant = TaskCompletionVariant.V5 }, 4) { AfterModelWrite = CorruptFirstByte };
        var result = run.Execute();

        var v = Assert.IsType<TortureViolation>(result.Violation);
        Assert.False(result.IsClean);
        Assert.Contains("differs from the model", v.What, StringComparison.Ordinal);
        Assert.Equal(4UL, v.Seed);
        Assert.Equal(CompletionMode.Task, v.Completion);
        Assert.Equal(TaskCompletionVariant.V5, v.Variant);
        Assert.Equal(result.Operations, v.Operation);
        Assert.True(v.Operation < v.PlannedOperations);
        Assert.Equal($"wbsim torture --seed 4 --completion task --variant v5 --ops {v.PlannedOperations}", v.ReplayCommand);
        Assert.Equal(result.ReplayCommand, v.ReplayCommand);
        Assert.InRange(v.LastOperations.Count, 1, 30);
        Assert.Equal(run.Log.TakeLast(v.LastOperations.Count), v.LastOperations);
        Assert.StartsWith($"#{v.Operation} ", v.LastOperations[^1], StringComparison.Ordinal);
        Assert.Contains("block size 4096, irq injection 0, tight dirty limits yes, mix full, 2 CPUs", v.Settings, StringComparison.Ordinal);

        var text = v.Text;
        Assert.Contains("torture violation: " + v.What, text, StringComparison.Ordinal);
        Assert.Contains($"seed 4, completion task, variant v5, {v.Settings}; at operation #{v.Operation} of {v.PlannedOperations}", text, StringComparison.Ordinal);
        Assert.Contains("  replay: " + v.ReplayCommand + "\n", text, StringComparison.Ordinal);
        Assert.Contains("    " + v.LastOperations[0] + "\n", text, StringComparison.Ordinal);
        Assert.Equal(text, v.ToString());
    }

    [Fact]
    public void ReplayCommand_RerunsTheSameRun()
    {
        var first = new OracleRun(new TortureOptions { Completion = CompletionMode.Irq }, 3);
        var result = first.Execute();
        Assert.True(result.IsClean, result.Violation?.Text);

        var again = new OracleRun(OptionsFrom(result.ReplayCommand, out var seed), seed);
        var replayed = again.Execute();

        Assert.Equal(3UL, seed);
        Assert.Equal(result.Operations, replayed.Operations);
        Assert.Equal(result.BytesChecked, replayed.BytesChecked);
        Assert.Equal(result.BufferedBytesWritten, replayed.BufferedBytesWritten);
        Assert.Equal(result.ConvWorkqueueItems, replayed.ConvWorkqueueItems);
        Assert.Equal(first.Log, again.Log);
    }

    [Fact]
    public void ReplayCommand_OfAViolation_FindsTheSameViolationAtTheSameOperation()
    {
        var result = new OracleRun(new TortureOptions { Completion = CompletionMode.Task }, 2) { AfterModelWrite = CorruptFirstByte }.Execute();
        var v = Assert.IsType<TortureViolation>(result.Violation);

        var replayed = new OracleRun(OptionsFrom(v.ReplayCommand, out var seed), seed) { AfterModelWrite = CorruptFirstByte }.Execute();

        var again = Assert.IsType<TortureViolation>(replayed.Violation);
        Assert.Equal(v.What, again.What);
        Assert.Equal(v.Operation, again.Operation);
        Assert.Equal(v.LastOperations, again.LastOperations);
        Assert.Equal(result.BytesChecked, replayed.BytesChecked);
    }

    // Each key model update, skipped as a model that forgot it would: the oracle must notice.
    [Theory]
    [InlineData("write", OracleMix.Full, "the model has")]
    [InlineData("truncate", OracleMix.Full, "the model has")]
    [InlineData("fallocate", OracleMix.Full, "the model has")]
    [InlineData("punch hole", OracleMix.Classic, "differs from the model")]
    [InlineData("rename", OracleMix.Full, "the root directory holds")]
    [InlineData("unlink", OracleMix.Full, "the root directory holds")]
    [InlineData("link", OracleMix.Full, "the root directory holds")]
    public void ABrokenModel_IsCaught(string update, OracleMix mix, string expected)
    {
        // The first of a few seeds that does the operation at all (seed 1 does most of them).
        var result = Enumerable.Range(1, 3)
            .Select(seed => new OracleRun(new TortureOptions { Mix = mix }, (ulong)seed) { SkipModelUpdate = u => u == update }.Execute())
            .FirstOrDefault(r => !r.IsClean);

        var v = Assert.IsType<TortureViolation>(result?.Violation);
        Assert.Contains(expected, v.What, StringComparison.Ordinal);
    }

    [Fact]
    public void ACorruptedModel_IsCaughtByTheNextReadOfThatByte()
    {
        var result = new OracleRun(new TortureOptions { Mix = OracleMix.Classic }, 1) { AfterModelWrite = CorruptFirstByte }.Execute();

        var v = Assert.IsType<TortureViolation>(result.Violation);
        Assert.Matches(@"^/fsx\d: read \[\d+, \d+\) differs from the model at file offsets", v.What);
        Assert.Contains("expected 0x", v.What, StringComparison.Ordinal);
    }

    [Fact]
    public void GivenOperations_AreTheCountRun_AndTheSameSeedDrawsTheSameSequence()
    {
        var shortRun = new OracleRun(new TortureOptions { Operations = 25 }, 7);
        var result = shortRun.Execute();
        Assert.True(result.IsClean, result.Violation?.Text);
        Assert.Equal(25, result.Operations);
        Assert.Equal(25, result.PlannedOperations);
        Assert.EndsWith("--ops 25", result.ReplayCommand, StringComparison.Ordinal);

        // The count is drawn either way, so a given count is a prefix of the drawn run's sequence.
        var longRun = new OracleRun(new TortureOptions { Operations = 40 }, 7);
        Assert.True(longRun.Execute().IsClean);
        var prefix = shortRun.Log.TakeWhile(l => !l.StartsWith("#25 ", StringComparison.Ordinal)).ToList();
        Assert.Equal(prefix, longRun.Log.Take(prefix.Count));
    }

    [Fact]
    public void AMachineFailure_IsAViolation_NamingTheFailure()
    {
        var result = new OracleRun(new TortureOptions(), 1) { AfterModelWrite = (_, _, _) => throw new InvalidOperationException("boom in the model") }.Execute();

        var v = Assert.IsType<TortureViolation>(result.Violation);
        Assert.StartsWith("the machine failed: ", v.What, StringComparison.Ordinal);
        Assert.Contains("boom in the model", v.What, StringComparison.Ordinal);
        Assert.Contains("seed 1", v.What, StringComparison.Ordinal);
        Assert.Contains("InvalidOperationException", v.Detail, StringComparison.Ordinal);
        Assert.Contains("  detail:\n", v.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void AHungRun_IsAViolation_AtTheHostTimeLimit()
    {
        // Every write then takes 200 ms of host time, so the run outlasts the limit however late
        // a loaded host fires the watchdog's timer (a plain 400-operation run once beat it).
        var result = new OracleRun(new TortureOptions { HostTimeout = TimeSpan.FromMilliseconds(1), Operations = 400 }, 1)
        {
            AfterModelWrite = (_, _, _) => System.Threading.Thread.Sleep(200),
        }.Execute();

        var v = Assert.IsType<TortureViolation>(result.Violation);
        Assert.Contains("did not finish within", v.What, StringComparison.Ordinal);
        Assert.Contains("it hangs", v.What, StringComparison.Ordinal);
    }

    [Fact]
    public void LibraryOnlySettings_FollowTheReplayCommandAsAShellComment()
    {
        var options = new TortureOptions { Completion = CompletionMode.Task, Variant = TaskCompletionVariant.Cpumask, BlockSize = 1024, Mix = OracleMix.Classic, Cpus = 3 };

        var command = OracleRun.ReplayCommandFor(9, options, 300);

        Assert.Equal(
            "wbsim torture --seed 9 --completion task --variant cpumask --ops 300 --mix classic --cpus 3"
            + "  # and TortureOptions { BlockSize = 1024, IrqInjection = 0.02, TightDirtyLimits = false }, which the command line does not set",
            command);
    }

    [Fact]
    public void SeedDerivedSettings_AreTheFsxOnes_UnlessOverridden()
    {
        var o = new TortureOptions();
        Assert.Equal(new[] { 4096, 512, 4096, 4096, 512, 4096 }, Enumerable.Range(1, 6).Select(s => o.BlockSizeFor((ulong)s)));
        Assert.Equal(new[] { 0, 0, 0.02, 0, 0, 0.02 }, Enumerable.Range(1, 6).Select(s => o.IrqInjectionFor((ulong)s)));
        Assert.Equal(new[] { false, true, false, true }, Enumerable.Range(1, 4).Select(s => o.TightDirtyLimitsFor((ulong)s)));
        Assert.False(o.HasLibraryOnlySettings);

        var set = o with { BlockSize = 2048, IrqInjection = 0.5, TightDirtyLimits = false };
        Assert.Equal(2048, set.BlockSizeFor(2));
        Assert.Equal(0.5, set.IrqInjectionFor(1));
        Assert.False(set.TightDirtyLimitsFor(2));
        Assert.True(set.HasLibraryOnlySettings);
    }

    [Theory]
    [InlineData("Operations")]
    [InlineData("BlockSize")]
    [InlineData("IrqInjection")]
    [InlineData("Cpus")]
    [InlineData("LogTail")]
    [InlineData("HostTimeout")]
    public void BadOptions_AreRejected_NamingTheSetting(string setting)
    {
        var options = setting switch
        {
            "Operations" => new TortureOptions { Operations = 0 },
            "BlockSize" => new TortureOptions { BlockSize = 8192 },
            "IrqInjection" => new TortureOptions { IrqInjection = 1.5 },
            "Cpus" => new TortureOptions { Cpus = 0 },
            "LogTail" => new TortureOptions { LogTail = 0 },
            _ => new TortureOptions { HostTimeout = TimeSpan.Zero },
        };

        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new OracleRun(options, 1));
        Assert.Equal(setting, ex.ParamName);
        Assert.Contains(setting, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ARun_ExecutesOnce()
    {
        var run = new OracleRun(new TortureOptions { Operations = 1 }, 1);
        Assert.True(run.Execute().IsClean);
        Assert.Throws<InvalidOperationException>(() => run.Execute());
    }

    [Fact]
    public void Model_RenameAndUnlink_FollowTheInode_AndKeepOrphansWhileHeld()
    {
        var model = new OracleModel();
        var a = model.At(0);
        a.Exists = true;
        a.Write(0, [1, 2, 3]);
        var b = model.At(1);
        b.Exists = true;

        Assert.Null(model.Rename(0, 0));
        Assert.Same(b, model.Rename(0, 1));
        Assert.Same(a, model.At(1));
        Assert.Equal("/fsx1", a.Path);
        Assert.False(model.At(0).Exists);
        Assert.False(b.Exists);
        Assert.Empty(model.Orphans);
        Assert.Equal([1, 2, 3], a.Contents.ToArray());

        Assert.Null(model.Rename(0, 2));
        Assert.Equal(new[] { a }, model.Live);
    }

    [Fact]
    public void Model_Link_GivesTheFileAnotherName_AndItLivesUntilItsLastNameGoes()
    {
        var model = new OracleModel();
        var a = model.At(0);
        a.Exists = true;
        a.Write(0, [7]);

        model.Link(0, 1);
        Assert.Same(a, model.At(1));
        Assert.Equal(["/fsx0", "/fsx1"], a.Names);
        Assert.Equal(new[] { a }, model.Live);

        // Two links to one file: rename between them changes nothing.
        Assert.Null(model.Rename(0, 1));
        Assert.Same(a, model.At(0));
        Assert.Same(a, model.At(1));

        model.Unlink(0);
        Assert.True(a.Exists);
        Assert.Equal(["/fsx1"], a.Names);
        Assert.Equal("/fsx1", a.Path);
        Assert.False(model.At(0).Exists);

        // Renamed over while it has one name left: gone.
        var b = model.At(2);
        b.Exists = true;
        Assert.Same(a, model.Rename(2, 1));
        Assert.False(a.Exists);
        Assert.Equal(new[] { b }, model.Live);
    }

    [Fact]
    public void FullMix_LinksFiles_AndFilesWithTwoNamesOutliveAnUnlink()
    {
        var log = new List<string>();
        for (var seed = 1UL; seed <= 3; seed++)
        {
            var run = new OracleRun(new TortureOptions(), seed);
            Assert.True(run.Execute().IsClean);
            log.AddRange(run.Log);
        }

        Assert.Contains(log, l => l.Contains(" link /fsx", StringComparison.Ordinal) && l.Contains("gets name 2", StringComparison.Ordinal));
        Assert.Contains(log, l => l.Contains("EEXIST", StringComparison.Ordinal));
        Assert.Contains(log, l => l.Contains("keeps another name", StringComparison.Ordinal));
    }

    // Flips the first byte the model just took, so that the model no longer matches the file.
    private static void CorruptFirstByte(OracleFile file, long pos, int length) => file.Data[pos] ^= 0xff;

    // Parses "wbsim torture --seed S --completion C --variant V --ops N" into options.
    private static TortureOptions OptionsFrom(string command, out ulong seed)
    {
        var args = command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["wbsim", "torture"], args[..2]);
        string Value(string name) => args[Array.IndexOf(args, name) + 1];
        seed = ulong.Parse(Value("--seed"), System.Globalization.CultureInfo.InvariantCulture);
        return new TortureOptions
        {
            Completion = Enum.Parse<CompletionMode>(Value("--completion"), ignoreCase: true),
            Variant = Enum.Parse<TaskCompletionVariant>(Value("--variant"), ignoreCase: true),
            Operations = int.Parse(Value("--ops"), System.Globalization.CultureInfo.InvariantCulture),
        };
    }
}
