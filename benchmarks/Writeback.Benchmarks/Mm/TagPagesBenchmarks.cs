using BenchmarkDotNet.Attributes;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Benchmarks.Mm;

/// <summary>tag_pages_for_writeback() over 1,000,000 dirty folios (an integrity pass's first
/// step), against walking the same DIRTY-tagged entries without tagging them.</summary>
[MemoryDiagnoser]
public class TagPagesBenchmarks
{
    private const int Folios = 1_000_000;
    private Machine? _machine;
    private IDisposable? _adopted;
    private AddressSpace _mapping = null!;

    /// <summary>A real-engine machine with one mapping of 1,000,000 dirty folios.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _machine = Machine.Create(new MachineOptions { Engine = EngineKind.Real, Cpus = 1, Lockdep = LockdepMode.Off });
        _adopted = _machine.AdoptCurrentThread("bench", 0);
        var cache = PageCache.Create(_machine, new PageCacheOptions { MemoryLimitBytes = 8L << 30, DirtyBytes = 8L << 30, DirtyBackgroundBytes = 8L << 30 });
        _mapping = new AddressSpace(cache);
        for (var i = 0; i < Folios; i++)
        {
            var folio = cache.AllocFolio();
            _mapping.AddFolio(folio, (ulong)i);
            folio.MarkDirty();
            folio.Unlock();
        }
    }

    /// <summary>Clears TOWRITE so that every iteration tags from scratch.</summary>
    [IterationSetup(Target = nameof(TagPagesForWriteback))]
    public void Untag()
    {
        _mapping.Pages.Lock.LockIrq();
        foreach (var (index, _) in _mapping.Pages.EntriesMarked(PageCacheTag.ToWrite))
        {
            _mapping.Pages.ClearMarkLocked(index, PageCacheTag.ToWrite);
        }

        _mapping.Pages.Lock.UnlockIrq();
    }

    /// <summary>Releases the machine.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _adopted?.Dispose();
        _machine?.Dispose();
    }

    /// <summary>Walking the DIRTY tag without the lock (baseline).</summary>
    [Benchmark(Baseline = true)]
    public long WalkDirty() => _mapping.Pages.EntriesMarked(PageCacheTag.Dirty).LongCount();

    /// <summary>Tagging every DIRTY folio TOWRITE under i_pages (xa_lock_irq, dropped every 4096).</summary>
    [Benchmark]
    public void TagPagesForWriteback() => _mapping.TagPagesForWriteback(0, ulong.MaxValue);
}
