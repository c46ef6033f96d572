using BenchmarkDotNet.Attributes;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Benchmarks.Mm;

/// <summary>End-writeback cost per folio with the irq-safe i_pages lock (IRQ completion) against
/// the plain one (task completion), on an adopted real-engine thread.</summary>
/// <remarks>Issue 5: "end-writeback cost per folio with the irqsave lock against the plain
/// lock". Each operation starts writeback on a folio (lock, start, unlock) and ends it; the
/// difference between the rows is the price of disabling interrupts around every i_pages hold.</remarks>
[MemoryDiagnoser]
public class EndWritebackBenchmarks
{
    private const int Folios = 1024;
    private Machine? _machine;
    private IDisposable? _adopted;
    private Folio[] _folios = [];

    /// <summary>The completion design (and so the lock flavour).</summary>
    [Params(CompletionMode.Irq, CompletionMode.Task)]
    public CompletionMode Mode { get; set; }

    /// <summary>A 1-CPU real-engine machine, the benchmark thread adopted as a task, 1024 cached folios.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _machine = Machine.Create(new MachineOptions { Engine = EngineKind.Real, Cpus = 1, Lockdep = LockdepMode.Off });
        _adopted = _machine.AdoptCurrentThread("bench", 0);
        var cache = PageCache.Create(_machine, new PageCacheOptions { Mode = Mode });
        var mapping = new AddressSpace(cache);
        _folios = new Folio[Folios];
        for (var i = 0; i < Folios; i++)
        {
            var folio = cache.AllocFolio();
            mapping.AddFolio(folio, (ulong)i);
            folio.Unlock();
            _folios[i] = folio;
        }
    }

    /// <summary>Releases the machine; checks it reported nothing.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _adopted?.Dispose();
        if (_machine is { } m)
        {
            if (m.Reports.Count != 0)
            {
                throw new InvalidOperationException("the benchmark machine reported: " + m.Reports[0].Text);
            }

            m.Dispose();
        }
    }

    /// <summary>Start and end writeback of each folio.</summary>
    [Benchmark(OperationsPerInvoke = Folios)]
    public void StartAndEndWriteback()
    {
        foreach (var folio in _folios)
        {
            folio.TryLock();
            folio.StartWriteback();
            folio.Unlock();
            folio.EndWriteback();
        }
    }
}
