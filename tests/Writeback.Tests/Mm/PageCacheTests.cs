using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Mm;

/// <summary>Folios in i_pages: the tags each state change sets, and the i_pages lock flavour
/// each completion mode needs (KERNEL-REFERENCE.md §2.1, §2.2, §3.5).</summary>
public class PageCacheTests
{
    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void WritebackCycle_SetsAndClearsTheTags(CompletionMode mode)
    {
        using var m = MachineFixture.Create();
        var steps = new List<string>();
        m.Run(() =>
        {
            var cache = PageCache.Create(m, new PageCacheOptions { Mode = mode });
            var mapping = new AddressSpace(cache);
            var folio = cache.AllocFolio();
            Assert.Equal(Errno.None, mapping.AddFolio(folio, 7));
            Assert.True(folio.MarkDirty());
            Assert.False(folio.MarkDirty());
            steps.Add(Tags(mapping, 7));
            mapping.TagPagesForWriteback(0, ulong.MaxValue);
            steps.Add(Tags(mapping, 7));
            Assert.True(folio.ClearDirtyForIo());
            steps.Add(Tags(mapping, 7));
            folio.StartWriteback();
            steps.Add(Tags(mapping, 7));
            folio.Unlock();
            folio.EndWriteback();
            steps.Add(Tags(mapping, 7));
        });
        // The DIRTY tag outlives PG_dirty until writeback starts (folio_clear_dirty_for_io).
        Assert.Equal(["D--", "D-T", "D-T", "-W-", "---"], steps);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void StartWriteback_OfARedirtiedFolioKeepsTheDirtyTag_AndKeepWriteKeepsToWrite()
    {
        using var m = MachineFixture.Create();
        string? tags = null;
        m.Run(() =>
        {
            var cache = PageCache.Create(m);
            var mapping = new AddressSpace(cache);
            var folio = cache.AllocFolio();
            mapping.AddFolio(folio, 3);
            folio.MarkDirty();
            mapping.TagPagesForWriteback(0, 10);
            folio.StartWriteback(keepWrite: true);
            tags = Tags(mapping, 3);
            folio.Unlock();
            folio.EndWriteback();
        });
        Assert.Equal("DWT", tags);
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void EndWriteback_InTheModesCompletionContext_IsLockdepClean(CompletionMode mode)
    {
        // IRQ mode ends writeback in hardirq with an irq-safe i_pages; task mode ends it in a
        // kworker with a plain one. Both are consistent.
        using var m = MachineFixture.Create(cpus: 2);
        var ended = false;
        m.Run(() =>
        {
            var cache = PageCache.Create(m, new PageCacheOptions { Mode = mode });
            var mapping = new AddressSpace(cache);
            var folio = cache.AllocFolio();
            mapping.AddFolio(folio, 0);
            folio.MarkDirty();
            folio.ClearDirtyForIo();
            folio.StartWriteback();
            folio.Unlock();
            if (mode == CompletionMode.Irq)
            {
                m.RaiseIrq(0, "disk", folio.EndWriteback);
            }
            else
            {
                m.SystemWq.QueueWork(new WorkStruct(_ => folio.EndWriteback()));
            }

            folio.WaitWriteback();
            ended = !folio.Test(FolioFlags.Writeback) && !mapping.Tagged(PageCacheTag.Writeback);
        });
        Assert.True(ended);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void ForcedPlainLock_WithIrqCompletion_IsLockdepsInconsistentLockState()
    {
        using var m = MachineFixture.Create(cpus: 2, lockdep: LockdepMode.Report);
        m.Run(() =>
        {
            var cache = PageCache.Create(m, new PageCacheOptions { Mode = CompletionMode.Irq, ForcePlainLock = true });
            var mapping = new AddressSpace(cache);
            var folio = cache.AllocFolio();
            mapping.AddFolio(folio, 0);
            folio.MarkDirty();
            folio.ClearDirtyForIo();
            folio.StartWriteback();
            folio.Unlock();
            m.RaiseIrq(1, "disk", folio.EndWriteback);
            folio.WaitWriteback();
        });
        var report = Assert.Single(m.Reports);
        Assert.Contains("inconsistent", report.Text, StringComparison.Ordinal);
        Assert.Contains("&mapping->i_pages", report.Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(CompletionMode.Irq, false)]
    [InlineData(CompletionMode.Task, true)]
    public void Dropbehind_IsRemovedOnlyWhenWritebackEndsInTaskContext(CompletionMode mode, bool removed)
    {
        using var m = MachineFixture.Create(cpus: 2);
        var cached = true;
        PageCache? cache = null;
        m.Run(() =>
        {
            cache = PageCache.Create(m, new PageCacheOptions { Mode = mode });
            var mapping = new AddressSpace(cache);
            var folio = cache.AllocFolio();
            mapping.AddFolio(folio, 0);
            folio.SetDropbehind();
            folio.MarkDirty();
            folio.ClearDirtyForIo();
            folio.StartWriteback();
            folio.Unlock();
            var done = new Completion();
            void End()
            {
                folio.EndWriteback();
                done.Complete();
            }

            if (mode == CompletionMode.Irq)
            {
                m.RaiseIrq(1, "disk", End);
            }
            else
            {
                m.SystemWq.QueueWork(new WorkStruct(_ => End()));
            }

            done.WaitForCompletion();
            cached = mapping.GetFolio(0) is { } f && ReleaseAndTrue(f);
        });
        Assert.Equal(!removed, cached);
        Assert.Equal(removed ? 1 : 0, cache!.DropbehindRemoved);
        Assert.Equal(removed ? 0 : 1, cache.DropbehindSkipped);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void AddFolio_OverACachedRangeIsEexist_AndLargeFoliosCoverTheirPages()
    {
        using var m = MachineFixture.Create();
        var results = new List<Errno>();
        long pages = 0;
        m.Run(() =>
        {
            var cache = PageCache.Create(m);
            var mapping = new AddressSpace(cache);
            var large = cache.AllocFolio(2);
            results.Add(mapping.AddFolio(large, 5));
            Assert.Equal(4UL, large.Index);
            Assert.Same(large, mapping.Pages.Load(7));
            large.Unlock();
            results.Add(mapping.AddFolio(cache.AllocFolio(), 6));
            results.Add(mapping.AddFolio(cache.AllocFolio(), 8));
            pages = mapping.NrPages;
        });
        Assert.Equal([Errno.None, Errno.EEXIST, Errno.None], results);
        Assert.Equal(5, pages);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void GetFolio_ReturnsItWithAReference_AndNullOnceRemoved()
    {
        using var m = MachineFixture.Create();
        var refs = new List<int>();
        var after = true;
        m.Run(() =>
        {
            var cache = PageCache.Create(m);
            var mapping = new AddressSpace(cache);
            var folio = cache.AllocFolio();
            mapping.AddFolio(folio, 1);
            refs.Add(folio.RefCount);
            var got = mapping.GetFolio(1)!;
            refs.Add(got.RefCount);
            got.Put();
            mapping.RemoveFolio(folio);
            folio.Unlock();
            refs.Add(folio.RefCount);
            after = mapping.GetFolio(1) is not null;
        });
        Assert.Equal([2, 3, 1], refs);
        Assert.False(after);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void TagPagesForWriteback_TagsOnlyDirtyFoliosInRange_AndDropsTheLockEvery4096()
    {
        using var m = MachineFixture.Create(configure: o => o with { LockStat = true });
        long toWrite = 0;
        var untagged = true;
        long acquisitions = 0;
        m.Run(() =>
        {
            var cache = PageCache.Create(m);
            var mapping = new AddressSpace(cache);
            for (ulong i = 0; i < 10_000; i++)
            {
                var folio = cache.AllocFolio();
                mapping.AddFolio(folio, i);
                if (i % 2 == 0)
                {
                    folio.MarkDirty();
                }

                folio.Unlock();
            }

            var before = LockAcquisitions(m);
            mapping.TagPagesForWriteback(0, 9_999);
            acquisitions = LockAcquisitions(m) - before;
            toWrite = mapping.Pages.EntriesMarked(PageCacheTag.ToWrite).LongCount();
            untagged = !mapping.Pages.GetMark(1, PageCacheTag.ToWrite);
        });
        Assert.Equal(5_000, toWrite);
        Assert.True(untagged);
        Assert.Equal(2, acquisitions);
        MachineFixture.AssertClean(m);
    }

    private static long LockAcquisitions(Machine m) =>
        m.Lockdep.Classes.Where(c => c.Name == "&mapping->i_pages").Sum(c => c.Stats.Acquisitions);

    private static bool ReleaseAndTrue(Folio f)
    {
        f.Put();
        return true;
    }

    private static string Tags(AddressSpace mapping, ulong index) => string.Concat(
        mapping.Pages.GetMark(index, PageCacheTag.Dirty) ? "D" : "-",
        mapping.Pages.GetMark(index, PageCacheTag.Writeback) ? "W" : "-",
        mapping.Pages.GetMark(index, PageCacheTag.ToWrite) ? "T" : "-");
}
