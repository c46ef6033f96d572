using Writeback.Lib;
using static Writeback.Tests.Lib.XArrayTestSupport;

namespace Writeback.Tests.Lib;

/// <summary>Unit tests for multi-index entries of <see cref="XArray{T}"/> (an entry stored with an
/// order through <see cref="XaState{T}"/>, and <see cref="XArray{T}.StoreRange"/>), re-expressing
/// the kernel's lib/test_xarray.c check_multi_store (+ _1, _2, _3), check_get_order,
/// check_xa_mark_1's multi-index part and check_xa_mark_3, check_multi_find_1/2/3, check_pause,
/// check_cmpxchg_order, check_store_range, check_account, check_xa_shrink's order loop and
/// check_destroy. Chunk shift 2 puts entries of small orders at high levels of deep trees; chunk
/// shift 6 is the kernel's geometry.</summary>
public class XArrayMultiIndexTests
{
    /// <summary>Chunk shift and order: orders below, at and above one and two chunks.</summary>
    public static TheoryData<int, int> ShiftsAndOrders =>
        ForShifts<int>(_ => [1, 2, 3, 5, 6, 7, 12, 13, 20, 63]);

    /// <summary>Chunk shift and an order of at least the chunk shift (the entry lives above the leaves).</summary>
    public static TheoryData<int, int> ShiftsAndHighOrders =>
        ForShifts(shift => new[] { shift, shift + 1, 2 * shift, (2 * shift) + 1, 40, 63 }.Distinct());

    /// <summary>Chunk shift, order and where the entry starts, in units of its own size.</summary>
    public static TheoryData<int, int, ulong> ShiftsOrdersAndSlots
    {
        get
        {
            var data = new TheoryData<int, int, ulong>();
            foreach (var shift in new[] { 2, 6 })
            {
                foreach (var order in new[] { 1, 2, 3, 5, 6, 7, 12, 13 })
                {
                    foreach (var slot in new ulong[] { 0, 1, 3, 1000 })
                    {
                        data.Add(shift, order, slot);
                    }
                }
            }

            return data;
        }
    }

    // ---------------- storing and loading ----------------

    [Theory]
    [MemberData(nameof(ShiftsOrdersAndSlots))]
    public void Store_OfAMultiIndexEntry_LoadsAtEveryCoveredIndexAndNotAtItsNeighbours(int shift, int order, ulong slot)
    {
        var xa = new XArray<Item>(shift);
        var a = new Item(1);
        var first = slot << order;
        var last = first + ((1UL << order) - 1);

        Assert.Null(StoreOrder(xa, first, order, a));

        foreach (var i in Covered(first, order))
        {
            Assert.Same(a, xa.Load(i));
        }

        Assert.Null(xa.Load(last + 1));
        Assert.Null(xa.Load(unchecked(first - 1)));
    }

    [Theory]
    [MemberData(nameof(ShiftsOrdersAndSlots))]
    public void GetOrder_AtEveryCoveredIndex_IsTheStoredOrderAndZeroOutside(int shift, int order, ulong slot)
    {
        var xa = new XArray<Item>(shift);
        var first = slot << order;
        var last = first + ((1UL << order) - 1);
        StoreOrder(xa, first, order, new Item(1));

        foreach (var i in Covered(first, order))
        {
            Assert.Equal(order, xa.GetOrder(i));
        }

        Assert.Equal(0, xa.GetOrder(last + 1));
        Assert.Equal(0, xa.GetOrder(unchecked(first - 1)));
    }

    [Theory]
    [InlineData(2, 3)]
    [InlineData(6, 9)]
    public void XaState_WithAnUnalignedIndex_StoresTheAlignedRangeHoldingIt(int shift, int order)
    {
        var xa = new XArray<Item>(shift);
        var a = new Item(1);
        var size = 1UL << order;
        var xas = new XaState<Item>(xa, (5 * size) + 3, order);
        Assert.Equal(5 * size, xas.Index);

        Locked(xa, () => xas.Store(a));
        xa.AssertInvariants();

        AssertHeldExactlyIn(xa, 5 * size, 6 * size, a);
    }

    [Theory]
    [MemberData(nameof(ShiftsAndHighOrders))]
    public void Store_OfAnOrderOfAtLeastTheChunkShift_LivesAboveTheLeavesWithoutAllocatingThem(int shift, int order)
    {
        var xa = new XArray<Item>(shift);
        var first = order == 63 ? 1UL << 63 : 1UL << order;
        StoreOrder(xa, first, order, new Item(1));

        // One node per level from the top down to the level that holds the entry, none below.
        var entryLevel = (order - (order % shift)) / shift;
        Assert.Equal(xa.Height - entryLevel, xa.NodeCount);
        Assert.True(entryLevel >= 1);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Store_OfAnOrderBelowTheChunkShift_FillsSiblingSlotsOfOneLeaf(int shift)
    {
        var xa = new XArray<Item>(shift);
        StoreOrder(xa, 2, 1, new Item(1));

        Assert.Equal(1, xa.NodeCount);
        Assert.Equal(1, xa.Height);
        Assert.Equal((2, 0), xa.NodeCounts(2));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Store_BesideAMultiIndexEntry_DoesNotDisturbIt(int shift)
    {
        var xa = new XArray<Item>(shift);
        var a = new Item(1);
        var b = new Item(2);
        StoreOrder(xa, 0, 1, a);

        Assert.Null(xa.Store(3, b));
        xa.AssertInvariants();

        Assert.Same(a, xa.Load(0));
        Assert.Same(a, xa.Load(1));
        Assert.Null(xa.Load(2));
        Assert.Same(b, xa.Load(3));
        Assert.Equal(1, xa.GetOrder(1));
        Assert.Equal(0, xa.GetOrder(3));
        Assert.Equal((3, 0), xa.NodeCounts(0));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Store_OfAnOrderOverTheEntryHeldInTheHead_ReplacesItAndReturnsIt(int shift)
    {
        var xa = new XArray<Item>(shift);
        var head = new Item(0);
        var a = new Item(1);
        xa.Store(0, head);
        Assert.Equal(0, xa.NodeCount);

        Assert.Same(head, StoreOrder(xa, 0, 2, a));

        Assert.Same(a, xa.Load(0));
        Assert.Same(a, xa.Load(3));
        Assert.Null(xa.Load(4));
        Assert.Equal(2, xa.GetOrder(0));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Store_OfAnOrderBesideTheEntryHeldInTheHead_KeepsItAndItsMarks(int shift)
    {
        var xa = new XArray<Item>(shift);
        var head = new Item(0);
        var a = new Item(1);
        xa.Store(0, head);
        xa.SetMark(0, XaMark.Mark1);

        Assert.Null(StoreOrder(xa, 1UL << shift, shift, a));

        Assert.Same(head, xa.Load(0));
        Assert.True(xa.GetMark(0, XaMark.Mark1));
        Assert.False(xa.GetMark(1UL << shift, XaMark.Mark1));
        Assert.Same(a, xa.Load((2UL << shift) - 1));
        Assert.Null(xa.Load(1));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Erase_OfAnEntryAtUlongMaxValueBesideAMultiIndexEntry_ShrinksBackToTheSameTree(int shift)
    {
        // check_xa_shrink's order loop: growing the tree for ULONG_MAX and erasing it restores the old top.
        for (var order = 0; order < 15; order++)
        {
            var xa = new XArray<Item>(shift);
            var a = new Item(order);
            var max = (1UL << order) - 1;
            StoreOrder(xa, 0, order, a);
            var height = xa.Height;
            var nodes = xa.NodeCount;

            Assert.Null(xa.Store(ulong.MaxValue, new Item(-1)));
            xa.AssertInvariants();
            Assert.Same(a, xa.Load(max));
            Assert.Null(xa.Load(max + 1));

            xa.Erase(ulong.MaxValue);
            xa.AssertInvariants();
            Assert.Equal(height, xa.Height);
            Assert.Equal(nodes, xa.NodeCount);
            Assert.Same(a, xa.Load(max));

            Assert.Same(a, xa.Erase(0));
            AssertEmpty(xa);
        }
    }

    // ---------------- replacing ----------------

    [Theory]
    [MemberData(nameof(ShiftsAndOrders))]
    public void Store_OfASingleIndexInsideALargerEntry_ReplacesItOverItsWholeRangeKeepingItsOrder(int shift, int order)
    {
        var xa = new XArray<Item>(shift);
        var a = new Item(1);
        var b = new Item(2);
        var first = order == 63 ? 0 : 1UL << order;
        var inside = first + (1UL << (order - 1));
        StoreOrder(xa, first, order, a);

        Assert.Same(a, xa.Store(inside, b));
        xa.AssertInvariants();

        foreach (var i in Covered(first, order))
        {
            Assert.Same(b, xa.Load(i));
            Assert.Equal(order, xa.GetOrder(i));
        }

        Assert.Single(xa.Entries());
    }

    [Theory]
    [MemberData(nameof(ShiftsAndOrders))]
    public void Store_OfASmallerOrderInsideALargerEntry_ReplacesItOverItsWholeRange(int shift, int order)
    {
        var xa = new XArray<Item>(shift);
        var a = new Item(1);
        var b = new Item(2);
        var first = order == 63 ? 0 : 1UL << order;
        var smaller = order - 1;
        var inside = first + (1UL << smaller);
        StoreOrder(xa, first, order, a);

        Assert.Same(a, StoreOrder(xa, inside, smaller, b));

        foreach (var i in Covered(first, order))
        {
            Assert.Same(b, xa.Load(i));
            Assert.Equal(order, xa.GetOrder(i));
        }

        Assert.Equal([(first, b)], xa.Entries().ToList());
    }

    [Theory]
    [MemberData(nameof(ShiftsAndOrders))]
    public void Store_OfALargerOrderOverSmallerEntries_ReplacesThemAllAndReturnsTheFirst(int shift, int order)
    {
        var xa = new XArray<Item>(shift);
        var first = order == 63 ? 0 : 1UL << order;
        var last = first + ((1UL << order) - 1);
        var atFirst = new Item(1);
        var inMiddle = new Item(2);
        var atLast = new Item(3);
        var big = new Item(4);
        xa.Store(first, atFirst);
        StoreOrder(xa, first + ((1UL << order) / 2), order - 1, inMiddle);
        xa.Store(last, atLast);

        Assert.Same(atFirst, StoreOrder(xa, first, order, big));

        Assert.Equal([(first, big)], xa.Entries().ToList());
        Assert.Equal(order, xa.GetOrder(last));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Store_OfALargerOrderWhoseFirstIndexIsEmpty_ReturnsNull(int shift)
    {
        var xa = new XArray<Item>(shift);
        var big = new Item(9);
        xa.Store(1, new Item(1));
        xa.Store(2, new Item(2));

        Assert.Null(StoreOrder(xa, 0, 2, big));

        Assert.Same(big, xa.Load(1));
        Assert.Same(big, xa.Load(2));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(6)]
    public void Store_OfOrderJOverOrderIAtZero_LoadsEntryJExactlyWhereEitherCovered(int shift)
    {
        // check_multi_store's loop: a later store at 0 of any order replaces the earlier one whole.
        for (var i = 0; i < 64; i++)
        {
            for (var j = 0; j < 64; j++)
            {
                var xa = new XArray<Item>(shift);
                var entryI = new Item(i);
                var entryJ = new Item(100 + j);
                StoreOrder(xa, 0, i, entryI);
                StoreOrder(xa, 0, j, entryJ);

                for (var k = 0; k < 64; k++)
                {
                    var loaded = xa.Load((1UL << k) - 1);
                    if (i < k && j < k)
                    {
                        Assert.Null(loaded);
                    }
                    else
                    {
                        Assert.Same(entryJ, loaded);
                    }
                }

                Assert.Same(entryJ, xa.Erase(0));
                AssertEmpty(xa);
            }
        }
    }

    [Theory]
    [InlineData(2, 0ul)]
    [InlineData(2, 200ul)]
    [InlineData(2, 1ul)]
    [InlineData(6, 0ul)]
    [InlineData(6, 200ul)]
    [InlineData(6, 1ul)]
    public void XaStateStore_AtAnIndexInsideAnEntry_ReplacesItWholeAndReturnsIt(int shift, ulong index)
    {
        // check_multi_store_1, for orders 0..19 at 0, 200 and 2^order + 1.
        for (var order = 0; order < 20; order++)
        {
            var xa = new XArray<Item>(shift);
            var at = index == 1 ? (1UL << order) + 1 : index;
            var min = at & ~((1UL << order) - 1);
            var max = min + (1UL << order);
            var a = new Item(1);
            var b = new Item(2);
            StoreOrder(xa, at, order, a);
            AssertHeldExactlyIn(xa, min, max, a);

            var xas = new XaState<Item>(xa, at);
            Assert.Same(a, Locked(xa, () => xas.Store(b)));
            xa.AssertInvariants();

            AssertHeldExactlyIn(xa, min, max, b);
            Assert.Same(b, xa.Erase(min));
            AssertEmpty(xa);
        }
    }

    [Fact]
    public void XaStateStore_InsideAnEntry_KeepsTheCursorIndexAndStoringNullEmptiesTheArray()
    {
        // check_multi_store_2: order 9 at 4095, then the cursor at 4095 itself.
        var xa = new XArray<Item>(6);
        var a = new Item(1);
        var b = new Item(2);
        StoreOrder(xa, 4095, 9, a);

        var xas = new XaState<Item>(xa, 4095);
        Locked(xa, () =>
        {
            Assert.Same(a, xas.Store(b));
            Assert.Equal(4095UL, xas.Index);
            Assert.Same(b, xas.Store(null));
        });

        AssertEmpty(xa);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void XaStateStoreNull_OfAnOrder_ErasesEveryEntryInItsRangeEvenWithTheFirstEmpty(int shift)
    {
        var xa = new XArray<Item>(shift);
        xa.Store(1, new Item(1));
        xa.Store(2, new Item(2));

        Assert.Null(StoreOrder(xa, 0, 2, null));

        AssertEmpty(xa);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void XaStateStoreNull_OfOrder63_ErasesEverythingInTheLowerHalf(int shift)
    {
        var xa = new XArray<Item>(shift);
        var a = new Item(1);
        StoreOrder(xa, 0, 2, a);
        xa.Store(3000, new Item(2));
        StoreOrder(xa, 1UL << 40, 12, new Item(3));
        xa.Store((1UL << 63) - 1, new Item(4));
        var high = new Item(5);
        xa.Store(1UL << 63, high);

        Assert.Same(a, StoreOrder(xa, 0, 63, null));

        Assert.Equal([(1UL << 63, high)], xa.Entries().ToList());
    }

    [Fact]
    public void Store_OfAnOrderOverASubtree_FreesTheNodesBelowIt()
    {
        var xa = new XArray<Item>(2);
        var deep = new Item(1);
        var big = new Item(2);
        xa.Store(1000, deep);
        xa.Store(1001, new Item(3));
        var nodes = xa.NodeCount;

        Assert.Same(deep, StoreOrder(xa, 1000, 2, big));

        // The leaf that held 1000..1003 is gone; the entry sits in its parent's slot.
        Assert.Equal(nodes - 1, xa.NodeCount);
        Assert.Equal([(1000UL, big)], xa.Entries().ToList());
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Store_OfAnOrderOverAReservation_ReplacesIt(int shift)
    {
        var xa = new XArray<Item>(shift);
        var big = new Item(1);
        xa.Reserve(2);

        Assert.Null(StoreOrder(xa, 0, 2, big));

        Assert.False(xa.Insert(2, new Item(2)));
        Assert.Same(big, xa.Load(2));
        Assert.Equal([(0UL, big)], xa.Entries().ToList());
        Assert.Same(big, xa.Erase(2));
        AssertEmpty(xa);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void XaStateStoreNull_OfASmallerOrderInsideALargerEntry_ErasesTheWholeEntry(int shift)
    {
        var xa = new XArray<Item>(shift);
        var a = new Item(1);
        var after = new Item(2);
        StoreOrder(xa, 64, 6, a);
        xa.Store(128, after);

        Assert.Same(a, StoreOrder(xa, 96, 2, null));

        Assert.Null(xa.Load(64));
        Assert.Null(xa.Load(127));
        Assert.Equal([(128UL, after)], xa.Entries().ToList());
    }

    // ---------------- erasing ----------------

    [Theory]
    [MemberData(nameof(ShiftsAndOrders))]
    public void Erase_AtAnyCoveredIndex_ErasesTheWholeEntryAndReturnsIt(int shift, int order)
    {
        var first = order == 63 ? 1UL << 63 : 3UL << order;
        foreach (var at in Covered(first, order))
        {
            var xa = new XArray<Item>(shift);
            var a = new Item(1);
            StoreOrder(xa, first, order, a);

            Assert.Same(a, xa.Erase(at));

            foreach (var i in Covered(first, order))
            {
                Assert.Null(xa.Load(i));
                Assert.Equal(0, xa.GetOrder(i));
            }

            AssertEmpty(xa);
        }
    }

    [Theory]
    [MemberData(nameof(ShiftsAndOrders))]
    public void StoreNull_AtAnyCoveredIndex_ErasesTheWholeEntryAndReturnsIt(int shift, int order)
    {
        var first = order == 63 ? 0 : 1UL << order;
        var last = first + ((1UL << order) - 1);
        var xa = new XArray<Item>(shift);
        var a = new Item(1);
        StoreOrder(xa, first, order, a);

        Assert.Same(a, xa.Store(last, null));

        AssertEmpty(xa);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Erase_OfAMultiIndexEntry_ShrinksTheTreeBackToTheEntryInTheHead(int shift)
    {
        var xa = new XArray<Item>(shift);
        var head = new Item(0);
        var big = new Item(1);
        xa.Store(0, head);
        StoreOrder(xa, 1UL << 20, 20, big);
        Assert.True(xa.NodeCount > 0);

        Assert.Same(big, xa.Erase((1UL << 21) - 1));
        xa.AssertInvariants();

        Assert.Equal(0, xa.NodeCount);
        Assert.Equal(0, xa.Height);
        Assert.Same(head, xa.Load(0));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Erase_OfAMultiIndexEntry_LeavesItsNeighboursAndTheirMarks(int shift)
    {
        var xa = new XArray<Item>(shift);
        var before = new Item(0);
        var a = new Item(1);
        var after = new Item(2);
        xa.Store(15, before);
        xa.SetMark(15, XaMark.Mark0);
        StoreOrder(xa, 16, 4, a);
        xa.SetMark(20, XaMark.Mark0);
        xa.Store(32, after);

        Assert.Same(a, xa.Erase(31));
        xa.AssertInvariants();

        Assert.Equal([(15UL, before), (32UL, after)], xa.Entries().ToList());
        Assert.Equal([(15UL, before)], xa.EntriesMarked(XaMark.Mark0).ToList());
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Destroy_WithMultiIndexEntries_EmptiesTheArray(int shift)
    {
        // check_destroy's multi-index case, with a few more entries and marks.
        var xa = new XArray<Item>(shift);
        StoreOrder(xa, 1UL << 11, 11, new Item(1));
        Assert.False(xa.IsEmpty);
        StoreOrder(xa, 4, 2, new Item(2));
        StoreOrder(xa, 1UL << 63, 63, new Item(3));
        xa.SetMark(5, XaMark.Mark2);

        xa.Destroy();

        AssertEmpty(xa);
        Assert.Null(xa.Load(1UL << 11));
        Assert.Equal(0, xa.GetOrder(5));
    }

    // ---------------- iteration and search ----------------

    [Theory]
    [MemberData(nameof(ShiftsOrdersAndSlots))]
    public void Entries_YieldAMultiIndexEntryOnceAtItsFirstIndex(int shift, int order, ulong slot)
    {
        // check_multi_store_3 (from 0) with a neighbour after it.
        var xa = new XArray<Item>(shift);
        var a = new Item(1);
        var next = new Item(2);
        var first = slot << order;
        var end = first + (1UL << order);
        StoreOrder(xa, first, order, a);
        xa.Store(end, next);

        Assert.Equal([(first, a), (end, next)], xa.Entries().ToList());
    }

    [Theory]
    [MemberData(nameof(ShiftsOrdersAndSlots))]
    public void Entries_StartingInsideAMultiIndexEntry_YieldItOnceAtTheStart(int shift, int order, ulong slot)
    {
        // check_multi_store_3 (from index + 1).
        var xa = new XArray<Item>(shift);
        var a = new Item(1);
        var first = slot << order;
        var last = first + ((1UL << order) - 1);
        StoreOrder(xa, first, order, a);

        Assert.Equal([(first + 1, a)], xa.Entries(first + 1).ToList());
        Assert.Equal([(last, a)], xa.Entries(last).ToList());
        Assert.Empty(xa.Entries(last + 1));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Entries_WithMaxInsideAMultiIndexEntry_YieldItOnce(int shift)
    {
        var xa = new XArray<Item>(shift);
        var a = new Item(1);
        StoreOrder(xa, 64, 5, a);

        Assert.Equal([(64UL, a)], xa.Entries(0, 65).ToList());
        Assert.Equal([(70UL, a)], xa.Entries(70, 71).ToList());
        Assert.Equal([(95UL, a)], xa.Entries(95, 95).ToList());
        Assert.Empty(xa.Entries(0, 63));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Entries_OverEntriesOfEveryOrder_YieldEachOnceInOrder(int shift)
    {
        // check_pause's layout: order k at 2^k for k = 0..63.
        var xa = new XArray<Item>(shift);
        var items = new Item[64];
        var index = 1UL;
        for (var order = 0; order < 64; order++)
        {
            items[order] = new Item(order);
            Assert.Null(StoreOrder(xa, index, order, items[order]));
            index += 1UL << order;
        }

        var seen = xa.Entries().ToList();

        Assert.Equal(64, seen.Count);
        for (var k = 0; k < 64; k++)
        {
            Assert.Equal(1UL << k, seen[k].Index);
            Assert.Same(items[k], seen[k].Entry);
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Entries_OverDescendingOrdersFromZero_YieldEachOnceInOrder(int shift)
    {
        // check_pause's second layout: order 63 at 0, order 62 after it, ..., order 0 at ULONG_MAX.
        var xa = new XArray<Item>(shift);
        var expected = new List<(ulong, Item)>();
        var index = 0UL;
        for (var order = 63; order >= 0; order--)
        {
            var item = new Item(order);
            Assert.Null(StoreOrder(xa, index, order, item));
            expected.Add((index, item));
            index = unchecked(index + (1UL << order));
        }

        Assert.Equal(expected, xa.Entries().ToList());
        Assert.Equal(expected.Skip(1).Prepend((1UL, expected[0].Item2)), xa.Entries(1).ToList());
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Pause_AfterEachMultiIndexEntry_VisitsEachEntryOnce(int shift)
    {
        // check_pause: a walk that pauses after every entry resumes after the entry's last index.
        var xa = new XArray<Item>(shift);
        var index = 1UL;
        for (var order = 0; order < 64; order++)
        {
            StoreOrder(xa, index, order, new Item(order));
            index += 1UL << order;
        }

        var xas = new XaState<Item>(xa, 0);
        var seen = new List<int>();
        for (var entry = xas.Find(ulong.MaxValue); entry is not null; entry = xas.Find(ulong.MaxValue))
        {
            seen.Add(entry.Id);
            xas.Pause();
        }

        Assert.Equal(Enumerable.Range(0, 64), seen);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Entries_WhenTheWalkerErasesTheMultiIndexEntry_YieldItOnce(int shift)
    {
        // check_multi_find_2: start inside the entry, erase it from inside the walk.
        for (var order = 0; order < 10; order++)
        {
            var size = 1UL << order;
            for (var j = 0UL; j < size; j++)
            {
                var xa = new XArray<Item>(shift);
                var below = new Item(-1);
                var a = new Item(order);
                xa.Store(size - 1, below);
                StoreOrder(xa, size, order, a);

                var seen = 0;
                foreach (var (_, entry) in xa.Entries(size + j))
                {
                    Assert.Same(a, entry);
                    Assert.Same(a, xa.Erase(size));
                    seen++;
                }

                Assert.Equal(1, seen);
                Assert.Same(below, xa.Erase(size - 1));
                AssertEmpty(xa);
            }
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Find_FromBeforeAMultiIndexEntry_ReturnsItAtItsFirstIndex(int shift)
    {
        // check_multi_find_1, orders 2..9.
        foreach (var (xa, order, a, _) in EntryThenNext(shift))
        {
            AssertFind(xa, 0, ulong.MaxValue, a, 3UL << order);
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Find_FromInsideAMultiIndexEntry_ReturnsItAndLeavesTheIndex(int shift)
    {
        foreach (var (xa, order, a, _) in EntryThenNext(shift))
        {
            foreach (var start in new[] { (3UL << order) + 1, (4UL << order) - 1 })
            {
                AssertFind(xa, start, ulong.MaxValue, a, start);
            }
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Find_FromJustAfterAMultiIndexEntry_FindsTheNextEntryNotIt(int shift)
    {
        foreach (var (xa, order, _, b) in EntryThenNext(shift))
        {
            var next = 4UL << order;
            xa.Store(next + 1, new Item(3));

            AssertFind(xa, next, ulong.MaxValue, b, next);
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Find_PastTheEndOfTheOnlyEntry_ReturnsNullAndLeavesTheIndex(int shift)
    {
        // check_multi_find_3: order - 4 at 0, searching from 2^(order - 5) + 1 onwards past its end.
        for (var order = 5; order < 64; order++)
        {
            var xa = new XArray<Item>(shift);
            StoreOrder(xa, 0, order - 4, new Item(1));

            AssertFind(xa, 1UL << (order - 4), ulong.MaxValue, null, 1UL << (order - 4));
        }
    }

    // ---------------- marks ----------------

    [Theory]
    [MemberData(nameof(ShiftsAndOrders))]
    public void SetMark_AtAnyCoveredIndex_MarksEveryCoveredIndexAndNoNeighbour(int shift, int order)
    {
        var first = order == 63 ? 0 : 1UL << order;
        var last = first + ((1UL << order) - 1);
        foreach (var at in new[] { first, last, first + ((1UL << order) / 2) })
        {
            var xa = new XArray<Item>(shift);
            StoreOrder(xa, first, order, new Item(1));
            xa.Store(unchecked(first - 1), new Item(0));
            xa.Store(unchecked(last + 1), new Item(2));

            xa.SetMark(at, XaMark.Mark1);
            xa.AssertInvariants();

            foreach (var i in Covered(first, order))
            {
                Assert.True(xa.GetMark(i, XaMark.Mark1));
                Assert.False(xa.GetMark(i, XaMark.Mark0));
            }

            Assert.False(xa.GetMark(unchecked(first - 1), XaMark.Mark1));
            Assert.False(xa.GetMark(unchecked(last + 1), XaMark.Mark1));
        }
    }

    [Theory]
    [MemberData(nameof(ShiftsAndOrders))]
    public void ClearMark_AtAnyCoveredIndex_ClearsItForTheWholeEntry(int shift, int order)
    {
        var first = order == 63 ? 1UL << 63 : 1UL << order;
        var last = first + ((1UL << order) - 1);
        var xa = new XArray<Item>(shift);
        StoreOrder(xa, first, order, new Item(1));
        xa.SetMark(first, XaMark.Mark2);
        xa.SetMark(first, XaMark.Mark0);

        xa.ClearMark(last, XaMark.Mark2);
        xa.AssertInvariants();

        foreach (var i in Covered(first, order))
        {
            Assert.False(xa.GetMark(i, XaMark.Mark2));
            Assert.True(xa.GetMark(i, XaMark.Mark0));
        }

        Assert.False(xa.Marked(XaMark.Mark2));
        Assert.True(xa.Marked(XaMark.Mark0));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void EntriesMarked_FromInsideAMarkedMultiIndexEntry_YieldItOnce(int shift)
    {
        // check_xa_mark_3: order 2 at 0x40, marked through 0x41, walked from 0x41.
        var xa = new XArray<Item>(shift);
        var a = new Item(0x40);
        StoreOrder(xa, 0x40, 2, a);
        xa.SetMark(0x41, XaMark.Mark0);

        Assert.Equal([(0x41UL, a)], xa.EntriesMarked(XaMark.Mark0, 0x41).ToList());
        Assert.Equal([(0x40UL, a)], xa.EntriesMarked(XaMark.Mark0).ToList());
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void FindMarked_FromInsideAMarkedMultiIndexEntry_ReturnsItAndLeavesTheIndex(int shift)
    {
        var xa = new XArray<Item>(shift);
        var a = new Item(1);
        StoreOrder(xa, 1UL << 12, 12, a);
        xa.SetMark(1UL << 12, XaMark.Mark1);

        AssertFindMarked(xa, (1UL << 12) + 77, XaMark.Mark1, a, (1UL << 12) + 77);
        AssertFindMarked(xa, 0, XaMark.Mark1, a, 1UL << 12);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void FindMarked_FromInsideAnUnmarkedMultiIndexEntry_SkipsToTheNextMarkedEntry(int shift)
    {
        var xa = new XArray<Item>(shift);
        var marked = new Item(2);
        StoreOrder(xa, 64, 6, new Item(1));
        xa.SetMark(64, XaMark.Mark1);
        xa.Store(128, marked);
        xa.SetMark(128, XaMark.Mark0);

        AssertFindMarked(xa, 100, XaMark.Mark0, marked, 128);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Store_OfAnOrderOverMarkedEntries_GivesEveryCoveredIndexTheUnionOfTheirMarks(int shift)
    {
        // check_xa_mark_1's multi-index part, for every index step 4 below 1024 and orders 2..7.
        for (var index = 0UL; index < 1024; index += 4)
        {
            for (var order = 2; order < 8; order++)
            {
                var xa = new XArray<Item>(shift);
                var baseIndex = index & ~((1UL << order) - 1);
                var next = baseIndex + (1UL << order);
                var big = new Item(1);
                xa.Store(index + 1, new Item(2));
                xa.SetMark(index + 1, XaMark.Mark0);
                xa.Store(index + 2, new Item(3));
                xa.SetMark(index + 2, XaMark.Mark2);
                xa.Store(next, new Item(4));

                StoreOrder(xa, index, order, big);

                for (var i = baseIndex; i < next; i++)
                {
                    Assert.True(xa.GetMark(i, XaMark.Mark0));
                    Assert.False(xa.GetMark(i, XaMark.Mark1));
                    Assert.True(xa.GetMark(i, XaMark.Mark2));
                    Assert.Equal(2, xa.Entries(i).Count());
                }

                Assert.Equal([(baseIndex, big)], xa.EntriesMarked(XaMark.Mark0).ToList());
                Assert.All(Marks, m => Assert.False(xa.GetMark(next, m)));

                Assert.Same(big, xa.Erase(index));
                xa.Erase(next);
                AssertEmpty(xa);
            }
        }
    }

    [Fact]
    public void Store_OfAnOrderOverMarkedSubtrees_GivesTheEntryTheUnionOfTheirMarks()
    {
        // With chunk shift 2 an order-5 entry replaces two slots of a shift-4 node, each a subtree.
        var xa = new XArray<Item>(2);
        var big = new Item(9);
        xa.Store(1, new Item(1));
        xa.SetMark(1, XaMark.Mark0);
        xa.Store(22, new Item(2));
        xa.SetMark(22, XaMark.Mark1);
        xa.Store(31, new Item(3));
        xa.SetMark(31, XaMark.Mark0);
        var outside = new Item(4);
        xa.Store(32, outside);
        xa.SetMark(32, XaMark.Mark2);

        StoreOrder(xa, 0, 5, big);

        for (var i = 0UL; i < 32; i++)
        {
            Assert.True(xa.GetMark(i, XaMark.Mark0));
            Assert.True(xa.GetMark(i, XaMark.Mark1));
            Assert.False(xa.GetMark(i, XaMark.Mark2));
        }

        Assert.True(xa.GetMark(32, XaMark.Mark2));
        Assert.False(xa.GetMark(32, XaMark.Mark0));
        Assert.Equal([(0UL, big)], xa.EntriesMarked(XaMark.Mark0).ToList());
        Assert.Equal([(0UL, big)], xa.EntriesMarked(XaMark.Mark1).ToList());
        Assert.Equal([(32UL, outside)], xa.EntriesMarked(XaMark.Mark2).ToList());
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Store_OfASingleIndexInsideAMarkedEntry_KeepsTheEntrysMarks(int shift)
    {
        var xa = new XArray<Item>(shift);
        StoreOrder(xa, 8, 3, new Item(1));
        xa.SetMark(9, XaMark.Mark0);

        xa.Store(14, new Item(2));
        xa.AssertInvariants();

        Assert.True(xa.GetMark(8, XaMark.Mark0));
        Assert.True(xa.GetMark(15, XaMark.Mark0));
        Assert.Single(xa.EntriesMarked(XaMark.Mark0));
    }

    [Theory]
    [MemberData(nameof(ShiftsAndOrders))]
    public void Erase_OfAMarkedMultiIndexEntry_ClearsItsMarksWhileItsNodesStay(int shift, int order)
    {
        var first = order == 63 ? 0 : 1UL << order;
        var last = first + ((1UL << order) - 1);
        var xa = new XArray<Item>(shift);
        StoreOrder(xa, first, order, new Item(1));
        xa.Store(last + 1, new Item(3));
        foreach (var m in Marks)
        {
            xa.SetMark(first + 1, m);
        }

        xa.Erase(first + 1);
        xa.AssertInvariants();

        Assert.All(Marks, m => Assert.False(xa.Marked(m)));

        StoreOrder(xa, first, order, new Item(2));
        Assert.All(Marks, m => Assert.False(xa.GetMark(last, m)));
    }

    // ---------------- insert and cmpxchg ----------------

    [Theory]
    [MemberData(nameof(ShiftsAndOrders))]
    public void Insert_AtAnyCoveredIndex_FailsAndKeepsTheEntry(int shift, int order)
    {
        var first = order == 63 ? 0 : 1UL << order;
        var xa = new XArray<Item>(shift);
        var a = new Item(1);
        StoreOrder(xa, first, order, a);

        foreach (var i in Covered(first, order))
        {
            Assert.False(xa.Insert(i, new Item(2)));
        }

        xa.AssertInvariants();
        Assert.Equal([(first, a)], xa.Entries().ToList());
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void CmpXchg_AtACoveredIndex_ReplacesTheEntryKeepingItsOrder(int shift)
    {
        var xa = new XArray<Item>(shift);
        var a = new Item(1);
        var b = new Item(2);
        StoreOrder(xa, 16, 4, a);

        Assert.Same(a, xa.CmpXchg(21, a, b));
        xa.AssertInvariants();

        for (var i = 16UL; i < 32; i++)
        {
            Assert.Same(b, xa.Load(i));
            Assert.Equal(4, xa.GetOrder(i));
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void CmpXchg_WithTheWrongOldAtACoveredIndex_ReturnsTheEntryAndChangesNothing(int shift)
    {
        var xa = new XArray<Item>(shift);
        var a = new Item(1);
        StoreOrder(xa, 16, 4, a);

        Assert.Same(a, xa.CmpXchg(21, new Item(1), new Item(2)));
        Assert.Same(a, xa.CmpXchg(21, null, new Item(3)));
        xa.AssertInvariants();

        Assert.Equal([(16UL, a)], xa.Entries().ToList());
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void CmpXchg_ToNull_ErasesTheWholeEntryAndItsOrderButNotTheNextEntry(int shift)
    {
        // check_cmpxchg_order: the same entry stored with order 3 at 0 and at 8.
        var xa = new XArray<Item>(shift);
        var five = new Item(5);
        Assert.Null(StoreOrder(xa, 0, 3, five));
        Assert.Equal(3, xa.GetOrder(5));
        Assert.Null(xa.Load(8));
        Assert.Null(StoreOrder(xa, 8, 3, five));

        Assert.Same(five, xa.CmpXchg(0, five, null));
        xa.AssertInvariants();

        for (var i = 0UL; i < 8; i++)
        {
            Assert.Null(xa.Load(i));
            Assert.Equal(0, xa.GetOrder(i));
        }

        for (var i = 8UL; i < 16; i++)
        {
            Assert.Same(five, xa.Load(i));
            Assert.Equal(3, xa.GetOrder(i));
        }

        StoreOrder(xa, 0, 63, null);
        AssertEmpty(xa);
    }

    // ---------------- StoreRange ----------------

    [Theory]
    [InlineData(2, 0ul)]
    [InlineData(2, 4095ul)]
    [InlineData(2, 123456ul)]
    [InlineData(6, 0ul)]
    [InlineData(6, 128ul)]
    [InlineData(6, 4095ul)]
    [InlineData(6, 4096ul)]
    [InlineData(6, 16777216ul)]
    public void StoreRange_LoadsAtBothEndsButNotOutsideAndNullOverItEmpties(int shift, ulong offset)
    {
        // check_store_range, for ranges inside [offset, offset + 40).
        for (var i = 0UL; i < 40; i++)
        {
            for (var j = i; j < 40; j++)
            {
                var xa = new XArray<Item>(shift);
                var first = offset + i;
                var last = offset + j;
                var a = new Item((int)first);

                StoreRangeAndAssertItLoads(xa, first, last, a);

                Assert.Same(a, xa.StoreRange(first, last, null));
                AssertEmpty(xa);
            }
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void StoreRange_IsStoredAsAlignedPowerOfTwoPieces(int shift)
    {
        var xa = new XArray<Item>(shift);
        var a = new Item(1);

        xa.StoreRange(1, 6, a);
        xa.AssertInvariants();

        Assert.Equal([1UL, 2, 4, 6], xa.Entries().Select(e => e.Index).ToList());
        Assert.All(xa.Entries(), e => Assert.Same(a, e.Entry));
        Assert.Equal(0, xa.GetOrder(1));
        Assert.Equal(1, xa.GetOrder(2));
        Assert.Equal(1, xa.GetOrder(5));
        Assert.Equal(0, xa.GetOrder(6));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void StoreRange_OverTheWholeIndexSpace_StoresTwoOrder63Pieces(int shift)
    {
        var xa = new XArray<Item>(shift);
        var a = new Item(1);

        Assert.Null(xa.StoreRange(0, ulong.MaxValue, a));
        xa.AssertInvariants();

        Assert.Equal([(0UL, a), (1UL << 63, a)], xa.Entries().ToList());
        Assert.Equal(63, xa.GetOrder(0));
        Assert.Equal(63, xa.GetOrder(ulong.MaxValue));
        Assert.Same(a, xa.Load(12345));
        Assert.Same(a, xa.Load(ulong.MaxValue));

        Assert.Same(a, xa.StoreRange(0, ulong.MaxValue, null));
        AssertEmpty(xa);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void StoreRange_OfNull_ErasesEveryOverlappingEntryWholeAndNothingElse(int shift)
    {
        var xa = new XArray<Item>(shift);
        var below = new Item(0);
        var straddlingStart = new Item(1);
        var inside = new Item(2);
        var straddlingEnd = new Item(3);
        var above = new Item(4);
        xa.Store(7, below);
        StoreOrder(xa, 8, 3, straddlingStart);
        xa.Store(17, inside);
        StoreOrder(xa, 32, 5, straddlingEnd);
        xa.Store(64, above);
        xa.SetMark(40, XaMark.Mark0);

        Assert.Same(straddlingStart, xa.StoreRange(10, 33, null));
        xa.AssertInvariants();

        Assert.Equal([(7UL, below), (64UL, above)], xa.Entries().ToList());
        Assert.False(xa.Marked(XaMark.Mark0));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void StoreRange_ReturnsTheEntryThatCoveredFirst(int shift)
    {
        var xa = new XArray<Item>(shift);
        var old = new Item(1);
        var a = new Item(2);
        var b = new Item(3);
        StoreOrder(xa, 8, 3, old);

        Assert.Same(old, xa.StoreRange(12, 20, a));
        xa.AssertInvariants();
        Assert.Same(a, xa.StoreRange(12, 12, b));
        Assert.Null(xa.StoreRange(100, 200, b));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void StoreRange_InsideALargerEntry_ReplacesThatEntryOverItsWholeRange(int shift)
    {
        var xa = new XArray<Item>(shift);
        var old = new Item(1);
        var a = new Item(2);
        StoreOrder(xa, 16, 4, old);

        Assert.Same(old, xa.StoreRange(18, 21, a));
        xa.AssertInvariants();

        for (var i = 16UL; i < 32; i++)
        {
            Assert.Same(a, xa.Load(i));
        }

        Assert.Null(xa.Load(32));
        Assert.Equal(4, xa.GetOrder(16));
    }

    [Theory]
    [InlineData(2, 5ul, ulong.MaxValue)]
    [InlineData(6, 5ul, ulong.MaxValue)]
    [InlineData(2, 9223372036854775808ul, ulong.MaxValue)]
    [InlineData(6, 9223372036854775808ul, ulong.MaxValue)]
    [InlineData(2, ulong.MaxValue - 1, ulong.MaxValue)]
    [InlineData(6, ulong.MaxValue, ulong.MaxValue)]
    [InlineData(2, 0ul, 0ul)]
    [InlineData(6, 0ul, 9223372036854775806ul)]
    public void StoreRange_AtTheEndsOfTheIndexSpace_CoversExactlyTheRange(int shift, ulong first, ulong last)
    {
        var xa = new XArray<Item>(shift);
        var a = new Item(1);

        StoreRangeAndAssertItLoads(xa, first, last, a);

        // Each piece is yielded once, at an index aligned to its order, and the pieces tile the range.
        var next = first;
        foreach (var (index, entry) in xa.Entries())
        {
            Assert.Same(a, entry);
            Assert.Equal(next, index);
            var order = xa.GetOrder(index);
            Assert.Equal(0UL, index & ((1UL << order) - 1));
            next = unchecked(index + (1UL << order));
        }

        Assert.Equal(unchecked(last + 1), next);
        Assert.Same(a, xa.StoreRange(first, last, null));
        AssertEmpty(xa);
    }

    [Fact]
    public void StoreRange_WithFirstAfterLast_ThrowsAndChangesNothing()
    {
        var xa = new XArray<Item>(6);

        Assert.Throws<ArgumentOutOfRangeException>(() => xa.StoreRange(5, 4, new Item(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => xa.StoreRange(ulong.MaxValue, 0, null));

        AssertEmpty(xa);
    }

    // ---------------- node accounting ----------------

    [Fact]
    public void NodeCounts_OfAPointerAndAValueEntryOfOrderTwoInOneLeaf_CountTwiceTheValues()
    {
        var xa = new XArray<Item>(6);
        StoreOrder(xa, 0, 2, new Item(1));
        StoreValueOrder(xa, 4, 2, 4);

        AssertNodeCounts(xa, 0, (8, 4));

        xa.Erase(6);
        AssertNodeCounts(xa, 0, (4, 0));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void NodeCounts_ForEveryOrder_CountSiblingSlotsOfPointersAndValues(int shift)
    {
        // check_account, orders 1..11: an order-N pointer at 0 and an order-N value at 2^N.
        for (var order = 1; order < 12; order++)
        {
            var xa = new XArray<Item>(shift);
            var at = 1UL << order;
            StoreOrder(xa, 0, order, new Item(order));
            var (count, values) = xa.NodeCounts(at);
            Assert.InRange(count, 1, 1 << order);
            Assert.Equal(0, values);

            StoreValueOrder(xa, at, order, at);
            (count, values) = xa.NodeCounts(at);
            Assert.Equal(2 * values, count);

            Assert.Null(xa.Erase(at));
            xa.AssertInvariants();
            Assert.Equal(0, xa.NodeCounts(at).NrValues);

            xa.Erase(0);
            AssertEmpty(xa);
        }
    }

    // ---------------- helpers ----------------

    /// <summary>check_multi_find_1's layout, for orders 2..9: an entry of the order at
    /// 3 &lt;&lt; order (<c>Multi</c>) and a single entry at 4 &lt;&lt; order (<c>Next</c>).</summary>
    private static IEnumerable<(XArray<Item> Xa, int Order, Item Multi, Item Next)> EntryThenNext(int shift)
    {
        for (var order = 2; order < 10; order++)
        {
            var xa = new XArray<Item>(shift);
            var multi = new Item(1);
            var next = new Item(2);
            StoreOrder(xa, 3UL << order, order, multi);
            xa.Store(4UL << order, next);
            yield return (xa, order, multi, next);
        }
    }

    /// <summary>Checks <paramref name="entry"/> loads at <paramref name="first"/> and
    /// <paramref name="end"/> - 1 and nothing loads just outside them.</summary>
    private static void AssertHeldExactlyIn(XArray<Item> xa, ulong first, ulong end, Item entry)
    {
        Assert.Same(entry, xa.Load(first));
        Assert.Same(entry, xa.Load(end - 1));
        Assert.Null(xa.Load(end));
        Assert.Null(xa.Load(unchecked(first - 1)));
    }

    /// <summary>Stores <paramref name="entry"/> over [<paramref name="first"/>, <paramref name="last"/>]
    /// in an array that held nothing there; checks it loads at both ends and in the middle, and
    /// nothing loads just outside the range (wrapping around the index space unless the range
    /// covers all of it).</summary>
    private static void StoreRangeAndAssertItLoads(XArray<Item> xa, ulong first, ulong last, Item entry)
    {
        Assert.Null(xa.StoreRange(first, last, entry));
        xa.AssertInvariants();

        Assert.Same(entry, xa.Load(first));
        Assert.Same(entry, xa.Load(last));
        Assert.Same(entry, xa.Load(first + ((last - first) / 2)));
        if (first != 0 || last != ulong.MaxValue)
        {
            Assert.Null(xa.Load(unchecked(first - 1)));
            Assert.Null(xa.Load(unchecked(last + 1)));
        }
    }

    /// <summary>xa_find_marked() from <paramref name="start"/>: checks it returns
    /// <paramref name="expected"/> and leaves the index at <paramref name="expectedIndex"/>.</summary>
    private static void AssertFindMarked(XArray<Item> xa, ulong start, XaMark mark, Item expected, ulong expectedIndex)
    {
        var index = start;
        Assert.Same(expected, xa.FindMarked(ref index, ulong.MaxValue, mark));
        Assert.Equal(expectedIndex, index);
    }

    /// <summary>Indexes of the entry of <paramref name="order"/> at <paramref name="first"/>: all of
    /// them for small orders, both ends and around the middle for large ones.</summary>
    private static IEnumerable<ulong> Covered(ulong first, int order)
    {
        var size = 1UL << order;
        if (order <= 6)
        {
            for (var i = 0UL; i < size; i++)
            {
                yield return first + i;
            }

            yield break;
        }

        var last = first + (size - 1);
        var half = first + (size / 2);
        yield return first;
        yield return first + 1;
        yield return half - 1;
        yield return half;
        yield return last - 1;
        yield return last;
    }
}
