using System.Threading;
using Writeback.Block;
using Writeback.Fs;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Block;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Mm;

/// <summary>The concurrency-safe page-cache invariant checks: silent on a clean run while writers,
/// the flusher, completions in both modes and injected interrupts run; loud on a corrupted state;
/// and the leak counts (live folios, nrpages) back at zero after truncation and unmount.</summary>
public class InvariantCheckTests
{
    public static TheoryData<CompletionMode, ulong> ModesAndSeeds => new()
    {
        { CompletionMode.Irq, 1 }, { CompletionMode.Irq, 2 }, { CompletionMode.Irq, 3 },
        { CompletionMode.Task, 1 }, { CompletionMode.Task, 2 }, { CompletionMode.Task, 3 },
    };

    [Theory]
    [MemberData(nameof(ModesAndSeeds))]
    public void ChecksDuringWritesBackgroundWritebackAndInjectedIrqs_ReportNothing_AndEverythingIsFreedAfterTruncate(CompletionMode mode, ulong seed)
    {
        var outcome = RunChurn(mode, seed, steps: 120);
        Assert.True(outcome.Problems.Count == 0, $"seed {seed}: " + string.Join("\n", outcome.Problems.Take(10)));
        Assert.True(outcome.Checks > 10, $"the checker ran only {outcome.Checks} times");
        Assert.True(outcome.BackgroundPasses > 0, "the flusher never ran in the background");
        Assert.Equal(0, outcome.LiveFolios);
        Assert.Equal(0, outcome.NrPages);
        Assert.Equal(0, outcome.InFlight);
        Assert.Equal(outcome.Submitted, outcome.Ended);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void ConcurrentChecks_OverTwentySeeds_NeverReportAFalsePositive(CompletionMode mode)
    {
        // Property: whatever the interleaving, a check made while the workload runs finds nothing
        // on a correct model. Each seed also picks the task-completion variant.
        var failures = new List<string>();
        for (ulong seed = 100; seed < 120; seed++)
        {
            var outcome = RunChurn(mode, seed, steps: 40, variant: (TaskCompletionVariant)(seed % 4));
            if (outcome.Problems.Count > 0 || outcome.LiveFolios != 0 || outcome.InFlight != 0)
            {
                failures.Add($"seed {seed}: live folios {outcome.LiveFolios}, bios in flight {outcome.InFlight}, {string.Join("; ", outcome.Problems.Take(3))}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void WritebackTagWithoutPgWriteback_IsReported_NamingTheFolioAndTheRule(CompletionMode mode)
    {
        var problems = OnWrittenBack(mode, (bdev, _) =>
        {
            bdev.Mapping.Pages.SetMark(3, PageCacheTag.Writeback);
            var found = bdev.Mapping.CheckInvariants();
            bdev.Mapping.Pages.ClearMark(3, PageCacheTag.Writeback);
            return found;
        });
        Assert.Equal(["bdev0: folio 3 has the WRITEBACK tag without PG_writeback"], problems);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void ToWriteWithoutDirtyOrWriteback_IsReported(CompletionMode mode)
    {
        var problems = OnWrittenBack(mode, (bdev, _) =>
        {
            bdev.Mapping.Pages.SetMark(5, PageCacheTag.ToWrite);
            var found = bdev.Mapping.CheckInvariants();
            bdev.Mapping.Pages.ClearMark(5, PageCacheTag.ToWrite);
            return found;
        });
        Assert.Equal(["bdev0: folio 5 has the TOWRITE tag without the DIRTY or WRITEBACK tag"], problems);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void DirtyWithoutTheDirtyTag_IsReportedOnlyWhenTheCheckCanLockTheFolio(CompletionMode mode)
    {
        IReadOnlyList<string>? whileLocked = null;
        var problems = OnWrittenBack(mode, (bdev, _) =>
        {
            bdev.Write(2 * 4096L, new byte[10]);
            bdev.Mapping.Pages.ClearMark(2, PageCacheTag.Dirty);

            // Locked, the folio could be inside folio_mark_dirty() between the bit and the tag.
            var folio = bdev.Mapping.GetFolio(2)!;
            folio.Lock();
            whileLocked = bdev.Mapping.CheckInvariants();
            folio.Unlock();
            var found = bdev.Mapping.CheckInvariants();
            bdev.Mapping.Pages.SetMark(2, PageCacheTag.Dirty);
            folio.Put();
            return found;
        });
        Assert.Empty(whileLocked!);
        Assert.Equal(["bdev0: folio 2 is dirty without the DIRTY tag"], problems);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void UnderWritebackWithoutTheWritebackTag_WhileItsBioIsHeld_IsReported(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        IReadOnlyList<string>? problems = null;
        IReadOnlyList<string>? afterRepair = null;
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m, new BlockLayerOptions { Checked = true });
            var disk = new TestDisk(layer, capacitySectors: 2048, name: "bdev0") { Manual = true };
            var bdev = new BlockDeviceCache(PageCache.Create(m, new PageCacheOptions { Mode = mode }), disk);
            bdev.Write(4 * 4096L, new byte[4096]);
            bdev.Writepages(bdev.Mapping, new WritebackControl { SyncMode = WbSyncMode.None });
            Assert.Equal(1, layer.InFlight);
            bdev.Mapping.Pages.ClearMark(4, PageCacheTag.Writeback);
            problems = bdev.Mapping.CheckInvariants();
            bdev.Mapping.Pages.SetMark(4, PageCacheTag.Writeback);
            afterRepair = bdev.Mapping.CheckInvariants();
            disk.Complete(disk.TakeHeld());
            layer.FlushDeferred();
            bdev.Mapping.WaitRange(0, long.MaxValue);
            Assert.Equal(0, layer.InFlight);
        });
        Assert.Equal(["bdev0: folio 4 is under writeback without the WRITEBACK tag"], problems);
        Assert.Empty(afterRepair!);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void FolioThatPointsElsewhere_IsReported()
    {
        var problems = OnWrittenBack(CompletionMode.Irq, (bdev, _) =>
        {
            var folio = bdev.Mapping.GetFolio(6)!;
            folio.Index = 7;
            var found = bdev.Mapping.CheckInvariants();
            folio.Index = 6;
            folio.Put();
            return found;
        });
        Assert.Equal(["bdev0: folio 6 is not where it says it is (folio->index 7, folio->mapping bdev0)"], problems);
    }

    [Fact]
    public void BrokenXArrayNode_IsReportedAsAProblem_NotThrown()
    {
        var problems = OnWrittenBack(CompletionMode.Irq, (bdev, cache) =>
        {
            // Index 100 needs a tree of nodes: corrupt the leaf's count.
            bdev.Write(100 * 4096L, new byte[10]);
            bdev.Mapping.Pages.Locate(100, out var node, out _);
            node!.Count++;
            var found = bdev.Mapping.CheckInvariants();
            node.Count--;
            return found;
        });
        var problem = Assert.Single(problems);
        Assert.StartsWith("bdev0: i_pages: node count", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void XArrayAssertInvariants_StillThrowsOnTheFirstProblem()
    {
        var tree = new Writeback.Lib.XArray<object>();
        tree.Store(100, new object());
        tree.Locate(100, out var node, out _);
        node!.NrValues++;
        var bug = Assert.Throws<KernelBugException>(tree.AssertInvariants);
        Assert.Contains("xarray invariant: node nr_values", bug.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void StaleDirtyTagOnACleanUnlockedFolio_IsAllowedInUse_ButReportedAtRest()
    {
        IReadOnlyList<string>? inUse = null;
        var problems = OnWrittenBack(CompletionMode.Irq, (bdev, cache) =>
        {
            // What iomap writeback leaves on a folio wholly past EOF until the racing truncate removes it.
            bdev.Mapping.Pages.SetMark(1, PageCacheTag.Dirty);
            inUse = cache.CheckInvariants();
            var found = cache.CheckQuiescentInvariants();
            bdev.Mapping.Pages.ClearMark(1, PageCacheTag.Dirty);
            return found;
        });
        Assert.Empty(inUse!);
        Assert.Equal(["bdev0: folio 1 has the DIRTY tag but is clean and unlocked"], problems);
    }

    [Fact]
    public void DirtyAccountingThatDisagreesWithTheFolios_IsReportedAtRest()
    {
        var problems = OnWrittenBack(CompletionMode.Task, (bdev, cache) =>
        {
            var folio = bdev.Mapping.GetFolio(0)!;
            cache.AccountDirtied(folio);
            var found = cache.CheckQuiescentInvariants();
            cache.AccountCleaned(folio);
            folio.Put();
            return found;
        });
        Assert.Equal(["page cache: NR_FILE_DIRTY is 1 but the dirty folios' pages come to 0"], problems);
    }

    [Fact]
    public void NegativeWritebackCount_IsReportedInUse()
    {
        var problems = OnWrittenBack(CompletionMode.Irq, (bdev, cache) =>
        {
            var folio = bdev.Mapping.GetFolio(0)!;
            cache.AccountWriteback(folio, started: false);
            var found = cache.CheckInvariants();
            cache.AccountWriteback(folio, started: true);
            folio.Put();
            return found;
        });
        Assert.Equal(["page cache: NR_WRITEBACK is -1"], problems);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void LiveFoliosAndNrPages_ReturnToZeroAfterTruncate_UnlessAReferenceLeaks(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        var counts = new List<long>();
        m.Run(() =>
        {
            var (bdev, _, cache, _) = Setup(m, mode);
            bdev.Write(0, new byte[20 * 4096]);
            counts.Add(cache.LiveFolios);
            counts.Add(bdev.Mapping.NrPages);
            bdev.Mapping.TruncatePages(0);
            counts.Add(cache.LiveFolios);
            counts.Add(bdev.Mapping.NrPages);

            // A lookup whose reference is never dropped keeps its folio alive after truncation.
            bdev.Write(0, new byte[4096]);
            var leaked = bdev.Mapping.GetFolio(0)!;
            bdev.Mapping.TruncatePages(0);
            counts.Add(cache.LiveFolios);
            counts.Add(bdev.Mapping.NrPages);
            leaked.Put();
            counts.Add(cache.LiveFolios);
            Assert.Empty(cache.CheckQuiescentInvariants());
        });
        Assert.Equal([20, 20, 0, 0, 1, 0, 0], counts);
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void Unmount_LeavesNoLiveFolioAndNoBioInFlight(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        var problems = new List<string>();
        long live = -1;
        long inFlight = -1;
        m.Run(() =>
        {
            var (disk, cache, fs) = FsFixture.Fresh(m, mode);
            for (var f = 0; f < 3; f++)
            {
                Assert.Equal(Errno.None, fs.Open($"/f{f}", OpenFlags.Create, out var file));
                Assert.Equal(Errno.None, file!.Write(f * 1000L, FsFixture.Pattern(f, 200_000), out _));
                if (f == 0)
                {
                    Assert.Equal(Errno.None, file.Fsync());
                }

                problems.AddRange(cache.CheckInvariants());
                file.Close();
            }

            Assert.Equal(Errno.None, fs.Sync());
            problems.AddRange(cache.CheckQuiescentInvariants());
            Assert.Equal(Errno.None, fs.Unmount());
            live = cache.LiveFolios;
            inFlight = disk.Layer.InFlight;
        });
        Assert.Empty(problems);
        Assert.Equal(0, live);
        Assert.Equal(0, inFlight);
        MachineFixture.AssertClean(m);
    }

    private sealed record ChurnOutcome(List<string> Problems, long Checks, long BackgroundPasses, long LiveFolios, long NrPages, long InFlight, long Submitted, long Ended);

    /// <summary>A writer dirtying, writing back, truncating, reading and dropping pages on CPU 1,
    /// a checker on CPU 2 calling the cache's check in a loop, the flusher in the background, and
    /// interrupts injected at 2 % of runtime points; then a sync, a check at rest and a truncate.</summary>
    private static ChurnOutcome RunChurn(CompletionMode mode, ulong seed, int steps, TaskCompletionVariant variant = TaskCompletionVariant.Merged)
    {
        using var m = MachineFixture.Create(seed: seed, cpus: 3, configure: o => o with { IrqInjectionProbability = 0.02 });
        var problems = new List<string>();
        long checks = 0, background = 0, live = -1, nrPages = -1, inFlight = -1, submitted = -1, ended = -1;
        m.Run(() =>
        {
            var (bdev, _, cache, layer) = Setup(m, mode, variant, background: true);
            var stop = 0;
            var checker = m.Spawn("checker", () =>
            {
                while (Volatile.Read(ref stop) == 0)
                {
                    problems.AddRange(cache.CheckInvariants());
                    checks++;
                    Context.CondResched();
                }
            }, 2);
            var writer = m.Spawn("writer", () => Churn(bdev, seed, steps), 1);
            writer.WaitForExit();
            Volatile.Write(ref stop, 1);
            checker.WaitForExit();
            m.IrqInjector = null;
            Assert.Equal(Errno.None, bdev.Bdi.SyncAll());
            layer.FlushDeferred();
            MachineFixture.SpinUntil(() => layer.InFlight == 0);
            problems.AddRange(cache.CheckQuiescentInvariants());
            background = bdev.Bdi.BackgroundPasses + bdev.Bdi.PeriodicPasses;
            bdev.Mapping.TruncatePages(0);
            live = cache.LiveFolios;
            nrPages = bdev.Mapping.NrPages;
            inFlight = layer.InFlight;
            submitted = layer.Submitted;
            ended = layer.Ended;
        });
        MachineFixture.AssertClean(m);
        return new ChurnOutcome(problems, checks, background, live, nrPages, inFlight, submitted, ended);
    }

    private static void Churn(BlockDeviceCache bdev, ulong seed, int steps)
    {
        var random = new Random((int)seed);
        for (var step = 0; step < steps; step++)
        {
            var page = random.Next(40);
            switch (random.Next(9))
            {
                case 0:
                case 1:
                case 2:
                    bdev.Write((page * 4096L) + random.Next(4000), new byte[1 + random.Next(9000)], dontcache: random.Next(4) == 0);
                    break;
                case 3:
                    bdev.Writepages(bdev.Mapping, new WritebackControl { SyncMode = WbSyncMode.None, NrToWrite = 1 + random.Next(8), RangeCyclic = true });
                    break;
                case 4:
                    bdev.Writepages(bdev.Mapping, new WritebackControl { SyncMode = WbSyncMode.All, RangeStart = page * 4096L, RangeEnd = (page + 8) * 4096L });
                    break;
                case 5:
                    bdev.Mapping.TruncatePagesRange(page * 4096L, (page + 1 + random.Next(6)) * 4096L);
                    break;
                case 6:
                    bdev.Mapping.InvalidateCleanPages();
                    break;
                default:
                    bdev.Read(page * 4096L, new byte[1 + random.Next(5000)]);
                    break;
            }
        }
    }

    /// <summary>Writes pages 0 to 7 of a fresh device cache and writes them back, then runs
    /// <paramref name="probe"/> (which may corrupt state, check, and repair) and returns its
    /// result; the run must end clean.</summary>
    private static IReadOnlyList<string> OnWrittenBack(CompletionMode mode, Func<BlockDeviceCache, PageCache, IReadOnlyList<string>> probe)
    {
        using var m = MachineFixture.Create(cpus: 2);
        IReadOnlyList<string>? result = null;
        m.Run(() =>
        {
            var (bdev, _, cache, layer) = Setup(m, mode);
            bdev.Write(0, new byte[8 * 4096]);
            Assert.Equal(Errno.None, bdev.Mapping.WriteAndWaitRange(0, long.MaxValue));
            layer.FlushDeferred();
            Assert.Empty(cache.CheckQuiescentInvariants());
            result = probe(bdev, cache);
            Assert.Empty(cache.CheckQuiescentInvariants());
        });
        MachineFixture.AssertClean(m);
        return result!;
    }

    private static (BlockDeviceCache Bdev, MemDisk Disk, PageCache Cache, BlockLayer Layer) Setup(Machine m, CompletionMode mode, TaskCompletionVariant variant = TaskCompletionVariant.Merged, bool background = false)
    {
        var layer = BlockLayer.Create(m, new BlockLayerOptions { Variant = variant, Checked = true });
        var disk = new MemDisk(layer, new DiskOptions { Name = "bdev0", CapacityBytes = 1 << 20, Latency = LatencyModel.Constant(20_000) });
        var options = background
            ? new PageCacheOptions { Mode = mode, MemoryLimitBytes = 48 * 4096, DirtyBackgroundBytes = 2 * 4096, DirtyBytes = 8 * 4096, DirtyExpireCentisecs = 1, DirtyWritebackCentisecs = 1 }
            : new PageCacheOptions { Mode = mode };
        var cache = PageCache.Create(m, options);
        var bdev = new BlockDeviceCache(cache, disk);
        m.IrqInjector = () =>
        {
            // Another device's completion: in IRQ mode it takes i_pages in hardirq; in task mode
            // completions never do, so it only looks a folio up.
            if (mode == CompletionMode.Irq)
            {
                var flags = bdev.Mapping.LockPagesIrqSave();
                bdev.Mapping.UnlockPagesIrqRestore(flags);
            }

            bdev.Mapping.GetFolio(1)?.Put();
        };
        return (bdev, disk, cache, layer);
    }
}
