using System.Diagnostics;
using System.Globalization;
using Writeback.Block;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;
using Writeback.Workloads.Torture.Crash;
using Xunit.Abstractions;

namespace Writeback.Tests.Workloads;

/// <summary>Crash enumeration (issue 9): workloads run on a fresh filesystem while the disk logs
/// its writes, and every flush boundary (with seeded subsets of the unflushed writes) is rebuilt,
/// mounted, checked by fsck and held to the promises of the completed persistence operations.
/// A hand-written workload of every operation (in every task variant and both block sizes), the
/// ACE-style sequences of up to two operations, a seeded sample of the three-operation ones and
/// seeded random workloads are clean in both completion modes, with torn writes (part of a
/// multi-sector write on the media) among the crash states; skipping the cache flush of fsync,
/// forgetting the TOWRITE tag and ending writeback before the unwritten conversion are caught,
/// and so is an image that lost a promised rename, link and write; the report counts what it
/// checked. Each run prints its crash states checked per second.</summary>
public class CrashTortureTests(ITestOutputHelper output)
{
    private const long K = 1024;

    [Theory]
    [InlineData(CompletionMode.Irq, CrashPromises.Posix, TaskCompletionVariant.Merged, 4096)]
    [InlineData(CompletionMode.Task, CrashPromises.Posix, TaskCompletionVariant.Merged, 4096)]
    [InlineData(CompletionMode.Irq, CrashPromises.Wsync, TaskCompletionVariant.Merged, 4096)]
    [InlineData(CompletionMode.Task, CrashPromises.Wsync, TaskCompletionVariant.Merged, 4096)]
    [InlineData(CompletionMode.Irq, CrashPromises.Wsync, TaskCompletionVariant.Merged, 512)]
    [InlineData(CompletionMode.Task, CrashPromises.Wsync, TaskCompletionVariant.Merged, 512)]
    [InlineData(CompletionMode.Task, CrashPromises.Wsync, TaskCompletionVariant.V4, 4096)]
    [InlineData(CompletionMode.Task, CrashPromises.Wsync, TaskCompletionVariant.V5, 4096)]
    [InlineData(CompletionMode.Task, CrashPromises.Wsync, TaskCompletionVariant.Cpumask, 4096)]
    public void EveryOperationWorkload_CrashedAtEveryWriteAndFlush_KeepsEveryPromise(CompletionMode mode, CrashPromises promises, TaskCompletionVariant variant, int blockSize)
    {
        var report = Timed($"every-operation, {mode}, {variant}, {promises}, {blockSize}-byte blocks", () => CrashEnumerator.Check(
            CrashWorkload.EveryOperation(),
            new CrashOptions { Completion = mode, Variant = variant, BlockSize = blockSize, Promises = promises, EveryWrite = true, SamplesPerEpoch = 8, Seed = 9 }));
        AssertClean(report);
        Assert.Equal(1, report.Workloads);
        Assert.True(report.FlushBoundaries > 20, $"only {report.FlushBoundaries} flush boundaries");
        Assert.True(report.StatesChecked > report.LogEntries + report.FlushBoundaries, $"only {report.StatesChecked} states for {report.LogEntries} entries");
        Assert.True(report.TornStates > report.FlushBoundaries / 2, $"only {report.TornStates} torn states");
    }

    [Fact]
    public void AceEnumeration_IsFixed_AndEveryWorkloadEndsWithAPersistencePoint()
    {
        Assert.Equal(25, AceWorkloads.Operations.Count);
        Assert.Equal(0, AceWorkloads.Count(0));
        Assert.Equal(25, AceWorkloads.Count(1));
        Assert.Equal(626, AceWorkloads.Count(2));
        Assert.Equal(15387, AceWorkloads.Count(3));
        Assert.Equal(25, AceWorkloads.FirstIndexOfLength(2));
        output.WriteLine($"ACE workloads: length 1 {AceWorkloads.Count(1)}, up to 2 {AceWorkloads.Count(2)}, up to 3 {AceWorkloads.Count(3)}");

        var all = AceWorkloads.Enumerate(2).ToList();
        Assert.Equal(626, all.Count);
        Assert.All(all, w => Assert.True(w.Operations[^1].IsPersistence, $"{w} does not end with a persistence point"));
        Assert.Equal(all.Select(w => w.Name), Enumerable.Range(0, 626).Select(i => string.Create(CultureInfo.InvariantCulture, $"ace#{i}")));
        Assert.Equal(all.Count, all.Select(w => w.Describe()).Distinct(StringComparer.Ordinal).Count());

        // Fixed arguments: an index names a workload for good.
        Assert.Equal("append A [16384, +3584); fsync A", string.Join("; ", AceWorkloads.Get(4).Operations));
        Assert.Equal("rename /A /D/A1; fsync /D", string.Join("; ", AceWorkloads.Get(12).Operations));
        Assert.Equal("rename /A /D/A1; link /D/A1 /A2; fsync /", string.Join("; ", AceWorkloads.Get(327).Operations));
        Assert.Equal("unlink /A; fsync A", string.Join("; ", AceWorkloads.Get(424).Operations));

        // A name-changing operation on a file with no name left is not a valid sequence, and a
        // sequence that its appended persistence point makes into an earlier one is that one.
        Assert.DoesNotContain(all, w => new[] { "unlink /A; rename /A", "unlink /A; link /A", "unlink /A; unlink /A" }.Any(x => w.Describe().Contains(x, StringComparison.Ordinal)));
        Assert.Contains(all, w => w.Describe().EndsWith("] unlink /A; rename /D/B /B1; fsync /", StringComparison.Ordinal));
        Assert.DoesNotContain(all.Skip(25), w => string.Join("; ", w.Operations) == "rename /A /D/A1; fsync /D");
        var sample = AceWorkloads.Sample(3, 20, seed: 5);
        Assert.Equal(20, sample.Select(w => w.Name).Distinct(StringComparer.Ordinal).Count());
        Assert.All(sample, w => Assert.InRange(int.Parse(w.Name[4..], CultureInfo.InvariantCulture), AceWorkloads.Count(2), AceWorkloads.Count(3) - 1));
        Assert.Equal(sample.Select(w => w.Name), AceWorkloads.Sample(3, 20, seed: 5).Select(w => w.Name));
    }

    [Fact]
    public void AceSequencesOfUpToTwoOperations_AreAllCrashConsistent_InBothModes()
    {
        var reports = InBothModes("ACE length <= 2", mode => CrashEnumerator.Check(AceWorkloads.Enumerate(2), new CrashOptions { Completion = mode, SamplesPerEpoch = 3 }));
        foreach (var report in reports)
        {
            AssertClean(report);
            Assert.Equal(AceWorkloads.Count(2), report.Workloads);
            Assert.True(report.StatesChecked >= report.FlushBoundaries);
            Assert.True(report.TornStates > report.Workloads, $"only {report.TornStates} torn states");
        }
    }

    [Fact]
    public void AceSequencesOfThreeOperations_ASeededSample_AreCrashConsistent_InBothModes()
    {
        var sample = AceWorkloads.Sample(3, 250, seed: 2026);
        var reports = InBothModes("ACE length 3, 250 of them", mode => CrashEnumerator.Check(sample, new CrashOptions { Completion = mode, SamplesPerEpoch = 3, Seed = 2026 }));
        foreach (var report in reports)
        {
            AssertClean(report);
            Assert.Equal(250, report.Workloads);
        }
    }

    [Fact]
    public void RandomWorkloads_OfEveryKindOfOperationAndWrite_AreCrashConsistent_InBothModes()
    {
        Assert.Equal(CrashWorkload.Random(7, 30).Describe(), CrashWorkload.Random(7, 30).Describe());
        Assert.NotEqual(CrashWorkload.Random(7, 30).Describe(), CrashWorkload.Random(8, 30).Describe());
        var workloads = Enumerable.Range(1, 24).Select(seed => CrashWorkload.Random((ulong)seed, 30)).ToList();
        var all = string.Join("\n", workloads.Select(w => w.Describe()));
        foreach (var kind in new[] { "O_DIRECT", "O_DSYNC", "O_SYNC", "O_DIRECT|O_DSYNC", "append", "overwrite", "truncate", "fallocate keep-size", "punch", "rename", "link", "unlink", "mkdir", "create", "fsync /", "fdatasync", "sync" })
        {
            Assert.Contains(kind, all, StringComparison.Ordinal);
        }

        var reports = InBothModes("random, 24 seeds of 30 operations", mode => CrashEnumerator.Check(workloads, new CrashOptions { Completion = mode, Seed = 24 }));
        foreach (var report in reports)
        {
            AssertClean(report);
            Assert.Equal(24, report.Workloads);
        }
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void AceSingleOperations_KeepTheModelsWsyncPromises(CompletionMode mode)
    {
        var report = Timed($"ACE length 1, wsync, {mode}", () => CrashEnumerator.Check(AceWorkloads.Enumerate(1), new CrashOptions { Completion = mode, Promises = CrashPromises.Wsync, EveryWrite = true }));
        AssertClean(report);
        Assert.Equal(25, report.Workloads);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void SkippingTheFlushOfFsync_NegativeControl_IsCaughtAsLostData(CompletionMode mode)
    {
        // An overwrite changes no metadata, so nothing but fsync's own cache flush makes it durable.
        // (fsync also logs the new timestamps, and the commit's preflush then flushes the data too.)
        var workload = AceWorkloads.StartingTree("overwrite-and-sync").Write("A", 2 * K, 4 * K, tag: "overwrite").Fsync("A").Write("B", 0, 4 * K, tag: "overwrite").Fdatasync("B");
        var options = new CrashOptions { Completion = mode };
        var clean = CrashEnumerator.Check(workload, options);
        AssertClean(clean);

        var broken = Timed($"skip-fsync-flush, {mode}", () => CrashEnumerator.Check(workload, options with { InjectedBugs = InjectedBug.SkipFsyncFlush }));
        Assert.False(broken.IsClean, "the checker did not see fsync's missing flush");
        Assert.All(broken.Violations, v => Assert.StartsWith("(data)", v.What, StringComparison.Ordinal));
        Assert.Contains(broken.Violations, v => v.What.Contains("/D/B (B), sector 0", StringComparison.Ordinal) && v.What.Contains("'fdatasync B' made it durable", StringComparison.Ordinal)
            && v.CrashPoint.Contains("'fdatasync B' had returned", StringComparison.Ordinal) && v.Subset.EndsWith("F0 (seed 1)", StringComparison.Ordinal));
        Assert.All(broken.Violations, v => Assert.Contains("InjectedBugs = SkipFsyncFlush", v.Replay, StringComparison.Ordinal));
        output.WriteLine(broken.Violations[0].Text);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void ForgettingTheToWriteTag_NegativeControl_IsCaughtAsLostData(CompletionMode mode)
    {
        // Integrity writeback walks an empty TOWRITE tag, so fsync and fdatasync write no data:
        // what they promised is found missing (the starting state is made without the bug).
        var workload = AceWorkloads.StartingTree("forget-towrite-tag").Write("A", 2 * K, 4 * K, tag: "overwrite").Fsync("A").Write("B", 0, 4 * K, tag: "overwrite").Fdatasync("B");
        var options = new CrashOptions { Completion = mode };
        AssertClean(CrashEnumerator.Check(workload, options));

        var broken = Timed($"forget-to-write-tag, {mode}", () => CrashEnumerator.Check(workload, options with { InjectedBugs = InjectedBug.ForgetToWriteTag }));
        Assert.False(broken.IsClean, "the checker did not see fsync write nothing");
        Assert.All(broken.Violations, v => Assert.StartsWith("(data)", v.What, StringComparison.Ordinal));
        Assert.Contains(broken.Violations, v => v.What.StartsWith("(data) /A (A), sector 4 (size 16384): holds generation 1; after 'fsync A' made it durable it held generation 3", StringComparison.Ordinal));
        Assert.Contains(broken.Violations, v => v.What.StartsWith("(data) /D/B (B), sector 0 ", StringComparison.Ordinal) && v.What.Contains("'fdatasync B' made it durable", StringComparison.Ordinal)
            && v.CrashPoint.Contains("the end of the workload", StringComparison.Ordinal));
        Assert.All(broken.Violations, v => Assert.Contains("InjectedBugs = ForgetToWriteTag", v.Replay, StringComparison.Ordinal));
        output.WriteLine(broken.Violations[0].Text);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void EndingWritebackBeforeTheUnwrittenConversion_NegativeControl_IsCaughtAsZerosWhereSyncedDataWas(CompletionMode mode)
    {
        // Writes into preallocated (unwritten) blocks of two files, then sync: it waits for A's
        // writeback, then B's, then flushes. With the bug each file's folios end writeback before
        // its conversion is logged, and B's conversion queues on the journal behind A's, so sync
        // returns while it is still to commit; a crash then finds B's synced data behind an
        // unwritten extent, reading zeros. (With one file and fdatasync the conversion, started
        // first, commits before the fdatasync's cache flush completes: no crash state sees it.)
        var workload = AceWorkloads.StartingTree("prealloc-sync").Fallocate("A", 16 * K, 8 * K).Fallocate("B", 16 * K, 8 * K)
            .Write("A", 16 * K, 4 * K).Write("B", 16 * K, 4 * K).Sync();
        var options = new CrashOptions { Completion = mode };
        AssertClean(CrashEnumerator.Check(workload, options));

        var broken = Timed($"end-writeback-before-conversion, {mode}", () => CrashEnumerator.Check(workload, options with { InjectedBugs = InjectedBug.EndWritebackBeforeConversion }));
        Assert.False(broken.IsClean, "the checker did not see the conversion logged after writeback ended");
        Assert.All(broken.Violations, v => Assert.StartsWith("(data)", v.What, StringComparison.Ordinal));
        Assert.Contains(broken.Violations, v => v.What.StartsWith("(data) /D/B (B), sector 32 (size 24576): holds zeros", StringComparison.Ordinal)
            && v.What.Contains("after 'sync (B)' made it durable it held generation", StringComparison.Ordinal) && v.CrashPoint.Contains("'sync' had returned", StringComparison.Ordinal));
        Assert.All(broken.Violations, v => Assert.Contains("InjectedBugs = EndWritebackBeforeConversion", v.Replay, StringComparison.Ordinal));
        output.WriteLine(broken.Violations[0].Text);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void TornWrites_AddStatesWithPartOfAMultiSectorWriteOnTheMedia_CountedAndChecked(CompletionMode mode)
    {
        var workload = AceWorkloads.StartingTree("torn").Write("A", 2 * K, 4 * K, tag: "overwrite").Fsync("A").Write("B", 0, 4 * K, tag: "overwrite").Fdatasync("B");
        var options = new CrashOptions { Completion = mode };
        var whole = CrashEnumerator.Check(workload, options with { TornWrites = false });
        var torn = Timed($"torn writes, {mode}", () => CrashEnumerator.Check(workload, options));
        AssertClean(whole);
        AssertClean(torn);
        Assert.Equal(0, whole.TornStates);
        Assert.True(torn.TornStates > 0, "no torn states");

        // The torn states come on top of the same whole-write states (their own seeded stream).
        Assert.Equal(whole.StatesChecked + torn.TornStates, torn.StatesChecked);

        // With fdatasync's flush skipped, B's overwrite (8 sectors, the one multi-sector write
        // after the last flush) is torn: with its first sector only on the media, sectors 1 to 7
        // are the old data fdatasync promised away; with all but its last, sector 7 alone is.
        var broken = CrashEnumerator.Check(workload, options with { InjectedBugs = InjectedBug.SkipFsyncFlush });
        var first = broken.Violations.Where(v => v.Subset.Contains("torn, its first sector only: sectors 10000000 reached the media", StringComparison.Ordinal)).Select(v => v.What).ToList();
        var allButLast = broken.Violations.Where(v => v.Subset.Contains("torn, all but its last sector: sectors 11111110 reached the media", StringComparison.Ordinal)).Select(v => v.What).ToList();
        output.WriteLine(string.Join("\n", first.Concat(allButLast)));
        Assert.Equal(4, first.Count);
        for (var sector = 1; sector <= 3; sector++)
        {
            Assert.StartsWith($"(data) /D/B (B), sector {sector} (size 16384): holds generation 2; after 'fdatasync B' made it durable it held generation 4", first[sector - 1], StringComparison.Ordinal);
        }

        Assert.Equal("(data) /D/B (B): 4 more sectors are wrong", first[3]);
        Assert.Single(allButLast);
        Assert.StartsWith("(data) /D/B (B), sector 7 (size 16384): holds generation 2; after 'fdatasync B' made it durable it held generation 4", allButLast[0], StringComparison.Ordinal);
        Assert.Contains(broken.Violations, v => v.Subset.Contains("torn, a seeded subset of its sectors", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(CompletionMode.Irq, CrashPromises.Posix)]
    [InlineData(CompletionMode.Task, CrashPromises.Wsync)]
    public void TheChecker_GivenTheStartingImageAsIfEverythingHadReturned_ReportsTheLostRenameLinkAndData(CompletionMode mode, CrashPromises promises)
    {
        // The checker's own negative control: the image from before the workload, checked as if
        // the crash came after its last operation, breaks the directory and data promises.
        using var m = MachineFixture.Create(cpus: 2);
        var problems = new List<string>();
        var options = new CrashOptions { Completion = mode, Promises = promises };
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m, new BlockLayerOptions { Checked = true });
            var workload = AceWorkloads.StartingTree("lost").Rename("/A", "/D/A1").Link("/D/B", "/B1").Write("B", 0, 4 * K, tag: "overwrite").Fsync("B").FsyncDir("/D").FsyncDir("/");
            var recording = CrashRecorder.Record(m, layer, workload, options, new Dictionary<string, CrashBase>(StringComparer.Ordinal));
            var checker = new CrashChecker(recording);
            checker.Check(recording.Log.Rebuild(recording.Entries.Count), recording.Entries.Count, problems.Add);
            Assert.Empty(problems);
            checker.Check(recording.Log.Rebuild(0), recording.Entries.Count, problems.Add);
        });
        output.WriteLine(string.Join("\n", problems));
        if (promises == CrashPromises.Posix)
        {
            Assert.Contains(problems, p => p.StartsWith("(tree) / holds {A#", StringComparison.Ordinal) && p.Contains("'fsync /' promised its entries as they were after 'link /D/B /B1'", StringComparison.Ordinal));
            Assert.Contains(problems, p => p.StartsWith("(tree) /D holds {B#", StringComparison.Ordinal) && p.Contains("'fsync /D' promised", StringComparison.Ordinal));
        }
        else
        {
            Assert.Contains(problems, p => p.StartsWith("(tree) the tree is {/A#", StringComparison.Ordinal) && p.Contains("/D/A1#", StringComparison.Ordinal));
        }

        Assert.Contains(problems, p => p.StartsWith("(data) /D/B (B), sector 0", StringComparison.Ordinal) && p.Contains("'fsync B' made it durable", StringComparison.Ordinal));
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void TheReport_CountsWorkloadsStatesEntriesAndBoundaries_AndAWorkloadThatCannotRun()
    {
        var options = new CrashOptions { SamplesPerEpoch = 0, TornWrites = false };
        var workloads = new[] { AceWorkloads.Get(0), AceWorkloads.Get(24) };
        var flushes = CrashEnumerator.Check(workloads, options);
        var prefixes = CrashEnumerator.Check(workloads, options with { EveryWrite = true });
        AssertClean(flushes);
        Assert.Equal(2, flushes.Workloads);
        Assert.True(flushes.LogEntries > 0);

        // Per boundary: none of the unflushed writes, all of them when there are any, and the
        // crash right after the flush when the next writes begin with a FUA one.
        Assert.InRange(flushes.StatesChecked, flushes.FlushBoundaries, 3 * flushes.FlushBoundaries);

        // Every prefix of each log adds one state per entry, and one for the empty prefix.
        Assert.Equal(flushes.StatesChecked + flushes.LogEntries + 2, prefixes.StatesChecked);
        Assert.Equal(flushes.LogEntries, prefixes.LogEntries);
        Assert.Equal(flushes.FlushBoundaries, prefixes.FlushBoundaries);

        // Torn writes add states at the same boundaries, and are counted.
        var torn = CrashEnumerator.Check(workloads, options with { TornWrites = true });
        Assert.Equal(0, flushes.TornStates);
        Assert.True(torn.TornStates > 0);
        Assert.Equal(flushes.StatesChecked + torn.TornStates, torn.StatesChecked);
        Assert.Equal(flushes.FlushBoundaries, torn.FlushBoundaries);

        // More samples check more states of the same boundaries.
        var sampled = CrashEnumerator.Check(workloads, options with { SamplesPerEpoch = 6 });
        Assert.Equal(flushes.FlushBoundaries, sampled.FlushBoundaries);
        Assert.True(sampled.StatesChecked > flushes.StatesChecked);

        // A workload that cannot run is a violation with no crash state; the next one still runs.
        var bad = new CrashWorkload("bad").Write("nosuch", 0, 4 * K).Fsync("nosuch");
        var mixed = CrashEnumerator.Check([bad, AceWorkloads.Get(0)], options);
        Assert.Equal(1, mixed.TotalViolations);
        Assert.Equal(1, mixed.Workloads);
        Assert.Contains("no file is labelled nosuch", mixed.Violations[0].What, StringComparison.Ordinal);
        Assert.StartsWith("none", mixed.Violations[0].CrashPoint, StringComparison.Ordinal);

        var merged = new CrashReport();
        merged.Merge(flushes);
        merged.Merge(mixed);
        Assert.Equal(3, merged.Workloads);
        Assert.Equal(flushes.StatesChecked + mixed.StatesChecked, merged.StatesChecked);
        merged.Merge(torn);
        Assert.Equal(torn.TornStates, merged.TornStates);
        Assert.Equal(1, merged.TotalViolations);
        output.WriteLine(flushes.Summary);
    }

    private static void AssertClean(CrashReport report) =>
        Assert.True(report.IsClean, $"{report.Summary}; the first:\n" + string.Join("\n", report.Violations.Take(8).Select(v => v.Text)));

    // Runs the check in IRQ and task mode at once, on two host threads (each its own machine).
    private CrashReport[] InBothModes(string what, Func<CompletionMode, CrashReport> check)
    {
        var modes = new[] { CompletionMode.Irq, CompletionMode.Task };
        var reports = new CrashReport[modes.Length];
        var wall = Stopwatch.StartNew();
        Parallel.For(0, modes.Length, i => reports[i] = check(modes[i]));
        for (var i = 0; i < modes.Length; i++)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{what}, {modes[i]}: {reports[i].Summary}"));
        }

        var states = reports.Sum(r => r.StatesChecked);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{what}, both modes: {states} crash states in {wall.ElapsedMilliseconds} ms wall = {states * 1000.0 / Math.Max(1, wall.ElapsedMilliseconds):0} states/s ({states * 60000.0 / Math.Max(1, wall.ElapsedMilliseconds):0}/min)"));
        return reports;
    }

    private CrashReport Timed(string what, Func<CrashReport> check)
    {
        var report = check();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{what}: {report.Summary}"));
        return report;
    }
}
