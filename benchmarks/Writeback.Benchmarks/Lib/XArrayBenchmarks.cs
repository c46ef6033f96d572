using BenchmarkDotNet.Attributes;
using Writeback.Lib;

namespace Writeback.Benchmarks.Lib;

/// <summary>XArray against the .NET collections it replaces, on a dense 1,000,000-entry array.</summary>
/// <remarks>Targets (issue 3): Load at most 1.5x Dictionary.TryGetValue; ordered iteration at
/// least 2x faster than SortedDictionary; EntriesMarked with 0.1 % marked at least 20x faster
/// than filtering a full iteration; at most 12 bytes per entry.</remarks>
[MemoryDiagnoser]
public class XArrayBenchmarks
{
    private const int N = 1_000_000;
    private const int Lookups = 4096;
    private readonly XArray<object> _xa = new();
    private readonly Dictionary<ulong, object> _dict = [];
    private readonly SortedDictionary<ulong, object> _sorted = [];
    private readonly HashSet<ulong> _markedSet = [];
    private ulong[] _keys = [];

    /// <summary>Fills the three collections with the same entries and marks every 1000th entry.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var item = new object();
        for (ulong i = 0; i < N; i++)
        {
            _xa.Store(i, item);
            _dict[i] = item;
            _sorted[i] = item;
            if (i % 1000 == 0)
            {
                _xa.SetMark(i, XaMark.Mark0);
                _markedSet.Add(i);
            }
        }

        var rng = new Random(42);
        _keys = [.. Enumerable.Range(0, Lookups).Select(_ => (ulong)rng.Next(N))];
    }

    /// <summary>Random lookups in the dictionary (baseline for Load).</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Lookups)]
    [BenchmarkCategory("Load")]
    public int DictionaryTryGetValue()
    {
        var n = 0;
        foreach (var k in _keys)
        {
            n += _dict.TryGetValue(k, out _) ? 1 : 0;
        }

        return n;
    }

    /// <summary>Random lookups in the XArray.</summary>
    [Benchmark(OperationsPerInvoke = Lookups)]
    [BenchmarkCategory("Load")]
    public int XArrayLoad()
    {
        var n = 0;
        foreach (var k in _keys)
        {
            n += _xa.Load(k) is null ? 0 : 1;
        }

        return n;
    }

    /// <summary>Ordered iteration of the sorted dictionary.</summary>
    [Benchmark]
    public int SortedDictionaryIterate()
    {
        var n = 0;
        foreach (var kv in _sorted)
        {
            n += kv.Value is null ? 0 : 1;
        }

        return n;
    }

    /// <summary>Ordered iteration of the XArray.</summary>
    [Benchmark]
    public int XArrayEntries()
    {
        var n = 0;
        foreach (var e in _xa.Entries())
        {
            n += e.Entry is null ? 0 : 1;
        }

        return n;
    }

    /// <summary>Marked entries found by filtering a full iteration.</summary>
    [Benchmark]
    public int FilteredIterate()
    {
        var n = 0;
        foreach (var e in _xa.Entries())
        {
            n += _markedSet.Contains(e.Index) ? 1 : 0;
        }

        return n;
    }

    /// <summary>Marked entries found through the mark bitmaps.</summary>
    [Benchmark]
    public int XArrayEntriesMarked()
    {
        var n = 0;
        foreach (var e in _xa.EntriesMarked(XaMark.Mark0))
        {
            n += e.Entry is null ? 0 : 1;
        }

        return n;
    }

    /// <summary>Bytes allocated to build a dense 1,000,000-entry array (divide by N for bytes per entry).</summary>
    [Benchmark]
    public XArray<object> BuildDense()
    {
        var xa = new XArray<object>();
        var item = new object();
        for (ulong i = 0; i < N; i++)
        {
            xa.Store(i, item);
        }

        return xa;
    }
}
