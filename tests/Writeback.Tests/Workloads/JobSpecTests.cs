using Writeback.Workloads.Fio;
using Writeback.Workloads.Running;

namespace Writeback.Tests.Workloads;

/// <summary>Resolving a fio job into a <see cref="JobSpec"/>: fio's defaults, each option's effect,
/// and the combinations that are rejected with file, line and option.</summary>
public class JobSpecTests
{
    // fio's default percentile_list (fio's HOWTO, "percentile_list").
    private static readonly double[] s_fioPercentiles = [1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99];

    [Fact]
    public void AJobWithOnlyASize_GetsFiosDefaults()
    {
        var spec = Spec("[job]\nsize=1m\n");
        Assert.Equal("job", spec.Name);
        Assert.Equal("t.fio:1", spec.Where);
        Assert.Equal(RwKind.Read, spec.Rw);
        Assert.Equal("read", spec.RwText);
        Assert.Equal(50, spec.ReadMixPercent);
        Assert.Equal(4096, spec.ReadBlockSize);
        Assert.Equal(4096, spec.WriteBlockSize);
        Assert.Equal(1L << 20, spec.Size);
        Assert.Equal(1L << 20, spec.FileSize);
        Assert.Equal(0, spec.Offset);
        Assert.Equal(1, spec.NrFiles);
        Assert.Null(spec.FileName);
        Assert.Equal("/", spec.Directory);
        Assert.Equal(1, spec.NumJobs);
        Assert.Equal("psync", spec.IoEngine);
        Assert.False(spec.Async);
        Assert.Equal(1, spec.IoDepth);
        Assert.False(spec.Direct);
        Assert.False(spec.OSync);
        Assert.False(spec.ODsync);
        Assert.Equal(0, spec.FsyncEvery);
        Assert.Equal(0, spec.FdatasyncEvery);
        Assert.False(spec.EndFsync);
        Assert.False(spec.FsyncOnClose);
        Assert.Equal("native", spec.Fallocate);
        Assert.False(spec.Overwrite);
        Assert.Equal(0, spec.RuntimeUs);
        Assert.False(spec.TimeBased);
        Assert.Equal(0, spec.RampTimeUs);
        Assert.True(spec.RandRepeat);
        Assert.Equal(0x89UL, spec.RandSeed);
        Assert.False(spec.RandSeedSet);
        Assert.Equal(0, spec.ThinkTimeUs);
        Assert.False(spec.GroupReporting);
        Assert.False(spec.Verify);
        Assert.True(spec.DoVerify);
        Assert.False(spec.Uncached);
        Assert.Equal(1024, spec.KbBase);
    }

    [Fact]
    public void DefaultPercentiles_AreFiosDefaultList()
    {
        Assert.Equal(s_fioPercentiles, JobSpec.DefaultPercentiles);
        Assert.Equal(s_fioPercentiles, Spec("[job]\nsize=1m\n").Percentiles);
    }

    [Theory]
    [InlineData("read", RwKind.Read, true, false, false)]
    [InlineData("write", RwKind.Write, false, true, false)]
    [InlineData("randread", RwKind.RandRead, true, false, true)]
    [InlineData("randwrite", RwKind.RandWrite, false, true, true)]
    [InlineData("rw", RwKind.ReadWrite, true, true, false)]
    [InlineData("readwrite", RwKind.ReadWrite, true, true, false)]
    [InlineData("randrw", RwKind.RandRw, true, true, true)]
    public void Rw_SetsThePattern_AndKeepsTheTextAsWritten(string rw, RwKind kind, bool reads, bool writes, bool random)
    {
        var spec = Spec($"[job]\nsize=1m\nrw={rw}\n");
        Assert.Equal(kind, spec.Rw);
        Assert.Equal(rw, spec.RwText);
        Assert.Equal(reads, spec.Reads);
        Assert.Equal(writes, spec.Writes);
        Assert.Equal(random, spec.Random);
    }

    [Fact]
    public void Readwrite_IsAnAliasOfRw()
    {
        var spec = Spec("[job]\nsize=1m\nreadwrite=randwrite\n");
        Assert.Equal(RwKind.RandWrite, spec.Rw);
        Assert.Equal("randwrite", spec.RwText);
    }

    [Theory]
    [InlineData("rwmixread=70", 70)]
    [InlineData("rwmixwrite=30", 70)]
    [InlineData("rwmixwrite=100", 0)]
    [InlineData("rwmixread=0", 0)]
    public void RwmixreadAndRwmixwrite_SetTheReadShare(string option, int readPercent) =>
        Assert.Equal(readPercent, Spec($"[job]\nsize=1m\nrw=randrw\n{option}\n").ReadMixPercent);

    [Theory]
    [InlineData("bs=64k", 65536, 65536)]
    [InlineData("bs=4k,64k", 4096, 65536)]
    [InlineData("bs=,8k", 4096, 8192)]
    [InlineData("bs=16k,", 16384, 16384)]
    [InlineData("blocksize=8k", 8192, 8192)]
    [InlineData("blocksize=8k,1m", 8192, 1 << 20)]
    [InlineData("bs=512", 512, 512)]
    public void Bs_SetsReadAndWriteBlockSizes(string option, int read, int write)
    {
        var spec = Spec($"[job]\nsize=16m\nrw=randrw\n{option}\n");
        Assert.Equal(read, spec.ReadBlockSize);
        Assert.Equal(write, spec.WriteBlockSize);
    }

    [Fact]
    public void Bs_AtTheModelsLimit_IsAccepted() =>
        Assert.Equal(JobSpec.MaxBlockSize, Spec("[job]\nrw=write\nsize=32m\nbs=16m\n").WriteBlockSize);

    [Fact]
    public void Size_IsSplitOverNrfiles()
    {
        var spec = Spec("[job]\nsize=8m\nnrfiles=4\n");
        Assert.Equal(8L << 20, spec.Size);
        Assert.Equal(2L << 20, spec.FileSize);
        Assert.Equal(4, spec.NrFiles);
    }

    [Fact]
    public void Filesize_TimesNrfiles_IsTheSize()
    {
        var spec = Spec("[job]\nfilesize=2m\nnrfiles=4\n");
        Assert.Equal(8L << 20, spec.Size);
        Assert.Equal(2L << 20, spec.FileSize);
        Assert.Equal(4, spec.NrFiles);
    }

    [Fact]
    public void SizeAndFilesize_AreBothKeptWhenBothAreGiven()
    {
        var spec = Spec("[job]\nsize=6m\nfilesize=4m\nnrfiles=2\n");
        Assert.Equal(6L << 20, spec.Size);
        Assert.Equal(4L << 20, spec.FileSize);
    }

    [Fact]
    public void Offset_IsWhereIoStartsInEachFile() =>
        Assert.Equal(256L << 10, Spec("[job]\nsize=1m\noffset=256k\n").Offset);

    [Fact]
    public void Files_AreNamedNameInstanceFile_InTheRootByDefault()
    {
        var spec = Spec("[job]\nsize=1m\nnrfiles=2\n");
        Assert.Equal("/job.0.0", spec.FilePath(0, 0));
        Assert.Equal("/job.0.1", spec.FilePath(0, 1));
        Assert.Equal("/job.3.1", spec.FilePath(3, 1));
    }

    [Fact]
    public void NameOption_NamesTheFilesToo()
    {
        var spec = Spec("[section]\nname=renamed\nsize=1m\n");
        Assert.Equal("renamed", spec.Name);
        Assert.Equal("/renamed.2.0", spec.FilePath(2, 0));
    }

    [Theory]
    [InlineData("data", "/data", "/data/job.1.0")]
    [InlineData("/data", "/data", "/data/job.1.0")]
    [InlineData("/data/", "/data/", "/data/job.1.0")]
    [InlineData("/a/b", "/a/b", "/a/b/job.1.0")]
    public void Directory_IsRootedAndHoldsTheFiles(string directory, string expected, string path)
    {
        var spec = Spec($"[job]\nsize=1m\ndirectory={directory}\n");
        Assert.Equal(expected, spec.Directory);
        Assert.Equal(path, spec.FilePath(1, 0));
    }

    [Fact]
    public void Filename_IsOneFileSharedByEveryInstance_InTheDirectory()
    {
        var spec = Spec("[job]\nsize=1m\nnumjobs=4\nfilename=shared\ndirectory=/d\n");
        Assert.Equal("shared", spec.FileName);
        Assert.Equal(1, spec.NrFiles);
        Assert.Equal("/d/shared", spec.FilePath(0, 0));
        Assert.Equal("/d/shared", spec.FilePath(3, 0));
    }

    [Fact]
    public void Filename_MakesNrfilesOne()
    {
        var spec = Spec("[job]\nsize=8m\nnrfiles=4\nfilename=f\n");
        Assert.Equal(1, spec.NrFiles);
        Assert.Equal(8L << 20, spec.Size);
    }

    // fio ignores nrfiles when filename= is given (str_filename_cb resets nr_files and counts the
    // names), so the one file is the whole size.
    [Fact]
    public void Filename_OneFileHoldsTheWholeSize_WhateverNrfiles()
    {
        var spec = Spec("[job]\nsize=8m\nnrfiles=4\nfilename=f\n");
        Assert.Equal(8L << 20, spec.FileSize);
        Assert.Equal(spec.Size, spec.FileSize * spec.NrFiles);
    }

    [Fact]
    public void NumjobsAndIodepth_AreCopied()
    {
        var spec = Spec("[job]\nsize=1m\nnumjobs=6\niodepth=32\n");
        Assert.Equal(6, spec.NumJobs);
        Assert.Equal(32, spec.IoDepth);
    }

    [Theory]
    [InlineData("psync", false)]
    [InlineData("sync", false)]
    [InlineData("pvsync2", false)]
    [InlineData("libaio", true)]
    [InlineData("io_uring", true)]
    public void Ioengine_IsAsyncForLibaioAndIoUring(string engine, bool async)
    {
        var spec = Spec($"[job]\nsize=1m\nioengine={engine}\n");
        Assert.Equal(engine, spec.IoEngine);
        Assert.Equal(async, spec.Async);
    }

    [Theory]
    [InlineData("direct=1", true)]
    [InlineData("direct=0", false)]
    [InlineData("buffered=0", true)]
    [InlineData("buffered=1", false)]
    [InlineData("direct=1\nbuffered=0", true)]
    [InlineData("direct=0\nbuffered=1", false)]
    public void DirectAndBuffered_SetODirect(string options, bool direct) =>
        Assert.Equal(direct, Spec($"[job]\nsize=1m\n{options}\n").Direct);

    [Theory]
    [InlineData("sync=sync", true, false)]
    [InlineData("sync=1", true, false)]
    [InlineData("sync=dsync", false, true)]
    [InlineData("sync=none", false, false)]
    [InlineData("sync=0", false, false)]
    public void Sync_SetsOSyncOrODsync(string option, bool osync, bool odsync)
    {
        var spec = Spec($"[job]\nsize=1m\n{option}\n");
        Assert.Equal(osync, spec.OSync);
        Assert.Equal(odsync, spec.ODsync);
    }

    [Fact]
    public void SyncingOptions_AreCopied()
    {
        var spec = Spec("[job]\nrw=write\nsize=1m\nfsync=8\nfdatasync=16\nend_fsync=1\nfsync_on_close=1\n");
        Assert.Equal(8, spec.FsyncEvery);
        Assert.Equal(16, spec.FdatasyncEvery);
        Assert.True(spec.EndFsync);
        Assert.True(spec.FsyncOnClose);
    }

    [Fact]
    public void Overwrite_IsCopied() => Assert.True(Spec("[job]\nrw=write\nsize=1m\noverwrite=1\n").Overwrite);

    [Theory]
    [InlineData("none", "none")]
    [InlineData("native", "native")]
    [InlineData("posix", "posix")]
    [InlineData("keep", "keep")]
    [InlineData("truncate", "truncate")]
    [InlineData("0", "none")]
    [InlineData("1", "posix")]
    public void Fallocate_NumericAliasesMapToFiosNames(string value, string expected) =>
        Assert.Equal(expected, Spec($"[job]\nsize=1m\nfallocate={value}\n").Fallocate);

    [Theory]
    [InlineData("runtime=30", 30_000_000L, 0L)]
    [InlineData("runtime=500ms", 500_000L, 0L)]
    [InlineData("runtime=2m", 120_000_000L, 0L)]
    [InlineData("runtime=10\nramp_time=2", 10_000_000L, 2_000_000L)]
    [InlineData("runtime=10\nramp_time=250ms", 10_000_000L, 250_000L)]
    [InlineData("ramp_time=100us", 0L, 100L)]
    public void RuntimeAndRampTime_AreSecondsUnlessAUnitSays(string options, long runtimeUs, long rampUs)
    {
        var spec = Spec($"[job]\nsize=1m\n{options}\n");
        Assert.Equal(runtimeUs, spec.RuntimeUs);
        Assert.Equal(rampUs, spec.RampTimeUs);
    }

    [Fact]
    public void TimeBased_WithARuntime_IsAccepted()
    {
        var spec = Spec("[job]\nsize=1m\nruntime=5\ntime_based\n");
        Assert.True(spec.TimeBased);
        Assert.Equal(5_000_000, spec.RuntimeUs);
    }

    [Fact]
    public void Randseed_SetsTheSeed_AndRecordsThatItWasGiven()
    {
        var spec = Spec("[job]\nsize=1m\nrw=randread\nrandseed=1234\nrandrepeat=0\n");
        Assert.Equal(1234UL, spec.RandSeed);
        Assert.True(spec.RandSeedSet);
        Assert.False(spec.RandRepeat);
    }

    [Theory]
    [InlineData("thinktime=50", 50L)]
    [InlineData("thinktime=50us", 50L)]
    [InlineData("thinktime=2ms", 2_000L)]
    [InlineData("thinktime=1s", 1_000_000L)]
    public void Thinktime_IsMicrosecondsUnlessAUnitSays(string option, long us) =>
        Assert.Equal(us, Spec($"[job]\nsize=1m\n{option}\n").ThinkTimeUs);

    [Fact]
    public void GroupReporting_IsCopied() => Assert.True(Spec("[job]\nsize=1m\ngroup_reporting\n").GroupReporting);

    [Theory]
    [InlineData("crc32c", true)]
    [InlineData("crc32c-intel", true)]
    [InlineData("0", false)]
    [InlineData("none", false)]
    public void Verify_IsOnForCrc32c(string value, bool verify) =>
        Assert.Equal(verify, Spec($"[job]\nrw=write\nsize=1m\nverify={value}\n").Verify);

    [Fact]
    public void DoVerify0_KeepsTheHeadersButSkipsTheVerifyPhase()
    {
        var spec = Spec("[job]\nrw=randwrite\nsize=1m\nverify=crc32c\ndo_verify=0\n");
        Assert.True(spec.Verify);
        Assert.False(spec.DoVerify);
    }

    [Fact]
    public void Uncached_OnABufferedJob_IsCopied() => Assert.True(Spec("[job]\nrw=write\nsize=1m\nuncached=1\n").Uncached);

    [Fact]
    public void PercentileList_ReplacesTheDefaults() =>
        Assert.Equal(new double[] { 50, 99, 99.9, 100 }, Spec("[job]\nsize=1m\npercentile_list=50:99:99.9:100\n").Percentiles);

    [Fact]
    public void KbBase1000_AppliesToSizesAndBlockSizes()
    {
        var spec = Spec("[job]\nkb_base=1000\nsize=1m\nbs=4k\noffset=8k\n");
        Assert.Equal(1000, spec.KbBase);
        Assert.Equal(1_000_000, spec.Size);
        Assert.Equal(4000, spec.ReadBlockSize);
        Assert.Equal(8000, spec.Offset);
    }

    [Fact]
    public void Options_HoldWhatWasWritten_InheritedToo_ButNotName()
    {
        var spec = Spec("[global]\nioengine=libaio\n[section]\nname=other\nsize=1m\nbs=4k,64k\n");
        Assert.Equal("libaio", spec.Options["ioengine"]);
        Assert.Equal("1m", spec.Options["size"]);
        Assert.Equal("4k,64k", spec.Options["bs"]);
        Assert.False(spec.Options.ContainsKey("name"));
        Assert.Equal(3, spec.Options.Count);
    }

    [Theory]
    // size/filesize missing: the section's line.
    [InlineData("[w]\nrw=write\n", 1, "size", "needs size= or filesize=")]
    [InlineData("[global]\nrw=write\n\n[w]\nbs=8k\n", 4, "size", "needs size= or filesize=")]
    [InlineData("[w]\nsize=0\n", 1, "size", "needs size= or filesize=")]
    // a file too small for one block after the offset: the size option's line.
    [InlineData("[w]\nrw=write\nsize=2k\n", 3, "size", "less than one block of 4096 bytes")]
    [InlineData("[w]\nsize=8k\noffset=6k\n", 2, "size", "2048 bytes to use after offset")]
    [InlineData("[w]\nfilesize=1m\noffset=1m\n", 2, "filesize", "0 bytes to use after offset")]
    [InlineData("[w]\nrw=randrw\nbs=4k,64k\nsize=32k\n", 4, "size", "less than one block of 65536 bytes")]
    [InlineData("[w]\nsize=64k\nnrfiles=32\n", 2, "size", "less than one block")]
    // direct= contradicting buffered=.
    [InlineData("[w]\nsize=1m\ndirect=1\nbuffered=1\n", 4, "buffered", "contradicts direct=")]
    [InlineData("[w]\nsize=1m\nbuffered=0\ndirect=0\n", 3, "buffered", "contradicts direct=")]
    // uncached with direct.
    [InlineData("[w]\nrw=write\nsize=1m\ndirect=1\nuncached=1\n", 5, "uncached", "RWF_DONTCACHE")]
    [InlineData("[w]\nrw=write\nsize=1m\nuncached=1\nbuffered=0\n", 4, "uncached", "RWF_DONTCACHE")]
    // verify on a read or mixed job.
    [InlineData("[w]\nrw=read\nsize=1m\nverify=crc32c\n", 4, "verify", "verifies write jobs")]
    [InlineData("[w]\nrw=randread\nsize=1m\nverify=crc32c-intel\n", 4, "verify", "verifies write jobs")]
    [InlineData("[w]\nrw=randrw\nsize=1m\nverify=crc32c\n", 4, "verify", "verifies write jobs")]
    [InlineData("[w]\nverify=crc32c\nsize=1m\nrw=rw\n", 2, "verify", "verifies write jobs")]
    [InlineData("[global]\nverify=crc32c\n[r]\nsize=1m\n", 2, "verify", "verifies write jobs")]
    // time_based without runtime.
    [InlineData("[w]\nsize=1m\ntime_based\n", 3, "time_based", "needs runtime=")]
    [InlineData("[w]\nsize=1m\nruntime=0\ntime_based=1\n", 4, "time_based", "needs runtime=")]
    // block size above the model's limit.
    [InlineData("[w]\nsize=1g\nbs=32m\n", 3, "bs", "16 MiB block-size limit")]
    [InlineData("[w]\nsize=1g\nbs=16m,17m\n", 3, "bs", "17825792 bytes is larger")]
    [InlineData("[w]\nblocksize=,32m\nsize=1g\n", 2, "blocksize", "block-size limit")]
    [InlineData("[w]\nbs=32m\n", 2, "bs", "block-size limit")]
    // filename lists and paths.
    [InlineData("[w]\nsize=1m\nfilename=a:b\n", 3, "filename", "':'-separated lists")]
    [InlineData("[w]\nsize=1m\nfilename=dir/f\n", 3, "filename", "use directory=")]
    [InlineData("[w]\nsize=1m\nfilename=/abs\n", 3, "filename", "use directory=")]
    public void BadCombinations_NameTheFileTheOptionsLineAndTheOption(string text, int line, string option, string problem)
    {
        var job = Assert.Single(FioJobFile.Parse(text, "t.fio"));
        var ex = Assert.Throws<JobFileException>(() => JobSpec.From(job));
        JobFileErrors.AssertNames(ex, "t.fio", line, option, problem);
        Assert.StartsWith($"t.fio:{line}: option '{option}': ", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnOptionFromAnIncludedFile_IsBlamedOnThatFile()
    {
        var job = Assert.Single(FioJobFile.Parse("include common.fio\n[w]\nrw=read\nsize=1m\n", "/jobs/t.fio", readInclude: _ => "[global]\n\nverify=crc32c\n"));
        var ex = Assert.Throws<JobFileException>(() => JobSpec.From(job));
        Assert.Equal(Path.Combine("/jobs", "common.fio"), ex.File);
        Assert.Equal(3, ex.Line);
        Assert.Equal("verify", ex.Option);
    }

    private static JobSpec Spec(string text) => JobSpec.From(Assert.Single(FioJobFile.Parse(text, "t.fio")));
}
