using CsCheck;
using Writeback.Kernel;
using Writeback.Lib;

namespace Writeback.Tests.Lib;

/// <summary>Random operation sequences applied to <see cref="XArray{T}"/> and to
/// <see cref="XArrayModel"/> (a sorted dictionary of aligned ranges), compared after every operation.</summary>
/// <remarks>The model follows lib/xarray.c (see <see cref="XArrayModel"/>): a reservation is
/// XA_ZERO_ENTRY, so it keeps the array non-empty, loads as NULL, is busy for insert, is skipped
/// by iteration, and a cmpxchg from NULL does not see it as NULL; a mark can be set on a
/// reserved slot or a value (xa_set_mark only refuses NULL); a non-NULL store keeps the slot's
/// marks; storing NULL or releasing a reservation clears them. Multi-index entries come from
/// stores through a cursor of some order (XA_STATE_ORDER() and xas_store()) and from
/// xa_store_range(); value entries from xa_mk_value(). Height and node count are exact: the
/// kernel frees empty nodes and shrinks the top at once, and allocates nothing for a store of
/// NULL, a failed insert or cmpxchg, or a mark on an empty slot.</remarks>
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

        /// <summary>xas_store() of an item through a cursor of <c>Order</c>.</summary>
        CursorStore,

        /// <summary>xas_store(NULL) through a cursor of <c>Order</c>.</summary>
        CursorStoreNull,

        /// <summary>xa_store_range() of an item over [index, index + <c>Length</c>].</summary>
        StoreRange,

        /// <summary>xa_store_range() of NULL over [index, index + <c>Length</c>].</summary>
        StoreRangeNull,

        /// <summary>xa_store() of xa_mk_value(<c>Value</c>).</summary>
        StoreValue,

        /// <summary>xas_store() of xa_mk_value(<c>Value</c>) through a cursor of <c>Order</c>.</summary>
        CursorStoreValue,
    }

    /// <summary>What a cmpxchg compares against: the current entry, NULL, or an equal-looking other object.</summary>
    public enum OldKind
    {
        Current,
        Null,
        Lookalike,
    }

    /// <summary>One operation. <c>Slot</c> picks an index from the sample's pool; <c>ItemId</c>
    /// picks the entry (for cmpxchg, id 0 means NULL); <c>Order</c> is a cursor's order,
    /// <c>Length</c> a range's length less one, <c>Value</c> a value entry's integer.</summary>
    public sealed record Op(OpKind Kind, int Slot, int ItemId, XaMark Mark, OldKind Old, int Order, int Length, ulong Value)
    {
        public override string ToString() => Kind switch
        {
            OpKind.Store or OpKind.Insert => $"{Kind}(#{Slot}, item{ItemId})",
            OpKind.CmpXchg => $"CmpXchg(#{Slot}, {Old}, {(ItemId == 0 ? "null" : $"item{ItemId}")})",
            OpKind.SetMark or OpKind.ClearMark => $"{Kind}(#{Slot}, {Mark})",
            OpKind.CursorStore => $"CursorStore(#{Slot}, order {Order}, item{ItemId})",
            OpKind.CursorStoreNull => $"CursorStore(#{Slot}, order {Order}, null)",
            OpKind.StoreRange => $"StoreRange(#{Slot}, +{Length}, item{ItemId})",
            OpKind.StoreRangeNull => $"StoreRange(#{Slot}, +{Length}, null)",
            OpKind.StoreValue => $"StoreValue(#{Slot}, {Value})",
            OpKind.CursorStoreValue => $"CursorStoreValue(#{Slot}, order {Order}, {Value})",
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

    /// <summary>Dense pools fill whole nodes (count == chunk size) and empty them again.</summary>
    private static readonly Gen<ulong[]> s_genDensePool = Gen.Int[0, 150].Select(i => (ulong)i).Array[8, 40];

    private static readonly Gen<OpKind> s_genKind = Gen.Frequency(
        (5, OpKind.Store),
        (1, OpKind.StoreNull),
        (2, OpKind.Erase),
        (2, OpKind.Insert),
        (2, OpKind.CmpXchg),
        (3, OpKind.SetMark),
        (2, OpKind.ClearMark),
        (2, OpKind.Reserve),
        (1, OpKind.Release),
        (3, OpKind.CursorStore),
        (1, OpKind.CursorStoreNull),
        (2, OpKind.StoreRange),
        (1, OpKind.StoreRangeNull),
        (1, OpKind.StoreValue),
        (1, OpKind.CursorStoreValue));

    /// <summary>Range lengths: mostly within a node, sometimes across a few.</summary>
    private static readonly Gen<int> s_genLength = Gen.Frequency((3, Gen.Int[0, 8]), (1, Gen.Int[0, 140]));

    private static readonly Gen<ulong> s_genValue = Gen.Frequency((4, Gen.ULong[0, 5]), (1, Gen.Const((ulong)long.MaxValue)));

    private static readonly Dictionary<int, Gen<Op>> s_genOps = new[] { 2, 3, 6 }.ToDictionary(s => s, CreateGenOp);

    private static ulong PowerOfTwoPlus(int bit, int delta)
    {
        var p = 1UL << bit;
        return delta < 0 ? p - 1 : p + (ulong)delta;
    }

    /// <summary>Operations for a chunk shift: cursor orders 0 to 2 * shift + 1, small ones more often.</summary>
    private static Gen<Op> CreateGenOp(int shift)
    {
        var genOrder = Gen.Frequency((3, Gen.Int[0, 3]), (2, Gen.Int[0, (2 * shift) + 1]));
        var genExtra = Gen.Select(genOrder, s_genLength, s_genValue, (order, length, value) => (order, length, value));
        return Gen.Select(
            s_genKind,
            Gen.Int[0, 63],
            Gen.Int[0, ItemCount - 1],
            Gen.Enum<XaMark>(),
            Gen.Enum<OldKind>(),
            genExtra,
            (kind, slot, item, mark, old, extra) => new Op(kind, slot, item, mark, old, extra.order, extra.length, extra.value));
    }

    private static Gen<Op> GenOp(int shift) => s_genOps[shift];

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(6)]
    public void RandomOperations_OnSpreadIndexes_MatchTheModel(int shift)
    {
        Gen.Select(s_genIndex.Array[2, 10], GenOp(shift).Array[1, 80])
            .Sample((pool, ops) => Run(shift, pool, ops), iter: 200, threads: 1);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(6)]
    public void RandomOperations_OnDenseSmallIndexes_MatchTheModel(int shift)
    {
        Gen.Select(s_genDensePool, GenOp(shift).Array[20, 150])
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
        var genPool = Gen.OneOf(s_genIndex.Array[2, 10], s_genDensePool);
        Gen.Select(genPool, GenOp(shift).Array[5, 80], GenOp(shift).Array[1, 60], Gen.Bool)
            .Sample((pool, setup, during, marked) => Walk(shift, pool, setup, during, marked), iter: 200, threads: 1);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(6)]
    public void CursorWalk_WithPauses_VisitsEachEntryOnceInOrder(int shift)
    {
        // xas_find() / xas_find_marked() with xas_pause() at random points (the lock dropped
        // mid-walk), and xas_next() / xas_prev() over a window, against the model.
        var genPool = Gen.OneOf(s_genIndex.Array[2, 10], s_genDensePool);
        Gen.Select(genPool, GenOp(shift).Array[1, 80], Gen.Bool.Array[1, 32], Gen.UInt, Gen.Int[0, 3])
            .Sample((pool, ops, pauses, pick, markPick) => CursorWalk(shift, pool, ops, pauses, pick, markPick), iter: 200, threads: 1);
    }

    private static void Walk(int shift, ulong[] pool, Op[] setup, Op[] during, bool marked)
    {
        var xa = new XArray<Item>(shift);
        var model = new XArrayModel();
        var items = Enumerable.Range(0, ItemCount).Select(i => new Item(i)).ToArray();
        foreach (var op in setup)
        {
            Apply(xa, model, items, op, pool[op.Slot % pool.Length]);
        }

        xa.AssertInvariants();
        XaMark? mark = marked ? XaMark.Mark0 : null;
        var before = model.Entries(0, ulong.MaxValue, mark).ToList();
        var initial = model.Snapshot();
        var untouched = before.Select(e => e.Index).ToHashSet();
        var everPresent = new HashSet<(ulong First, ulong Last, Item Entry)>();
        AddPresent(model, everPresent);
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

            Assert.True(
                everPresent.Any(p => p.First <= index && index <= p.Last && ReferenceEquals(p.Entry, entry)),
                $"{where}: 0x{index:X} holds {entry}, which was never stored over it");
            Assert.True(seen.Count <= everPresent.Count, $"{where}: the walk does not end");
            seen.Add(index);
            if (next < during.Length)
            {
                var op = during[next++];
                Apply(xa, model, items, op, pool[op.Slot % pool.Length]);
                xa.AssertInvariants();
                AddPresent(model, everPresent);
                untouched.RemoveWhere(first => !Unchanged(model, first, initial[first], marked));
            }
        }

        var missed = before.Where(e => untouched.Contains(e.Index) && !seen.Contains(e.Index)).Select(e => $"0x{e.Index:X}").ToList();
        Assert.True(missed.Count == 0, $"shift {shift}: untouched entries not visited: {string.Join(", ", missed)}");
    }

    private static void AddPresent(XArrayModel model, HashSet<(ulong First, ulong Last, Item Entry)> present)
    {
        foreach (var e in model.All)
        {
            if (e.Content is Item item)
            {
                present.Add((e.First, e.Last, item));
            }
        }
    }

    /// <summary>Whether the entry that started at <paramref name="first"/> is still there, whole,
    /// with the same content (and, for a marked walk, the same Mark0).</summary>
    private static bool Unchanged(XArrayModel model, ulong first, (int Order, object Content, int Marks) was, bool marked) =>
        model.Covering(first) is { } now
        && now.First == first
        && now.Order == was.Order
        && ReferenceEquals(now.Content, was.Content)
        && (!marked || ((now.Marks ^ was.Marks) & 1) == 0);

    private static void CursorWalk(int shift, ulong[] pool, Op[] ops, bool[] pauses, uint pick, int markPick)
    {
        var xa = new XArray<Item>(shift);
        var model = new XArrayModel();
        var items = Enumerable.Range(0, ItemCount).Select(i => new Item(i)).ToArray();
        foreach (var op in ops)
        {
            Apply(xa, model, items, op, pool[op.Slot % pool.Length]);
        }

        xa.AssertInvariants();
        XaMark? mark = markPick == 0 ? null : s_marks[markPick - 1];
        var start = PickIndex(model, pool, pick & 0xFFFF);
        var max = (pick >> 16) % 3 == 0 ? ulong.MaxValue : PickIndex(model, pool, pick >> 16);
        var what = $"shift {shift}, xas_find{(mark is null ? "" : $"_marked({mark})")} from 0x{start:X} to 0x{max:X}";

        var expected = model.Entries(start, max, mark).ToList();
        var xas = new XaState<Item>(xa, start);
        var got = new List<(ulong Index, Item Entry)>();
        var step = 0;
        while (got.Count <= expected.Count)
        {
            var found = mark is { } m ? xas.FindMarked(max, m) : xas.Find(max);
            if (found is null)
            {
                break;
            }

            got.Add((xas.Index, found));
            if (pauses[step++ % pauses.Length])
            {
                xas.Pause();
            }
        }

        AssertSameEntries(expected, got, what);
        var again = mark is { } m2 ? xas.FindMarked(max, m2) : xas.Find(max);
        Assert.True(again is null, $"{what}: found {again} at 0x{xas.Index:X} after the end");

        var steps = (2 << shift) + 3;
        foreach (var center in new[] { start, max, pool[0] })
        {
            StepWindow(xa, model, unchecked(center - (ulong)(steps / 2)), steps, forward: true, pauses, shift);
            StepWindow(xa, model, unchecked(center + (ulong)(steps / 2)), steps, forward: false, pauses, shift);
        }
    }

    /// <summary>An index to start or end a walk at: 0, a pool index, inside an entry, or an entry's last index.</summary>
    private static ulong PickIndex(XArrayModel model, ulong[] pool, uint pick)
    {
        var n = (int)(pick / 4);
        var entry = model.Count == 0 ? null : model.All[n % model.Count];
        return (pick % 4, entry) switch
        {
            (0, _) => 0,
            (2, { Order: > 0 } e) => e.First + (1UL << (e.Order - 1)),
            (3, { } e) => e.Last,
            _ => pool[n % pool.Length],
        };
    }

    /// <summary>xas_next() (or xas_prev()) from <paramref name="from"/>, each step's entry against
    /// the model; at some steps xas_pause() first, which moves past the whole entry (or empty slot
    /// range) the cursor is at, so that the next step reads that index itself.</summary>
    private static void StepWindow(XArray<Item> xa, XArrayModel model, ulong from, int steps, bool forward, bool[] pauses, int shift)
    {
        var delta = forward ? 1UL : ulong.MaxValue;
        var xas = new XaState<Item>(xa, from);
        var expect = from;
        for (var i = 0; i < steps; i++)
        {
            var what = $"shift {shift}, xas_{(forward ? "next" : "prev")} from 0x{from:X}, step {i}";
            var got = forward ? xas.Next() : xas.Prev();
            Assert.True(expect == xas.Index, $"{what}: at 0x{xas.Index:X}, expected 0x{expect:X}");
            var want = model.Load(expect);
            Assert.True(ReferenceEquals(want, got), $"{what}: 0x{expect:X} read {got?.ToString() ?? "null"}, expected {want?.ToString() ?? "null"}");
            expect = unchecked(expect + delta);
            if (!pauses[(i * 7) % pauses.Length])
            {
                continue;
            }

            var at = xas.Index;
            var wasBounds = xas.IsBounds;
            xas.Pause();
            if (wasBounds)
            {
                // The read ran off the tree: nothing is at or beyond the index, and pause keeps it.
                Assert.True(model.All.All(e => e.Last < at), $"{what}: bounds at 0x{at:X}, but the model has entries beyond");
                Assert.True(at == xas.Index, $"{what}: pause in bounds moved to 0x{xas.Index:X}");
                continue;
            }

            if (model.Covering(at) is { } cover)
            {
                if (cover.Last == ulong.MaxValue)
                {
                    Assert.True(xas.IsBounds, $"{what}: pause after an entry ending at ulong.MaxValue is not bounds");
                    return;
                }

                Assert.True(xas.Index == cover.Last + 1 && xas.IsRestart, $"{what}: pause in {cover} moved to 0x{xas.Index:X}");
            }
            else
            {
                if (xas.IsBounds)
                {
                    Assert.True(model.All.All(e => e.Last < at), $"{what}: pause in a hole at 0x{at:X} wrapped past entries");
                    return;
                }

                Assert.True(xas.Index > at && xas.IsRestart, $"{what}: pause in a hole at 0x{at:X} moved to 0x{xas.Index:X}");
                Assert.False(model.AnyOverlapping(at, xas.Index - 1), $"{what}: pause in a hole at 0x{at:X} skipped entries up to 0x{xas.Index:X}");
            }

            expect = xas.Index;
        }
    }

    private static void Run(int shift, ulong[] pool, Op[] ops)
    {
        var xa = new XArray<Item>(shift);
        var model = new XArrayModel();
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

    private static void Apply(XArray<Item> xa, XArrayModel model, Item[] items, Op op, ulong index)
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
            case OpKind.CursorStore:
                Assert.Same(model.StoreOrder(index, op.Order, items[op.ItemId]), CursorStore(xa, index, op.Order, items[op.ItemId], null));
                break;
            case OpKind.CursorStoreNull:
                Assert.Same(model.StoreOrder(index, op.Order, null), CursorStore(xa, index, op.Order, null, null));
                break;
            case OpKind.StoreRange:
                Assert.Same(model.StoreRange(index, RangeLast(index, op.Length), items[op.ItemId]), xa.StoreRange(index, RangeLast(index, op.Length), items[op.ItemId]));
                break;
            case OpKind.StoreRangeNull:
                Assert.Same(model.StoreRange(index, RangeLast(index, op.Length), null), xa.StoreRange(index, RangeLast(index, op.Length), null));
                break;
            case OpKind.StoreValue:
                Assert.Same(model.Store(index, new XArrayModel.ValueEntry(op.Value)), xa.StoreValue(index, op.Value));
                break;
            case OpKind.CursorStoreValue:
                Assert.Same(model.StoreOrder(index, op.Order, new XArrayModel.ValueEntry(op.Value)), CursorStore(xa, index, op.Order, null, op.Value));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(op), op.Kind, "unknown operation");
        }
    }

    private static ulong RangeLast(ulong first, int length) =>
        ulong.MaxValue - first < (ulong)length ? ulong.MaxValue : first + (ulong)length;

    /// <summary>XA_STATE_ORDER(), then xas_store() of the entry (or of xa_mk_value(value)) under the lock.</summary>
    private static Item? CursorStore(XArray<Item> xa, ulong index, int order, Item? entry, ulong? value)
    {
        var xas = new XaState<Item>(xa, index, order);
        Assert.Equal(index & ~XArrayModel.Mask(order), xas.Index);
        xa.Lock.Lock();
        try
        {
            var old = value is { } v ? xas.StoreValue(v) : xas.Store(entry);
            Assert.Equal(Errno.None, xas.Error);
            return old;
        }
        finally
        {
            xa.Lock.Unlock();
        }
    }

    private static void Compare(XArray<Item> xa, XArrayModel model, ulong[] pool, int shift)
    {
        Assert.Equal(model.IsEmpty, xa.IsEmpty);
        foreach (var m in s_marks)
        {
            Assert.Equal(model.Marked(m), xa.Marked(m));
        }

        foreach (var index in pool)
        {
            CompareIndex(xa, model, index);
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

        CompareInsideMultiIndexEntries(xa, model);

        Assert.True(model.Height(shift) == xa.Height, $"height {xa.Height}, expected {model.Height(shift)}");
        Assert.True(model.NodeCount(shift) == xa.NodeCount, $"{xa.NodeCount} nodes, expected {model.NodeCount(shift)}");
    }

    /// <summary>Load, order, value and marks of the entry covering one index.</summary>
    private static void CompareIndex(XArray<Item> xa, XArrayModel model, ulong index)
    {
        var cover = model.Covering(index);
        var want = cover?.Content as Item;
        var got = xa.Load(index);
        Assert.True(ReferenceEquals(want, got), $"Load({index:X}) is {got?.ToString() ?? "null"}, expected {want?.ToString() ?? "null"}");
        var order = xa.GetOrder(index);
        Assert.True((cover?.Order ?? 0) == order, $"GetOrder({index:X}) is {order}, expected that of {cover?.ToString() ?? "nothing"}");
        var isValue = xa.TryLoadValue(index, out var value);
        var wantValue = cover?.Content as XArrayModel.ValueEntry;
        Assert.True(isValue == (wantValue is not null) && value == (wantValue?.Value ?? 0), $"TryLoadValue({index:X}) is {isValue} {value}, expected {cover?.ToString() ?? "nothing"}");
        foreach (var m in s_marks)
        {
            Assert.True((cover?.HasMark(m) ?? false) == xa.GetMark(index, m), $"GetMark({index:X}, {m}) is {xa.GetMark(index, m)}, expected that of {cover?.ToString() ?? "nothing"}");
        }
    }

    /// <summary>Reads, finds and bounded walks that start or end in the middle of a few multi-index entries.</summary>
    private static void CompareInsideMultiIndexEntries(XArray<Item> xa, XArrayModel model)
    {
        var multi = model.All.Where(e => e.Order > 0).ToList();
        var picked = multi.Take(2).Concat(multi.Skip(Math.Max(2, multi.Count - 2))).ToList();
        var middles = new List<ulong>();
        foreach (var e in picked)
        {
            var mid = e.First + (1UL << (e.Order - 1));
            middles.Add(mid);
            CompareIndex(xa, model, e.First);
            CompareIndex(xa, model, mid);
            CompareIndex(xa, model, e.Last);
            if (e.Last != ulong.MaxValue)
            {
                CompareIndex(xa, model, e.Last + 1);
            }

            CompareFind(xa, model, mid, ulong.MaxValue);
            CompareFind(xa, model, mid, mid);
            CompareFind(xa, model, e.Last, e.Last);
            AssertSameEntries(model.Entries(mid, ulong.MaxValue, null), xa.Entries(mid), $"Entries({mid:X})");
        }

        for (var i = 0; i < middles.Count; i++)
        {
            var start = middles[i];
            var max = middles[(i + 1) % middles.Count];
            AssertSameEntries(model.Entries(start, max, null), xa.Entries(start, max), $"Entries({start:X}, {max:X})");
            foreach (var m in s_marks)
            {
                AssertSameEntries(model.Entries(start, max, m), xa.EntriesMarked(m, start, max), $"EntriesMarked({m}, {start:X}, {max:X})");
            }
        }
    }

    private static void CompareFind(XArray<Item> xa, XArrayModel model, ulong start, ulong max)
    {
        CompareOneFind(xa, model, start, max, null);
        foreach (var m in s_marks)
        {
            CompareOneFind(xa, model, start, max, m);
        }
    }

    private static void CompareOneFind(XArray<Item> xa, XArrayModel model, ulong start, ulong max, XaMark? mark)
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
}
