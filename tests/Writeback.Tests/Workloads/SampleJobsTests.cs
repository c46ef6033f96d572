using Writeback.Tests.Infrastructure;
using Writeback.Workloads.Fio;
using Writeback.Workloads.Running;

namespace Writeback.Tests.Workloads;

/// <summary>Every job file in <c>samples/jobs</c> runs, scaled down, under both completion designs
/// and ends clean: no machine failure, no kernel or lockdep report, no job error, every verified
/// block read back intact. The samples are what a newcomer runs first; they must never rot.</summary>
public class SampleJobsTests
{
    /// <summary>The largest file a scaled-down job writes (one block if its block size is larger).</summary>
    private const long MaxFileSize = 256 << 10;

    private const int MaxNrFiles = 8;

    private const int MaxNumJobs = 4;

    private const int MaxCpus = 8;

    /// <summary>The sample files this class runs; <see cref="EverySampleJobFile_IsCovered"/> keeps it complete.</summary>
    private static readonly string[] s_samples =
    [
        "database-randwrite-fsync.fio",
        "direct-write.fio",
        "dontcache-write.fio",
        "fallocate-append.fio",
        "machine-64cpu.fio",
        "seq-buffered-write.fio",
        "small-files-fsync.fio",
    ];

    /// <summary>Every sample file under both completion designs.</summary>
    public static TheoryData<string, string> SamplesAndDesigns()
    {
        var data = new TheoryData<string, string>();
        foreach (var file in s_samples)
        {
            data.Add(file, "irq");
            data.Add(file, "task");
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(SamplesAndDesigns))]
    public void SampleJobFile_ScaledDown_RunsClean_AndVerifies(string file, string completion)
    {
        var jobFile = FioJobFile.LoadFile(SamplePath(file));
        var options = new WbsimOptions().With(jobFile.ModelOptions);
        options = (options with { Cpus = Math.Min(options.Cpus, MaxCpus) }).With("completion", completion);
        var specs = ScaledDown(jobFile, MaxNumJobs);

        var r = WorkloadRunner.Run(specs, options, file);

        AssertClean(r, specs);
    }

    // What the 64-CPU sample is about: completions from many CPUs meeting on the same locks and
    // filling the task design's per-CPU batches. Only the sizes shrink; the CPUs stay.
    [Fact]
    public void Machine64CpuSample_WithAll64Cpus_TaskCompletion_RunsClean_AndVerifies()
    {
        var jobFile = FioJobFile.LoadFile(SamplePath("machine-64cpu.fio"));
        var options = new WbsimOptions().With(jobFile.ModelOptions).With("completion", "task");
        Assert.Equal(64, options.Cpus);
        var specs = ScaledDown(jobFile, maxNumJobs: 8);

        var r = WorkloadRunner.Run(specs, options, "machine-64cpu.fio");

        AssertClean(r, specs);
        Assert.Equal(64, r.Options.Cpus);
        Assert.True(r.Model.DeferralLatency.Count > 0, "task completion deferred no bio");
        Assert.Equal(16, r.Jobs.Sum(j => j.Jobs));
    }

    [Fact]
    public void EverySampleJobFile_IsCovered()
    {
        var onDisk = Directory.GetFiles(SamplePath(""), "*.fio").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.NotEmpty(onDisk);
        var missing = onDisk.Except(s_samples, StringComparer.Ordinal).ToArray();
        Assert.True(missing.Length == 0, $"sample job files not run by {nameof(SampleJobsTests)}: {string.Join(", ", missing)} (add them to s_samples)");
        var gone = s_samples.Except(onDisk, StringComparer.Ordinal).ToArray();
        Assert.True(gone.Length == 0, $"s_samples names files that are not in samples/jobs: {string.Join(", ", gone)}");
    }

    [Fact]
    public void ScaledDown_CapsSizes_AndKeepsBlockSizes()
    {
        var seq = ScaledDown(FioJobFile.LoadFile(SamplePath("seq-buffered-write.fio")), MaxNumJobs);
        var s = Assert.Single(seq);
        Assert.Equal(1 << 20, s.WriteBlockSize);
        Assert.Equal(1 << 20, s.FileSize); // one block: the block is larger than the cap
        Assert.Equal(1 << 20, s.Size);
        Assert.Equal(4, s.NumJobs);

        var small = Assert.Single(ScaledDown(FioJobFile.LoadFile(SamplePath("small-files-fsync.fio")), MaxNumJobs));
        Assert.Equal(8, small.NrFiles);
        Assert.Equal(16 << 10, small.FileSize);
        Assert.Equal(8 * (16 << 10), small.Size);
        Assert.Equal(2, small.NumJobs);

        var big = ScaledDown(FioJobFile.LoadFile(SamplePath("machine-64cpu.fio")), maxNumJobs: 8);
        Assert.All(big, b => Assert.Equal(MaxFileSize, b.FileSize));
        Assert.Equal([8, 8], big.Select(b => b.NumJobs));
    }

    /// <summary>The file's jobs with files of at most 256 KiB (or one block), at most 8 files and
    /// <paramref name="maxNumJobs"/> instances each, and the same block sizes.</summary>
    private static List<JobSpec> ScaledDown(JobFile jobFile, int maxNumJobs) =>
    [
        .. jobFile.Jobs.Select(JobSpec.From).Select(spec =>
        {
            var block = Math.Max(spec.ReadBlockSize, spec.WriteBlockSize);
            var fileSize = Math.Min(spec.FileSize, Math.Max(MaxFileSize, block));
            var nrFiles = Math.Min(spec.NrFiles, MaxNrFiles);
            return spec with
            {
                FileSize = fileSize,
                NrFiles = nrFiles,
                Size = Math.Min(spec.Size, nrFiles * fileSize),
                NumJobs = Math.Min(spec.NumJobs, maxNumJobs),
            };
        }),
    ];

    private static void AssertClean(RunResult r, IReadOnlyList<JobSpec> specs)
    {
        JobRuns.AssertClean(r);
        Assert.Equal(specs.Count, r.Jobs.Select(j => j.Spec).Distinct().Count());
        Assert.All(r.Jobs, j => Assert.True(j.Write.Bytes > 0, $"job {j.Name} wrote nothing"));
        Assert.All(r.Jobs.Where(j => j.Spec.Verify), j => Assert.True(j.VerifyBytes > 0, $"job {j.Name} has verify=crc32c but verified no bytes"));
    }

    /// <summary>A file in <c>samples/jobs</c> (the directory itself for an empty name).</summary>
    private static string SamplePath(string name) => RepoRoot.File("samples", "jobs", name);
}
