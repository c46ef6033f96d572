using Writeback.Block;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Workloads.Fio;
using Writeback.Workloads.Running;

namespace Writeback.Tests.Workloads;

/// <summary>The model's own options: defaults, each option's values and effect, the design name,
/// consistency checks, and the <c>[wbsim]</c> section of a job file.</summary>
public class WbsimOptionsTests
{
    // One valid value (differing from the default) and one invalid value per option of the table.
    private static readonly Dictionary<string, (string Valid, string Invalid)> s_values = new(StringComparer.Ordinal)
    {
        ["engine"] = ("real", "fast"),
        ["seed"] = ("42", "-1"),
        ["cpus"] = ("8", "0"),
        ["completion"] = ("task", "softirq"),
        ["variant"] = ("v5", "v6"),
        ["plain_lock"] = ("1", "yes"),
        ["lockdep"] = ("fail", "warn"),
        ["latency"] = ("sata", "fast"),
        ["latency_outliers"] = ("0.5", "101"),
        ["outlier_time"] = ("10ms", "10q"),
        ["memory"] = ("64m", "512k"),
        ["dirty_ratio"] = ("40", "0"),
        ["dirty_background_ratio"] = ("0", "101"),
        ["dirty_bytes"] = ("32m", "lots"),
        ["dirty_background_bytes"] = ("16m", "-1"),
        ["disk"] = ("file", "ssd"),
        ["disk_file"] = ("/tmp/disk.img", ""),
        ["disk_size"] = ("2g", "8m"),
        ["quantum"] = ("0", "1x"),
    };

    public static TheoryData<string> TableNames => new(WbsimOptions.Table.Select(t => t.Name));

    [Fact]
    public void Defaults_AreTheDocumentedMachine()
    {
        var o = new WbsimOptions();
        Assert.Equal(EngineKind.Deterministic, o.Engine);
        Assert.Equal(1UL, o.Seed);
        Assert.Equal(4, o.Cpus);
        Assert.Equal(CompletionMode.Irq, o.Completion);
        Assert.Equal(TaskCompletionVariant.Merged, o.Variant);
        Assert.False(o.PlainLock);
        Assert.Equal(LockdepMode.Report, o.Lockdep);
        Assert.Equal(new LatencyModel(), o.Latency);
        Assert.Equal("nvme", o.LatencyName);
        Assert.Equal(256L << 20, o.MemoryBytes);
        Assert.Equal(20, o.DirtyRatio);
        Assert.Equal(10, o.DirtyBackgroundRatio);
        Assert.Equal(0, o.DirtyBytes);
        Assert.Equal(0, o.DirtyBackgroundBytes);
        Assert.False(o.FileDisk);
        Assert.Null(o.DiskFile);
        Assert.Equal(0, o.DiskBytes);
        Assert.Equal(2_000, o.QuantumNs);
        Assert.Equal("irq", o.DesignName);
        o.Validate();
    }

    [Fact]
    public void EveryTableEntry_HasTestValues() =>
        Assert.Equal(WbsimOptions.Table.Select(t => t.Name).Order(StringComparer.Ordinal), s_values.Keys.Order(StringComparer.Ordinal));

    [Theory]
    [MemberData(nameof(TableNames))]
    public void EveryTableOption_AcceptsAValidValue(string name)
    {
        var (valid, _) = s_values[name];
        var o = new WbsimOptions().With(name, valid);
        Assert.NotEqual(new WbsimOptions(), o);
    }

    [Theory]
    [MemberData(nameof(TableNames))]
    public void EveryTableOption_RejectsAnInvalidValue_NamingTheOptionAndTheValue(string name)
    {
        var (_, invalid) = s_values[name];
        var ex = Assert.Throws<ArgumentException>(() => new WbsimOptions().With(name, invalid));
        Assert.Contains($"'{invalid}'", ex.Message, StringComparison.Ordinal);
        Assert.Contains(name, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnUnknownName_IsRejected_ListingTheOptions()
    {
        var ex = Assert.Throws<ArgumentException>(() => new WbsimOptions().With("cpu", "8"));
        Assert.Contains("'cpu' is not a wbsim option", ex.Message, StringComparison.Ordinal);
        Assert.Contains("cpus", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Values_AreTrimmed() => Assert.Equal(8, new WbsimOptions().With("cpus", " 8 ").Cpus);

    [Fact]
    public void With_LeavesTheOriginalUnchanged()
    {
        var o = new WbsimOptions();
        _ = o.With("cpus", "8");
        Assert.Equal(4, o.Cpus);
    }

    [Theory]
    [InlineData("sim", EngineKind.Deterministic)]
    [InlineData("real", EngineKind.Real)]
    public void Engine_SelectsTheEngineKind(string value, EngineKind kind) =>
        Assert.Equal(kind, new WbsimOptions { Engine = EngineKind.Real }.With("engine", "real").With("engine", value).Engine);

    [Fact]
    public void Seed_TakesAnyUInt64() => Assert.Equal(ulong.MaxValue, new WbsimOptions().With("seed", "18446744073709551615").Seed);

    [Theory]
    [InlineData("1", 1)]
    [InlineData("16", 16)]
    [InlineData("1024", MachineOptions.MaxCpus)]
    public void Cpus_From1ToMaxCpus_AreAccepted(string value, int cpus) =>
        Assert.Equal(cpus, new WbsimOptions().With("cpus", value).Cpus);

    [Theory]
    [InlineData("0")]
    [InlineData("1025")]
    [InlineData("-1")]
    [InlineData("four")]
    [InlineData("2.5")]
    public void Cpus_OutsideTheBounds_AreRejected(string value)
    {
        var ex = Assert.Throws<ArgumentException>(() => new WbsimOptions().With("cpus", value));
        Assert.Contains($"from 1 to {MachineOptions.MaxCpus}", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("irq", CompletionMode.Irq)]
    [InlineData("task", CompletionMode.Task)]
    public void Completion_SelectsTheMode(string value, CompletionMode mode) =>
        Assert.Equal(mode, new WbsimOptions().With("completion", value).Completion);

    [Theory]
    [InlineData("merged", TaskCompletionVariant.Merged)]
    [InlineData("v4", TaskCompletionVariant.V4)]
    [InlineData("v5", TaskCompletionVariant.V5)]
    [InlineData("cpumask", TaskCompletionVariant.Cpumask)]
    public void Variant_SelectsTheVariant_AndVariantNameRoundTrips(string value, TaskCompletionVariant variant)
    {
        Assert.Equal(variant, new WbsimOptions().With("variant", value).Variant);
        Assert.Equal(value, WbsimOptions.VariantName(variant));
    }

    [Theory]
    [InlineData("0", false)]
    [InlineData("1", true)]
    public void PlainLock_IsABool(string value, bool plain) =>
        Assert.Equal(plain, new WbsimOptions { PlainLock = !plain }.With("plain_lock", value).PlainLock);

    [Theory]
    [InlineData("report", LockdepMode.Report)]
    [InlineData("fail", LockdepMode.Fail)]
    [InlineData("off", LockdepMode.Off)]
    public void Lockdep_SelectsTheMode(string value, LockdepMode mode) =>
        Assert.Equal(mode, new WbsimOptions().With("lockdep", value).Lockdep);

    [Fact]
    public void LatencyPresets_SetTheDeviceModel()
    {
        var nvme = new WbsimOptions().With("latency", "hdd").With("latency", "nvme");
        Assert.Equal(new LatencyModel(), nvme.Latency);
        Assert.Equal("nvme", nvme.LatencyName);

        var sata = new WbsimOptions().With("latency", "sata");
        Assert.Equal(new LatencyModel { FixedNs = 80_000, NsPerByte = 2, JitterNs = 10_000, FlushNs = 1_000_000 }, sata.Latency);
        Assert.Equal("sata", sata.LatencyName);

        var hdd = new WbsimOptions().With("latency", "hdd");
        Assert.Equal(new LatencyModel { FixedNs = 4_000_000, NsPerByte = 5, JitterNs = 4_000_000, FlushNs = 10_000_000 }, hdd.Latency);
        Assert.Equal("hdd", hdd.LatencyName);
        Assert.True(hdd.Latency.FixedNs > sata.Latency.FixedNs && sata.Latency.FixedNs > nvme.Latency.FixedNs);
    }

    [Theory]
    [InlineData("50us", 50_000L)]
    [InlineData("50", 50_000L)]
    [InlineData("2ms", 2_000_000L)]
    [InlineData("0", 0L)]
    public void LatencyTime_IsAConstantModel_InMicrosecondsWithoutAUnit(string value, long ns)
    {
        var o = new WbsimOptions().With("latency", value);
        Assert.Equal(LatencyModel.Constant(ns), o.Latency);
        Assert.Equal(value, o.LatencyName);
    }

    [Fact]
    public void LatencyOutliers_IsAPercentage_StoredAsAProbability()
    {
        Assert.Equal(0.025, new WbsimOptions().With("latency_outliers", "2.5").Latency.OutlierProbability, 12);
        Assert.Equal(1.0, new WbsimOptions().With("latency_outliers", "100").Latency.OutlierProbability, 12);
        Assert.Equal(0.0, new WbsimOptions().With("latency_outliers", "0").Latency.OutlierProbability, 12);
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("100.5")]
    [InlineData("NaN")]
    [InlineData("lots")]
    public void LatencyOutliers_OutsideZeroToHundred_AreRejected(string value) =>
        Assert.Throws<ArgumentException>(() => new WbsimOptions().With("latency_outliers", value));

    [Theory]
    [InlineData("nvme")]
    [InlineData("sata")]
    [InlineData("hdd")]
    [InlineData("50us")]
    public void OutlierSettings_AreKept_WhenTheLatencyChangesAfterwards(string latency)
    {
        var o = new WbsimOptions().With("latency_outliers", "2.5").With("outlier_time", "10ms").With("latency", latency);
        Assert.Equal(0.025, o.Latency.OutlierProbability, 12);
        Assert.Equal(10_000_000, o.Latency.OutlierNs);
        Assert.Equal(latency, o.LatencyName);
    }

    [Theory]
    [InlineData("10ms", 10_000_000L)]
    [InlineData("250", 250_000L)]
    [InlineData("1s", 1_000_000_000L)]
    public void OutlierTime_IsATime_InMicrosecondsWithoutAUnit(string value, long ns) =>
        Assert.Equal(ns, new WbsimOptions().With("outlier_time", value).Latency.OutlierNs);

    [Fact]
    public void AnOverflowingTime_IsRejected() =>
        Assert.Throws<ArgumentException>(() => new WbsimOptions().With("quantum", "9999999999d"));

    [Theory]
    [InlineData("64m", 64L << 20)]
    [InlineData("1m", 1L << 20)]
    [InlineData("2g", 2L << 30)]
    public void Memory_IsASizeOfAtLeast1MiB(string value, long bytes) =>
        Assert.Equal(bytes, new WbsimOptions().With("memory", value).MemoryBytes);

    [Fact]
    public void Memory_Below1MiB_IsRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new WbsimOptions().With("memory", "1023k"));
        Assert.Contains("at least 1 MiB", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DirtyOptions_SetTheVmKnobs()
    {
        var o = new WbsimOptions()
            .With("dirty_ratio", "40")
            .With("dirty_background_ratio", "5")
            .With("dirty_bytes", "32m")
            .With("dirty_background_bytes", "8m");
        Assert.Equal(40, o.DirtyRatio);
        Assert.Equal(5, o.DirtyBackgroundRatio);
        Assert.Equal(32L << 20, o.DirtyBytes);
        Assert.Equal(8L << 20, o.DirtyBackgroundBytes);
    }

    [Theory]
    [InlineData("dirty_ratio", "1", true)]
    [InlineData("dirty_ratio", "100", true)]
    [InlineData("dirty_ratio", "0", false)]
    [InlineData("dirty_ratio", "101", false)]
    [InlineData("dirty_background_ratio", "0", true)]
    [InlineData("dirty_background_ratio", "100", true)]
    [InlineData("dirty_background_ratio", "101", false)]
    [InlineData("dirty_background_ratio", "-1", false)]
    [InlineData("dirty_bytes", "0", true)]
    [InlineData("dirty_background_bytes", "0", true)]
    public void DirtyRatios_HaveTheirBounds(string name, string value, bool accepted)
    {
        if (accepted)
        {
            _ = new WbsimOptions().With(name, value);
        }
        else
        {
            Assert.Throws<ArgumentException>(() => new WbsimOptions().With(name, value));
        }
    }

    [Fact]
    public void Disk_SelectsRamOrFile_AndDiskFileNamesTheImage()
    {
        var o = new WbsimOptions().With("disk", "file").With("disk_file", "/tmp/x.img");
        Assert.True(o.FileDisk);
        Assert.Equal("/tmp/x.img", o.DiskFile);
        o.Validate();
        Assert.False(o.With("disk", "mem").FileDisk);
    }

    [Theory]
    [InlineData("16m", 16L << 20)]
    [InlineData("4g", 4L << 30)]
    public void DiskSize_IsASizeOfAtLeast16MiB(string value, long bytes) =>
        Assert.Equal(bytes, new WbsimOptions().With("disk_size", value).DiskBytes);

    [Fact]
    public void DiskSize_Below16MiB_IsRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new WbsimOptions().With("disk_size", "15m"));
        Assert.Contains("at least 16 MiB", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0", 0L)]
    [InlineData("5us", 5_000L)]
    [InlineData("3", 3_000L)]
    [InlineData("1ms", 1_000_000L)]
    public void Quantum_IsATime_InMicrosecondsWithoutAUnit(string value, long ns) =>
        Assert.Equal(ns, new WbsimOptions().With("quantum", value).QuantumNs);

    [Theory]
    [InlineData("irq", "0", "merged", "irq")]
    [InlineData("irq", "1", "merged", "irq+plain")]
    [InlineData("irq", "0", "v4", "irq")]
    [InlineData("task", "0", "merged", "task")]
    [InlineData("task", "0", "v4", "task:v4")]
    [InlineData("task", "0", "v5", "task:v5")]
    [InlineData("task", "0", "cpumask", "task:cpumask")]
    public void DesignName_NamesCompletionLockAndVariant(string completion, string plainLock, string variant, string design) =>
        Assert.Equal(design, new WbsimOptions().With("completion", completion).With("plain_lock", plainLock).With("variant", variant).DesignName);

    [Fact]
    public void Validate_DiskFileWithoutAPath_IsAnError()
    {
        var ex = Assert.Throws<ArgumentException>(() => new WbsimOptions().With("disk", "file").Validate());
        Assert.Contains("disk_file", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_PlainLockWithTaskCompletion_IsAnError()
    {
        var ex = Assert.Throws<ArgumentException>(() => new WbsimOptions().With("plain_lock", "1").With("completion", "task").Validate());
        Assert.Contains("plain_lock", ex.Message, StringComparison.Ordinal);
        new WbsimOptions().With("plain_lock", "1").Validate();
    }

    [Fact]
    public void WbsimSection_IsReadFromTheJobFile_InOrder_AndALaterValueWins()
    {
        var file = FioJobFile.ParseFile("""
            [wbsim]
            cpus=8
            latency=sata
            plain_lock

            [global]
            size=1m

            [w]
            rw=write

            [wbsim]
            cpus=16
            """, "t.fio");
        Assert.Equal("t.fio", file.Path);
        Assert.Equal(
            [("cpus", "8", 2), ("latency", "sata", 3), ("plain_lock", "1", 4), ("cpus", "16", 13)],
            file.ModelOptions.Select(o => (o.Name, o.Value, o.Line)).ToArray());
        Assert.All(file.ModelOptions, o => Assert.Equal("t.fio", o.File));

        var o = new WbsimOptions().With(file.ModelOptions);
        Assert.Equal(16, o.Cpus);
        Assert.Equal("sata", o.LatencyName);
        Assert.True(o.PlainLock);
        Assert.Equal(2, o.With("cpus", "2").Cpus);
    }

    [Fact]
    public void WbsimSection_ExpandsEnvironmentVariables()
    {
        var file = FioJobFile.ParseFile("[wbsim]\ncpus=${CPUS}\n[w]\nsize=1m\n", "t.fio", name => name == "CPUS" ? "12" : null);
        Assert.Equal(12, new WbsimOptions().With(file.ModelOptions).Cpus);
    }

    [Fact]
    public void AJobFileWithoutWbsim_HasNoModelOptions() =>
        Assert.Empty(FioJobFile.ParseFile("[w]\nsize=1m\n", "t.fio").ModelOptions);

    [Theory]
    [InlineData("[wbsim]\ncpu=8\n[w]\nsize=1m\n", 2, "cpu")]
    [InlineData("[w]\nsize=1m\n\n[wbsim]\nseed=1\nsize=2m\n", 6, "size")]
    public void AnUnknownWbsimName_FailsAtParseTime_WithFileAndLine(string text, int line, string option)
    {
        var ex = Assert.Throws<JobFileException>(() => FioJobFile.ParseFile(text, "t.fio"));
        JobFileErrors.AssertNames(ex, "t.fio", line, option, "not a [wbsim] option");
    }

    [Fact]
    public void AWbsimOption_InAJobSection_IsNotAFioOption()
    {
        var ex = Assert.Throws<JobFileException>(() => FioJobFile.ParseFile("[w]\nsize=1m\ncpus=8\n", "t.fio"));
        Assert.Equal(3, ex.Line);
        Assert.Equal("cpus", ex.Option);
    }

    [Theory]
    [InlineData("cpus", "0")]
    [InlineData("latency", "fast")]
    [InlineData("memory", "1k")]
    [InlineData("engine", "virtual")]
    public void ABadWbsimValue_FailsWhenApplied_NamingFileLineAndOption(string name, string value)
    {
        var file = FioJobFile.ParseFile($"[w]\nsize=1m\n\n[wbsim]\nseed=7\n{name}={value}\n", "t.fio");
        var ex = Assert.Throws<JobFileException>(() => new WbsimOptions().With(file.ModelOptions));
        JobFileErrors.AssertNames(ex, "t.fio", 6, name, $"'{value}' is not valid for {name}");
        Assert.DoesNotContain("(Parameter", ex.Message, StringComparison.Ordinal);
        Assert.StartsWith($"t.fio:6: option '{name}': ", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnUnknownName_PassedDirectlyAsAnOptionValue_IsAJobFileErrorWithoutTheParameterSuffix()
    {
        var ex = Assert.Throws<JobFileException>(() => new WbsimOptions().With([new FioOptionValue("bogus", "1", "x.fio", 9)]));
        Assert.Equal("x.fio", ex.File);
        Assert.Equal(9, ex.Line);
        Assert.Equal("bogus", ex.Option);
        Assert.DoesNotContain("(Parameter", ex.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void WbsimSection_IsNotAJob_AndLeaksNoOptionsIntoLaterJobs()
    {
        var file = FioJobFile.ParseFile("""
            [global]
            bs=8k

            [a]
            size=1m
            rw=write

            [wbsim]
            seed=3

            [b]
            size=2m

            [wbsim]
            cpus=2

            [global]
            iodepth=4

            [c]
            size=4m
            """, "t.fio");
        Assert.Equal(["a", "b", "c"], file.Jobs.Select(j => j.Name).ToArray());
        Assert.Equal(["bs", "rw", "size"], file.Jobs[0].Options.Keys.Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(["bs", "size"], file.Jobs[1].Options.Keys.Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(["bs", "iodepth", "size"], file.Jobs[2].Options.Keys.Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(11, file.Jobs[1].Line);
        Assert.Equal(["seed", "cpus"], file.ModelOptions.Select(o => o.Name).ToArray());
    }

    [Fact]
    public void AJobFileWithOnlyWbsimAndGlobal_HasNoJob_AndIsAnError()
    {
        var ex = Assert.Throws<JobFileException>(() => FioJobFile.ParseFile("[wbsim]\ncpus=8\n[global]\nsize=1m\n", "t.fio"));
        JobFileErrors.AssertNames(ex, "t.fio", 0, null, "no job section");
    }
}
