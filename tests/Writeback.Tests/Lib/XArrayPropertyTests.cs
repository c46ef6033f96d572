using System.Numerics;
using CsCheck;
using Writeback.Lib;

namespace Writeback.Tests.Lib;

/// <summary>Random operation sequences applied to <see cref="XArray{T}"/> and to a simple model
/// (a sorted dictionary, a reserved set and one set per mark), compared after every operation.</summary>
/// <remarks>The model follows lib/xarray.c: a reservation is XA_ZERO_ENTRY, so it keeps the
/// array non-empty, loads as NULL, is busy for insert, is skipped by iteration, and a cmpxchg
/// from NULL does not see it as NULL; a mark can be set on a reserved slot (xa_set_mark only
/// refuses NULL), and a store over a reservation keeps that mark; a non-NULL store keeps the
/// slot's marks; storing NULL or releasing a reservation clears them. Height and node count are
/// exact: the kernel frees empty nodes and shrinks the top at once, and allocates nothing for a
/// store of NULL, a failed insert or cmpxchg, or a mark on an empty slot.</remarks>
public class XArrayPropertyTests
{
    public sealed record Item(int Id);

    public enum OpKind
    {
        Store,
        StoreNull,
        Erase,
        Insert,
        CmpXchg,
        SetMark,
        ClearMark,
        Reserve,
        Release,
    }

    /// <summary>What a cmpxchg compares against: the current entry, NULL, or an equal-looking other object.</summary>
    public enum OldKind
    {
        Current,
        Null,
        Lookalike,
    }

    /// <summary>One operation. <c>Slot</c> picks an index from the sample's pool; <c>ItemId</c>
    /// picks the entry (for cmpxchg, id 0 means NULL).</summary>
    public sealed record Op(OpKind Kind, int Slot, int ItemId, XaMark Mark, OldKind Old)
    {
        public override string ToString() => Kind switch
        {
            OpKind.Store or OpKind.Insert => $"{Kind}(#{Slot}, item{ItemId})",
            OpKind.CmpXchg => $"CmpXchg(#{Slot}, {Old}, {(ItemId == 0 ? "null" : $"item{ItemId}")})",
            OpKind.SetMark or OpKind.ClearMark => $"{Kind}(#{Slot}, {Mark})",
            _ => $"{Kind}(#{Slot})",
        };
    }

    private const int ItemCount = 6;

    private static readonly XaMark[] s_marks = [XaMark.Mark0, XaMark.Mark1, XaMark.Mark2];

    /// <summary>Small values, powers of two and their neighbours, values near ulong.MaxValue, and a few anywhere.</summary>
    private static readonly Gen<ulong> s_genIndex = Gen.Frequency(
        (4, Gen.Int[0, 20].Select(i => (ulong)i)),
        (4, Gen.Select(Gen.Int[1, 63], Gen.Int[-1, 1], (bit, delta) => PowerOfTwoPlus(bit, delta))),
        (3, Gen.Int[0, 20].Select(d => ulong.MaxValue - (ulong)d)),
        (1, Gen.ULong));

    private static readonly Gen<OpKind> s_genKind = Gen.Frequency(
        (5, OpKind.Store),
        (1, OpKind.StoreNull),
        (2, OpKind.Erase),
        (2, OpKind.Insert),
        (2, OpKind.CmpXchg),
        (3, OpKind.SetMark),
        (2, OpKind.ClearMark),
        (2, OpKind.Reserve),
        (1, OpKind.Release));

    private static readonly Gen<Op> s_genOp = Gen.Select(
        s_genKind,
        Gen.Int[0, 63],
        Gen.Int[0, ItemCount - 1],
        Gen.Enum<XaMark>(),
        Gen.Enum<OldKind>(),
        (kind, slot, item, mark, old) => new Op(kind, slot, item, mark, old));

    private static ulong PowerOfTwoPlus(int bit, int delta)
    {
        var p = 1UL << bit;
        return delta < 0 ? p - 1 : p + (ulong)delta;
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(6)]
    public void RandomOperations_OnSpreadIndexes_MatchTheModel(int shift)
    {
        Gen.Select(s_genIndex.Array[2, 10], s_genOp.Array[1, 80])
            .Sample((pool, ops) => Run(shift, pool, ops), iter: 200, threads: 1);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(6)]
    public void RandomOperations_OnDenseSmallIndexes_MatchTheModel(int shift)
    {
        // Dense pools fill whole nodes (count == chunk size) and empty them again.
        var genPool = Gen.Int[0, 150].Select(i => (ulong)i).Array[8, 40];
        Gen.Select(genPool, s_genOp.Array[20, 150])
            .Sample((pool, ops) => Run(shift, pool, ops), iter: 100, threads: 1);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(6)]
    public void Walk_WithAMutationAtEachStep_SeesEveryUntouchedEntryInOrder(int shift)
    {
        // xa_for_each() lets the caller modify the array as it goes: the walk stays ascending,
        // yields only what was there at some point, and sees every entry nobody touched.
        var genPool = Gen.OneOf(s_genIndex.Array[2, 10], Gen.Int[0, 150].Select(i => (ulong)i).Array[8, 40]);
        Gen.Select(genPool, s_genOp.Array[5, 80], s_genOp.Array[1, 60], Gen.Bool)
            .Sample((pool, setup, during, marked) => Walk(shift, pool, setup, during, marked), iter: 200, threads: 1);
    }

    private static void Walk(int shift, ulong[] pool, Op[] setup, Op[] during, bool marked)
    {
        var xa = new XArray<Item>(shift);
        var model = new Model();
        var items = Enumerable.Range(0, ItemCount).Select(i => new Item(i)).ToArray();
        foreach (var op in setup)
        {
            Apply(xa, model, items, op, pool[op.Slot % pool.Length]);
        }

        xa.AssertInvariants();
        XaMark? mark = marked ? XaMark.Mark0 : null;
        var before = model.Entries(0, ulong.MaxValue, mark).ToList();
        var everPresent = before.Select(e => (e.Index, e.Entry)).ToHashSet();
        var touched = new HashSet<ulong>();
        var seen = new List<ulong>();
        var next = 0;
        var walk = marked ? xa.EntriesMarked(XaMark.Mark0) : xa.Entries();
        foreach (var (index, entry) in walk)
        {
            var where = $"shift {shift}, walk {(marked ? "marked" : "all")}, after {next} mutations";
            if (seen.Count > 0 && index <= seen[^1])
            {
                Assert.Fail($"{where}: 0x{index:X} after 0x{seen[^1]:X}");
            }

            Assert.True(everPresent.Contains((index, entry)), $"{where}: 0x{index:X} holds {entry}, which was never stored there");
            Assert.True(seen.Count <= before.Count + during.Length, $"{where}: the walk does not end");
            seen.Add(index);
            if (next < during.Length)
            {
                var op = during[next++];
                var at = pool[op.Slot % pool.Length];
                touched.Add(at);
                Apply(xa, model, items, op, at);
                xa.AssertInvariants();
                if (model.Load(at) is { } now)
                {
                    everPresent.Add((at, now));
                }
            }
        }

        var missed = before.Where(e => !touched.Contains(e.Index) && !seen.Contains(e.Index)).Select(e => $"0x{e.Index:X}").ToList();
        Assert.True(missed.Count == 0, $"shift {shift}: untouched entries not visited: {string.Join(", ", missed)}");
    }

    private static void Run(int shift, ulong[] pool, Op[] ops)
    {
        var xa = new XArray<Item>(shift);
        var model = new Model();
        var items = Enumerable.Range(0, ItemCount).Select(i => new Item(i)).ToArray();

        for (var step = 0; step < ops.Length; step++)
        {
            var op = ops[step];
            var index = pool[op.Slot % pool.Length];
            try
            {
                Apply(xa, model, items, op, index);
                xa.AssertInvariants();
                Compare(xa, model, pool, shift);
            }
            catch (Exception e)
            {
                throw new Xunit.Sdk.XunitException(
                    $"shift {shift}, step {step}: {op} at index 0x{index:X}: {e.Message}", e);
            }
        }

        xa.Destroy();
        xa.AssertInvariants();
        Assert.True(xa.IsEmpty);
        Assert.Equal(0, xa.NodeCount);
    }

    private static void Apply(XArray<Item> xa, Model model, Item[] items, Op op, ulong index)
    {
        switch (op.Kind)
        {
            case OpKind.Store:
                Assert.Same(model.Store(index, items[op.ItemId]), xa.Store(index, items[op.ItemId]));
                break;
            case OpKind.StoreNull:
                Assert.Same(model.Store(index, null), xa.Store(index, null));
                break;
            case OpKind.Erase:
                Assert.Same(model.Store(index, null), xa.Erase(index));
                break;
            case OpKind.Insert:
                Assert.Equal(model.Insert(index, items[op.ItemId]), xa.Insert(index, items[op.ItemId]));
                break;
            case OpKind.CmpXchg:
            {
                var current = model.Load(index);
                var old = op.Old switch
                {
                    OldKind.Current => current,
                    OldKind.Null => null,
                    _ => new Item(current?.Id ?? op.ItemId),
                };
                var entry = op.ItemId == 0 ? null : items[op.ItemId];
                Assert.Same(model.CmpXchg(index, old, entry), xa.CmpXchg(index, old, entry));
                break;
            }

            case OpKind.SetMark:
                model.SetMark(index, op.Mark);
                xa.SetMark(index, op.Mark);
                break;
            case OpKind.ClearMark:
                model.ClearMark(index, op.Mark);
                xa.ClearMark(index, op.Mark);
                break;
            case OpKind.Reserve:
                model.Reserve(index);
                xa.Reserve(index);
                break;
            case OpKind.Release:
                model.Release(index);
                xa.Release(index);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(op), op.Kind, "unknown operation");
        }
    }

    private static void Compare(XArray<Item> xa, Model model, ulong[] pool, int shift)
    {
        Assert.Equal(model.IsEmpty, xa.IsEmpty);
        foreach (var m in s_marks)
        {
            Assert.Equal(model.Marked(m), xa.Marked(m));
        }

        foreach (var index in pool)
        {
            Assert.Same(model.Load(index), xa.Load(index));
            foreach (var m in s_marks)
            {
                Assert.Equal(model.GetMark(index, m), xa.GetMark(index, m));
            }
        }

        AssertSameEntries(model.Entries(0, ulong.MaxValue, null), xa.Entries(), "Entries()");
        foreach (var m in s_marks)
        {
            AssertSameEntries(model.Entries(0, ulong.MaxValue, m), xa.EntriesMarked(m), $"EntriesMarked({m})");
        }

        // Bounded iteration between two pool indexes, in both orders (one of them is empty).
        var a = pool[0];
        var b = pool[^1];
        AssertSameEntries(model.Entries(a, b, null), xa.Entries(a, b), $"Entries({a:X}, {b:X})");
        AssertSameEntries(model.Entries(b, a, null), xa.Entries(b, a), $"Entries({b:X}, {a:X})");
        AssertSameEntries(model.Entries(a, b, XaMark.Mark0), xa.EntriesMarked(XaMark.Mark0, a, b), $"EntriesMarked(Mark0, {a:X}, {b:X})");

        // Find from the start and around a few pool indexes (all of them would make dense runs slow).
        CompareFind(xa, model, 0, ulong.MaxValue);
        foreach (var index in pool.Take(8))
        {
            CompareFind(xa, model, index, ulong.MaxValue);
            CompareFind(xa, model, unchecked(index + 1), ulong.MaxValue);
            CompareFind(xa, model, 0, index);
            CompareFind(xa, model, 0, unchecked(index - 1));
        }

        Assert.Equal(model.Height(shift), xa.Height);
        Assert.Equal(model.NodeCount(shift), xa.NodeCount);
    }

    private static void CompareFind(XArray<Item> xa, Model model, ulong start, ulong max)
    {
        CompareOneFind(xa, model, start, max, null);
        foreach (var m in s_marks)
        {
            CompareOneFind(xa, model, start, max, m);
        }
    }

    private static void CompareOneFind(XArray<Item> xa, Model model, ulong start, ulong max, XaMark? mark)
    {
        var expected = model.Entries(start, max, mark).Take(1).ToList();
        var index = start;
        var found = mark is { } m ? xa.FindMarked(ref index, max, m) : xa.Find(ref index, max);
        var what = mark is null ? $"Find({start:X}, {max:X})" : $"FindMarked({start:X}, {max:X}, {mark})";
        if (expected.Count == 0)
        {
            Assert.True(found is null, $"{what} found {found} at {index:X}, expected nothing");
        }
        else
        {
            Assert.True(ReferenceEquals(expected[0].Entry, found), $"{what} returned {found?.ToString() ?? "null"}, expected {expected[0].Entry} at {expected[0].Index:X}");
            Assert.True(expected[0].Index == index, $"{what} set index {index:X}, expected {expected[0].Index:X}");
        }
    }

    private static void AssertSameEntries(
        IEnumerable<(ulong Index, Item Entry)> expected, IEnumerable<(ulong Index, Item Entry)> actual, string what)
    {
        var e = expected.ToList();

        // Bound the walk: an iterator that wraps past ulong.MaxValue would never stop.
        var a = actual.Take(e.Count + 1).ToList();
        var text = $"{what}: expected [{string.Join(", ", e.Select(x => $"{x.Index:X}"))}], got [{string.Join(", ", a.Select(x => $"{x.Index:X}"))}]";
        Assert.True(e.Count == a.Count, text);
        for (var i = 0; i < e.Count; i++)
        {
            Assert.True(e[i].Index == a[i].Index && ReferenceEquals(e[i].Entry, a[i].Entry), text);
        }
    }

    /// <summary>The reference: what lib/xarray.c's normal API does, on plain collections.</summary>
    private sealed class Model
    {
        private readonly SortedDictionary<ulong, Item> _entries = [];
        private readonly HashSet<ulong> _reserved = [];
        private readonly HashSet<ulong>[] _marks = [[], [], []];

        public bool IsEmpty => _entries.Count == 0 && _reserved.Count == 0;

        public Item? Load(ulong index) => _entries.GetValueOrDefault(index);

        public bool Marked(XaMark m) => _marks[(int)m].Count > 0;

        public bool GetMark(ulong index, XaMark m) => _marks[(int)m].Contains(index);

        /// <summary>xa_store: NULL erases (and clears marks); anything else replaces, keeping marks.</summary>
        public Item? Store(ulong index, Item? entry)
        {
            var previous = Load(index);
            _reserved.Remove(index);
            if (entry is null)
            {
                _entries.Remove(index);
                ClearMarks(index);
            }
            else
            {
                _entries[index] = entry;
            }

            return previous;
        }

        public bool Insert(ulong index, Item entry)
        {
            if (IsPresent(index))
            {
                return false;
            }

            _entries[index] = entry;
            return true;
        }

        /// <summary>xa_cmpxchg: a reservation is XA_ZERO_ENTRY, which no caller's old value matches; it reads back as NULL.</summary>
        public Item? CmpXchg(ulong index, Item? old, Item? entry)
        {
            if (_reserved.Contains(index))
            {
                return null;
            }

            var current = Load(index);
            if (ReferenceEquals(current, old))
            {
                Store(index, entry);
            }

            return current;
        }

        public void Reserve(ulong index)
        {
            if (!IsPresent(index))
            {
                _reserved.Add(index);
            }
        }

        public void Release(ulong index)
        {
            if (_reserved.Remove(index))
            {
                ClearMarks(index);
            }
        }

        public void SetMark(ulong index, XaMark m)
        {
            if (IsPresent(index))
            {
                _marks[(int)m].Add(index);
            }
        }

        public void ClearMark(ulong index, XaMark m) => _marks[(int)m].Remove(index);

        /// <summary>Entries (not reservations) in [start, max], optionally only those with a mark.</summary>
        public IEnumerable<(ulong Index, Item Entry)> Entries(ulong start, ulong max, XaMark? mark)
        {
            foreach (var (index, entry) in _entries)
            {
                if (index < start || index > max)
                {
                    continue;
                }

                if (mark is { } m && !_marks[(int)m].Contains(index))
                {
                    continue;
                }

                yield return (index, entry);
            }
        }

        /// <summary>Levels the kernel's tree has: just enough for the highest occupied slot.</summary>
        public int Height(int shift)
        {
            var max = Occupied().DefaultIfEmpty(0UL).Max();
            if (max == 0)
            {
                return 0;
            }

            var bits = 64 - BitOperations.LeadingZeroCount(max);
            return (bits + shift - 1) / shift;
        }

        /// <summary>Nodes the kernel's tree has: at each level, one per distinct prefix above it.</summary>
        public int NodeCount(int shift)
        {
            var height = Height(shift);
            var occupied = Occupied().ToList();
            var nodes = 0;
            for (var level = 0; level < height; level++)
            {
                var prefixBits = shift * (level + 1);
                nodes += prefixBits >= 64 ? 1 : occupied.Select(i => i >> prefixBits).Distinct().Count();
            }

            return nodes;
        }

        private IEnumerable<ulong> Occupied() => _entries.Keys.Concat(_reserved);

        private bool IsPresent(ulong index) => _entries.ContainsKey(index) || _reserved.Contains(index);

        private void ClearMarks(ulong index)
        {
            foreach (var set in _marks)
            {
                set.Remove(index);
            }
        }
    }
}
