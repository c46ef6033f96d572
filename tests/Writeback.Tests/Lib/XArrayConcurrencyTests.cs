using System.Threading;
using Writeback.Kernel;
using Writeback.Lib;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Lib;

/// <summary>Lock-free readers against a writer: a reader sees each index either empty or holding
/// the one entry that belongs there, and iteration stays ascending — never a torn or stale
/// structure.</summary>
public class XArrayConcurrencyTests
{
    private sealed record Item(ulong Index);

    /// <summary>A multi-index entry: it knows the range it was stored over.</summary>
    private sealed record Span(ulong First, int Order)
    {
        public ulong Last => First + (1UL << Order) - 1;
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void ReadersDuringWrites_OnDeterministicEngine_SeeOnlyConsistentEntries(ulong seed)
    {
        using var m = MachineFixture.Create(seed: seed, cpus: 3);
        var xa = new XArray<Item>(2);
        var items = Enumerable.Range(0, 300).Select(i => new Item((ulong)i * 7)).ToArray();
        var bad = new List<string>();
        var done = false;
        m.Run(() =>
        {
            var writer = m.Spawn("writer", () =>
            {
                for (var round = 0; round < 4; round++)
                {
                    foreach (var it in items)
                    {
                        xa.Store(it.Index, it);
                        Context.Point();
                    }

                    foreach (var it in items.Where((_, k) => (k + round) % 2 == 0))
                    {
                        xa.Erase(it.Index);
                        Context.Point();
                    }
                }

                Volatile.Write(ref done, true);
            }, 0);
            var readers = Enumerable.Range(1, 2).Select(c => m.Spawn($"reader{c}", () =>
            {
                while (!Volatile.Read(ref done))
                {
                    ReadOnce(xa, items, bad);
                    Context.Point();
                }
            }, c)).ToArray();
            writer.WaitForExit();
            foreach (var r in readers)
            {
                r.WaitForExit();
            }
        });
        Assert.Empty(bad);
        xa.AssertInvariants();
    }

    [Fact]
    [Trait("Engine", "RealThreads")]
    public void ReadersDuringWrites_OnRealThreads_SeeOnlyConsistentEntries()
    {
        // Outside any machine the array is ordinary .NET code: a plain lock for the writer, real
        // parallel readers that can meet the writer halfway through a walk.
        var xa = new XArray<Item>(2);
        var items = Enumerable.Range(0, 2000).Select(i => new Item((ulong)i * 13)).ToArray();
        var bad = new List<string>();
        var stop = 0;
        var readers = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            while (Volatile.Read(ref stop) == 0)
            {
                ReadOnce(xa, items, bad);
            }
        })).ToArray();
        foreach (var r in readers)
        {
            r.Start();
        }

        for (var round = 0; round < 20; round++)
        {
            foreach (var it in items)
            {
                xa.Store(it.Index, it);
            }

            foreach (var it in items)
            {
                xa.Erase(it.Index);
            }
        }

        Volatile.Write(ref stop, 1);
        foreach (var r in readers)
        {
            r.Join();
        }

        Assert.Empty(bad);
        Assert.True(xa.IsEmpty);
        xa.AssertInvariants();
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void ReadersDuringMultiIndexWrites_OnDeterministicEngine_SeeWholeEntries(ulong seed)
    {
        using var m = MachineFixture.Create(seed: seed, cpus: 3);
        var xa = new XArray<Span>(2);
        var bad = new List<string>();
        var done = false;
        m.Run(() =>
        {
            var writer = m.Spawn("writer", () =>
            {
                WriteMultiIndexRounds(xa, regions: 24, rounds: 3, () => Context.Point());
                Volatile.Write(ref done, true);
            }, 0);
            var readers = Enumerable.Range(1, 2).Select(c => m.Spawn($"reader{c}", () =>
            {
                while (!Volatile.Read(ref done))
                {
                    ReadSpansOnce(xa, regions: 24, bad);
                    Context.Point();
                }
            }, c)).ToArray();
            writer.WaitForExit();
            foreach (var r in readers)
            {
                r.WaitForExit();
            }
        });
        Assert.Empty(bad);
        xa.AssertInvariants();
    }

    [Fact]
    [Trait("Engine", "RealThreads")]
    public void ReadersDuringMultiIndexWrites_OnRealThreads_SeeWholeEntries()
    {
        var xa = new XArray<Span>(2);
        var bad = new List<string>();
        var stop = 0;
        var readers = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            while (Volatile.Read(ref stop) == 0)
            {
                ReadSpansOnce(xa, regions: 256, bad);
            }
        })).ToArray();
        foreach (var r in readers)
        {
            r.Start();
        }

        WriteMultiIndexRounds(xa, regions: 256, rounds: 30, () => { });
        Volatile.Write(ref stop, 1);
        foreach (var r in readers)
        {
            r.Join();
        }

        Assert.Empty(bad);
        xa.AssertInvariants();
    }

    /// <summary>Each 32-index region holds one entry of a changing order (0 to 5) at a changing
    /// aligned offset; it is erased before the next is stored, so entries never nest.</summary>
    private static void WriteMultiIndexRounds(XArray<Span> xa, int regions, int rounds, Action point)
    {
        var xas = new XaState<Span>(xa, 0);
        for (var round = 0; round < rounds; round++)
        {
            for (var r = 0; r < regions; r++)
            {
                var order = (r + round) % 6;
                var first = ((ulong)r * 32) + (((ulong)round * 8) % 32 & ~((1UL << order) - 1));
                xa.StoreRange((ulong)r * 32, ((ulong)r * 32) + 31, null);
                point();
                xas.SetOrder(first, order);
                xa.Lock.Lock();
                xas.Store(new Span(first, order));
                xa.Lock.Unlock();
                point();
            }
        }
    }

    private static void ReadSpansOnce(XArray<Span> xa, int regions, List<string> bad)
    {
        for (ulong i = 0; i < (ulong)regions * 32; i += 5)
        {
            if (xa.Load(i) is { } got && (i < got.First || i > got.Last))
            {
                Record(bad, $"load {i} returned the entry for [{got.First}, {got.Last}]");
            }
        }

        var nextFree = 0UL;
        foreach (var (index, entry) in xa.Entries())
        {
            if (index < nextFree || index < entry.First || index > entry.Last)
            {
                Record(bad, $"iteration yielded [{entry.First}, {entry.Last}] at {index} (next free {nextFree})");
            }

            nextFree = entry.Last + 1;
        }
    }

    private static void ReadOnce(XArray<Item> xa, Item[] items, List<string> bad)
    {
        foreach (var it in items.Where((_, k) => k % 17 == 0))
        {
            var got = xa.Load(it.Index);
            if (got is not null && !ReferenceEquals(got, it))
            {
                Record(bad, $"load {it.Index} returned {got.Index}");
            }

            var off = xa.Load(it.Index + 1);
            if (off is not null)
            {
                Record(bad, $"load {it.Index + 1} returned {off.Index} at an index never stored");
            }
        }

        ulong? last = null;
        foreach (var (index, entry) in xa.Entries())
        {
            if (entry.Index != index)
            {
                Record(bad, $"iteration yielded {entry.Index} at {index}");
            }

            if (last is { } l && index <= l)
            {
                Record(bad, $"iteration went from {l} to {index}");
            }

            last = index;
        }
    }

    private static void Record(List<string> bad, string what)
    {
        lock (bad)
        {
            if (bad.Count < 20)
            {
                bad.Add(what);
            }
        }
    }
}
