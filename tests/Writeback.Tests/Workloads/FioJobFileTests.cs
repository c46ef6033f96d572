using Writeback.Workloads.Fio;

namespace Writeback.Tests.Workloads;

/// <summary>Reading fio job files: sections, [global] inheritance, comments, include, ${ENV},
/// fio's size units under both kb_base settings, and errors that name file, line and option.</summary>
public class FioJobFileTests
{
    private static readonly Dictionary<string, string> s_env = new(StringComparer.Ordinal) { ["BS"] = "16k", ["DIR"] = "/data" };

    [Fact]
    public void GlobalOptions_AreInheritedByLaterJobs_AndJobsOverrideThem()
    {
        var jobs = Parse("""
            ; a comment
            # another
            [global]
            ioengine=psync
            bs=4k
            direct=1
            time_based

            [seq-write]
            rw=write
            bs=${BS}

            [global]
            iodepth=8

            [rand]
            rw=randwrite
            name=random-writer
            """);
        Assert.Equal(2, jobs.Count);
        Assert.Equal("seq-write", jobs[0].Name);
        Assert.Equal("16k", jobs[0].Get("bs"));
        Assert.Equal(16 * 1024, jobs[0].GetSize("bs", 0));
        Assert.Equal("psync", jobs[0].Get("ioengine"));
        Assert.True(jobs[0].GetBool("time_based", false));
        Assert.Null(jobs[0].Get("iodepth"));
        Assert.Equal("random-writer", jobs[1].Name);
        Assert.Equal(8, jobs[1].GetNumber("iodepth", 1));
        Assert.Equal(4096, jobs[1].GetSize("bs", 0));
        Assert.Equal(11, jobs[0].Options["bs"].Line);
    }

    [Theory]
    [InlineData("512", 1024, 512L)]
    [InlineData("4k", 1024, 4096L)]
    [InlineData("4K", 1024, 4096L)]
    [InlineData("4kB", 1024, 4096L)]
    [InlineData("4KiB", 1024, 4000L)]
    [InlineData("1m", 1024, 1L << 20)]
    [InlineData("2g", 1024, 2L << 30)]
    [InlineData("1t", 1024, 1L << 40)]
    [InlineData("4k", 1000, 4000L)]
    [InlineData("4kB", 1000, 4000L)]
    [InlineData("4KiB", 1000, 4096L)]
    [InlineData("1MiB", 1000, 1L << 20)]
    [InlineData("64b", 1024, 64L)]
    public void Sizes_FollowFiosUnitRules(string value, int kbBase, long expected)
    {
        Assert.True(FioJobFile.TryParseSize(value, kbBase, out var bytes), value);
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData("4x")]
    [InlineData("k")]
    [InlineData("-4k")]
    [InlineData("4.5k")]
    [InlineData("99999999999999p")]
    public void NonSizes_AreRejected(string value) => Assert.False(FioJobFile.TryParseSize(value, 1024, out _), value);

    [Fact]
    public void KbBase_AppliesToTheJobsSizes()
    {
        var jobs = Parse("[a]\nkb_base=1000\nsize=1m\n[b]\nsize=1m\n");
        Assert.Equal(1_000_000, jobs[0].GetSize("size", 0));
        Assert.Equal(1L << 20, jobs[1].GetSize("size", 0));
    }

    [Fact]
    public void Include_ReadsTheFileInPlace_RelativeToTheIncludingFile()
    {
        var files = new Dictionary<string, string>(StringComparer.Ordinal) { [Path.Combine("/jobs", "common.fio")] = "[global]\nsize=8m\n" };
        var jobs = FioJobFile.Parse("include common.fio\n[w]\nrw=write\n", "/jobs/main.fio", s_env.GetValueOrDefault, p => files[p]);
        Assert.Equal(8L << 20, Assert.Single(jobs).GetSize("size", 0));
    }

    [Theory]
    [InlineData("[w]\nrw=write\nbogus=1\n", 3, "bogus", "not an option")]
    [InlineData("[w]\nrw=sideways\n", 2, "rw", "'sideways' is not one of")]
    [InlineData("[w]\nbs=4q\n", 2, "bs", "not a block size")]
    [InlineData("[w]\nsize=lots\n", 2, "size", "not a size")]
    [InlineData("[w]\nnumjobs=0\n", 2, "numjobs", "not a whole number from 1")]
    [InlineData("[w]\nrwmixread=101\n", 2, "rwmixread", "percentage")]
    [InlineData("[w]\nruntime=10q\n", 2, "runtime", "not a time")]
    [InlineData("[w]\ndirect=yes\n", 2, "direct", "not 0 or 1")]
    [InlineData("[w]\npercentile_list=50:120\n", 2, "percentile_list", "percentiles")]
    [InlineData("[w]\nfilename=${NOPE}\n", 2, null, "${NOPE} is not set")]
    [InlineData("[w\nrw=write\n", 1, null, "bad section header")]
    [InlineData("[w]\n[w]\n", 2, null, "defined twice")]
    [InlineData("[global]\nrw=write\n", 0, null, "no job section")]
    public void BadInput_NamesTheFileLineAndOption(string text, int line, string? option, string problem)
    {
        var ex = Assert.Throws<JobFileException>(() => Parse(text));
        JobFileErrors.AssertNames(ex, "job.fio", line, option, problem);
        Assert.StartsWith($"job.fio:{line}: ", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BlockSizes_MayNameReadAndWriteSeparately_AndTimesTakeUnits()
    {
        var job = Assert.Single(Parse("[w]\nbs=4k,64k\nruntime=2m\nthinktime=50\nramp_time=500ms\n"));
        Assert.Equal("4k,64k", job.Get("bs"));
        Assert.True(FioOptionKind.TryParseTime(job.Get("runtime")!, 1_000_000, out var runtime));
        Assert.Equal(120_000_000, runtime);
        Assert.True(FioOptionKind.TryParseTime(job.Get("thinktime")!, 1, out var think));
        Assert.Equal(50, think);
        Assert.True(FioOptionKind.TryParseTime(job.Get("ramp_time")!, 1_000_000, out var ramp));
        Assert.Equal(500_000, ramp);
    }

    [Fact]
    public void AnIncludeLoop_IsAClearError()
    {
        var ex = Assert.Throws<JobFileException>(() => FioJobFile.Parse("include job.fio\n[w]\n", "job.fio", s_env.GetValueOrDefault, _ => "include job.fio\n"));
        Assert.Contains("include", ex.Message, StringComparison.Ordinal);
    }

    private static IReadOnlyList<FioJob> Parse(string text) => FioJobFile.Parse(text, "job.fio", s_env.GetValueOrDefault, _ => throw new FileNotFoundException());
}
