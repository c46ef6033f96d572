using Writeback.Lib;
using static Writeback.Tests.Lib.XArrayTestSupport;

namespace Writeback.Tests.Lib;

/// <summary>Unit tests for value entries of <see cref="XArray{T}"/> (xa_mk_value(): an integer held
/// in a slot in place of an entry, as the page cache holds shadow and swap entries). The typed API
/// sees a value as an occupied slot that is not a <c>T</c>: loads and iteration pass over it,
/// inserts fail on it, and nr_values counts it. lib/test_xarray.c stores values throughout (its
/// xa_mk_index()); the accounting re-expresses the counts check_multi_store reads.</summary>
public class XArrayValueTests
{
    /// <summary>Chunk shift and index: the head, leaf edges, deep and top-of-range indexes.</summary>
    public static TheoryData<int, ulong> ShiftsAndIndexes =>
        ForShifts<ulong>(_ => [0, 1, 63, 64, 1UL << 32, ulong.MaxValue]);

    // ---------------- storing and loading ----------------

    [Theory]
    [MemberData(nameof(ShiftsAndIndexes))]
    public void StoreValue_ThenTryLoadValue_ReturnsTheValueAndLoadReturnsNull(int shift, ulong index)
    {
        var xa = new XArray<Item>(shift);

        Assert.Null(xa.StoreValue(index, 12345678));
        xa.AssertInvariants();

        AssertValue(xa, index, 12345678UL);
        Assert.Null(xa.Load(index));
        Assert.False(xa.IsEmpty);
        Assert.False(xa.TryLoadValue(unchecked(index + 1), out _));
        Assert.False(xa.TryLoadValue(unchecked(index - 1), out _));
    }

    [Theory]
    [InlineData(0ul)]
    [InlineData(1ul)]
    [InlineData((ulong)long.MaxValue)]
    public void StoreValue_OfAnyNonNegativeLong_RoundTrips(ulong v)
    {
        var xa = new XArray<Item>(6);

        xa.StoreValue(5, v);

        AssertValue(xa, 5, v);
    }

    [Fact]
    public void StoreValue_AboveLongMaxValue_ThrowsAndStoresNothing()
    {
        var xa = new XArray<Item>(6);

        Assert.Throws<ArgumentOutOfRangeException>(() => xa.StoreValue(5, (ulong)long.MaxValue + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => xa.StoreValue(5, ulong.MaxValue));

        AssertEmpty(xa);
    }

    [Fact]
    public void TryLoadValue_OfAnEntryOrAHole_IsFalseWithZero()
    {
        var xa = new XArray<Item>(6);
        xa.Store(3, new Item(3));

        Assert.False(xa.TryLoadValue(3, out var atEntry));
        Assert.Equal(0UL, atEntry);
        Assert.False(xa.TryLoadValue(4, out var atHole));
        Assert.Equal(0UL, atHole);
        Assert.False(xa.TryLoadValue(1UL << 40, out _));
    }

    [Theory]
    [MemberData(nameof(ShiftsAndIndexes))]
    public void StoreValue_OverAnEntry_ReturnsTheEntryAndReplacesIt(int shift, ulong index)
    {
        var xa = new XArray<Item>(shift);
        var a = new Item(1);
        xa.Store(index, a);

        Assert.Same(a, xa.StoreValue(index, 7));
        xa.AssertInvariants();

        Assert.Null(xa.Load(index));
        AssertValue(xa, index, 7UL);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void StoreValue_OverAValue_ReturnsNullAndReplacesIt(int shift)
    {
        var xa = new XArray<Item>(shift);
        xa.StoreValue(9, 1);

        Assert.Null(xa.StoreValue(9, 2));
        xa.AssertInvariants();

        AssertValue(xa, 9, 2UL);
        Assert.Equal((1, 1), xa.NodeCounts(9));
    }

    [Theory]
    [MemberData(nameof(ShiftsAndIndexes))]
    public void Store_OfAnEntryOverAValue_ReturnsNullAndReplacesIt(int shift, ulong index)
    {
        var xa = new XArray<Item>(shift);
        var a = new Item(1);
        xa.StoreValue(index, 7);

        Assert.Null(xa.Store(index, a));
        xa.AssertInvariants();

        Assert.Same(a, xa.Load(index));
        Assert.False(xa.TryLoadValue(index, out _));
        Assert.Equal([(index, a)], xa.Entries().ToList());
    }

    [Theory]
    [MemberData(nameof(ShiftsAndIndexes))]
    public void Erase_OfAValue_ReturnsNullAndEmptiesTheArray(int shift, ulong index)
    {
        var xa = new XArray<Item>(shift);
        xa.StoreValue(index, 7);

        Assert.Null(xa.Erase(index));

        Assert.False(xa.TryLoadValue(index, out _));
        AssertEmpty(xa);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void StoreNull_OverAValue_ReturnsNullAndEmptiesTheArray(int shift)
    {
        var xa = new XArray<Item>(shift);
        xa.StoreValue(100, 7);

        Assert.Null(xa.Store(100, null));

        AssertEmpty(xa);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Insert_AtAValue_FailsAndKeepsTheValueEvenWhenItIsZero(int shift)
    {
        var xa = new XArray<Item>(shift);
        xa.StoreValue(0, 0);
        xa.StoreValue(12345678, 0);

        Assert.False(xa.Insert(0, new Item(1)));
        Assert.False(xa.Insert(12345678, new Item(2)));
        xa.AssertInvariants();

        Assert.True(xa.TryLoadValue(0, out _));
        Assert.True(xa.TryLoadValue(12345678, out _));
        Assert.Empty(xa.Entries());
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void CmpXchg_AtAValue_MatchesNeitherNullNorAnEntryAndLeavesIt(int shift)
    {
        var xa = new XArray<Item>(shift);
        xa.StoreValue(5, 5);

        Assert.Null(xa.CmpXchg(5, null, new Item(1)));
        Assert.Null(xa.CmpXchg(5, new Item(5), null));
        xa.AssertInvariants();

        AssertValue(xa, 5, 5UL);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void ReserveAndRelease_AtAValue_LeaveTheValue(int shift)
    {
        var xa = new XArray<Item>(shift);
        xa.StoreValue(5, 5);

        xa.Reserve(5);
        xa.Release(5);
        xa.AssertInvariants();

        AssertValue(xa, 5, 5UL);
    }

    // ---------------- search and iteration ----------------

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Entries_SkipValuesButYieldTheEntriesAroundThem(int shift)
    {
        var xa = new XArray<Item>(shift);
        var a = new Item(1);
        var b = new Item(2);
        xa.StoreValue(0, 0);
        xa.Store(3, a);
        xa.StoreValue(4, 4);
        xa.StoreValue(1000, 1000);
        xa.Store(1001, b);
        xa.StoreValue(ulong.MaxValue, 1);

        Assert.Equal([(3UL, a), (1001UL, b)], xa.Entries().ToList());
        Assert.Equal([(1001UL, b)], xa.Entries(4).ToList());
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Find_FromAValue_SkipsItToTheNextEntry(int shift)
    {
        var xa = new XArray<Item>(shift);
        var a = new Item(1);
        xa.StoreValue(10, 10);
        xa.Store(700, a);

        AssertFind(xa, 10, ulong.MaxValue, a, 700);
        AssertFind(xa, 10, 699, null, 10);
    }

    [Fact]
    public void Find_OfAValueHeldInTheHead_ReturnsNull()
    {
        var xa = new XArray<Item>(6);
        xa.StoreValue(0, 3);

        AssertFind(xa, 0, ulong.MaxValue, null, 0);
        Assert.Empty(xa.Entries());
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Find_FromInsideAMultiIndexValue_SkipsItWhole(int shift)
    {
        var xa = new XArray<Item>(shift);
        var a = new Item(1);
        StoreValueOrder(xa, 16, 4, 16);
        xa.Store(32, a);

        AssertFind(xa, 17, ulong.MaxValue, a, 32);
        Assert.Equal([(32UL, a)], xa.Entries(17).ToList());
    }

    // ---------------- marks ----------------

    [Theory]
    [MemberData(nameof(ShiftsAndIndexes))]
    public void SetMark_OnAValue_MarksItButMarkedIterationSkipsIt(int shift, ulong index)
    {
        var xa = new XArray<Item>(shift);
        xa.StoreValue(index, 1);

        xa.SetMark(index, XaMark.Mark2);
        xa.AssertInvariants();

        Assert.True(xa.GetMark(index, XaMark.Mark2));
        Assert.False(xa.GetMark(index, XaMark.Mark0));
        Assert.True(xa.Marked(XaMark.Mark2));
        Assert.Empty(xa.EntriesMarked(XaMark.Mark2));
        var start = 0UL;
        Assert.Null(xa.FindMarked(ref start, ulong.MaxValue, XaMark.Mark2));
    }

    [Theory]
    [MemberData(nameof(ShiftsAndIndexes))]
    public void ClearMark_OnAValue_ClearsIt(int shift, ulong index)
    {
        var xa = new XArray<Item>(shift);
        xa.StoreValue(index, 1);
        xa.SetMark(index, XaMark.Mark0);

        xa.ClearMark(index, XaMark.Mark0);
        xa.AssertInvariants();

        Assert.False(xa.GetMark(index, XaMark.Mark0));
        Assert.False(xa.Marked(XaMark.Mark0));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Store_OfAnEntryOverAMarkedValue_KeepsTheMark(int shift)
    {
        // As for any store over an entry: only storing NULL clears marks.
        var xa = new XArray<Item>(shift);
        var a = new Item(1);
        xa.StoreValue(40, 1);
        xa.SetMark(40, XaMark.Mark1);

        xa.Store(40, a);
        xa.AssertInvariants();

        Assert.True(xa.GetMark(40, XaMark.Mark1));
        Assert.Equal([(40UL, a)], xa.EntriesMarked(XaMark.Mark1).ToList());
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Erase_OfAMarkedValue_ClearsItsMarksWhileItsLeafStays(int shift)
    {
        var xa = new XArray<Item>(shift);
        var neighbour = new Item(41);
        xa.StoreValue(40, 1);
        xa.Store(41, neighbour);
        foreach (var m in Marks)
        {
            xa.SetMark(40, m);
        }

        xa.Erase(40);
        xa.AssertInvariants();

        foreach (var m in Marks)
        {
            Assert.False(xa.Marked(m));
            Assert.False(xa.GetMark(40, m));
        }

        Assert.Equal([(41UL, neighbour)], xa.Entries().ToList());
    }

    // ---------------- the head ----------------

    [Fact]
    public void StoreValue_AtIndexZero_LivesInTheHeadWithoutANode()
    {
        var xa = new XArray<Item>(6);

        xa.StoreValue(0, 42);
        xa.AssertInvariants();

        Assert.Equal(0, xa.NodeCount);
        Assert.Equal(0, xa.Height);
        Assert.Equal((0, 0), xa.NodeCounts(0));
        AssertValue(xa, 0, 42UL);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void StoreValue_AtIndexZero_MovesIntoALeafAndBackToTheHeadWithItsMark(int shift)
    {
        var xa = new XArray<Item>(shift);
        xa.StoreValue(0, 42);
        xa.SetMark(0, XaMark.Mark1);

        xa.Store(1, new Item(1));
        AssertNodeCounts(xa, 0, (2, 1));
        AssertValue(xa, 0, 42UL);
        Assert.True(xa.GetMark(0, XaMark.Mark1));

        xa.Erase(1);
        xa.AssertInvariants();
        Assert.Equal(0, xa.NodeCount);
        AssertValue(xa, 0, 42UL);
        Assert.True(xa.GetMark(0, XaMark.Mark1));
    }

    // ---------------- nr_values accounting ----------------

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void NodeCounts_TrackValuesAsTheyAreAddedReplacedAndRemoved(int shift)
    {
        var xa = new XArray<Item>(shift);
        xa.StoreValue(1, 1);
        xa.StoreValue(2, 2);
        xa.Store(3, new Item(3));
        AssertNodeCounts(xa, 1, (3, 2));

        xa.Store(1, new Item(1));
        AssertNodeCounts(xa, 1, (3, 1));

        xa.StoreValue(3, 3);
        AssertNodeCounts(xa, 1, (3, 2));

        xa.Erase(2);
        AssertNodeCounts(xa, 1, (2, 1));

        xa.Erase(3);
        AssertNodeCounts(xa, 1, (1, 0));
    }

    [Fact]
    public void NodeCounts_WithValuesInTwoLeaves_CountEachLeafSeparately()
    {
        var xa = new XArray<Item>(2);
        xa.StoreValue(1, 1);
        xa.StoreValue(2, 2);
        xa.StoreValue(5, 5);
        xa.Store(6, new Item(6));
        AssertNodeCounts(xa, 1, (2, 2));
        Assert.Equal((2, 1), xa.NodeCounts(5));
    }

    [Fact]
    public void NodeCounts_OfMultiIndexValues_CountEverySiblingSlot()
    {
        // check_multi_store's opening: order 1 at 0, a pointer at 3, then order 2 at 0.
        var xa = new XArray<Item>(6);
        StoreValueOrder(xa, 0, 1, 0);
        Assert.True(xa.TryLoadValue(1, out _));
        Assert.False(xa.TryLoadValue(2, out _));
        Assert.Equal((2, 2), xa.NodeCounts(0));

        xa.Store(3, new Item(3));
        xa.AssertInvariants();
        Assert.True(xa.TryLoadValue(1, out _));
        Assert.False(xa.TryLoadValue(2, out _));
        Assert.Equal((3, 2), xa.NodeCounts(0));

        StoreValueOrder(xa, 0, 2, 1);
        for (var i = 0UL; i < 4; i++)
        {
            AssertValue(xa, i, 1UL);
        }

        Assert.False(xa.TryLoadValue(4, out _));
        Assert.Equal((4, 4), xa.NodeCounts(0));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void StoreValue_InsideAMultiIndexEntry_ReplacesItWholeAndCountsEverySlot(int shift)
    {
        var xa = new XArray<Item>(shift);
        StoreOrder(xa, 0, 1, new Item(1));
        Assert.Equal((2, 0), xa.NodeCounts(0));

        xa.StoreValue(1, 9);
        xa.AssertInvariants();

        AssertValue(xa, 0, 9UL);
        Assert.Equal(1, xa.GetOrder(0));
        Assert.Equal((2, 2), xa.NodeCounts(0));
        Assert.Empty(xa.Entries());
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Store_OfAnEntryOverAMultiIndexValue_ReplacesItAndDropsEveryValueSlot(int shift)
    {
        var xa = new XArray<Item>(shift);
        var a = new Item(1);
        StoreValueOrder(xa, 0, 1, 5);
        Assert.Equal((2, 2), xa.NodeCounts(0));

        Assert.Null(xa.Store(1, a));
        AssertNodeCounts(xa, 0, (2, 0));
        Assert.Same(a, xa.Load(0));
        Assert.False(xa.TryLoadValue(1, out _));
    }

    [Fact]
    public void Store_OfAnEntryInsideAHighLevelMultiIndexValue_DropsTheValueFromTheNodeHoldingIt()
    {
        // Chunk shift 2: an order-3 value fills two slots of a shift-2 node.
        var xa = new XArray<Item>(2);
        StoreValueOrder(xa, 16, 3, 16);
        Assert.Equal((2, 2), xa.NodeCounts(16));

        xa.Store(21, new Item(21));
        AssertNodeCounts(xa, 16, (2, 0));
        Assert.Equal(3, xa.GetOrder(23));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Store_OfALargerEntryOverValues_DropsThemFromTheCount(int shift)
    {
        var xa = new XArray<Item>(shift);
        var big = new Item(1);
        xa.StoreValue(4, 4);
        xa.StoreValue(5, 5);
        xa.Store(7, new Item(7));

        StoreOrder(xa, 4, 2, big);

        Assert.Equal(0, xa.NodeCounts(4).NrValues);
        Assert.Equal([(4UL, big)], xa.Entries().ToList());
    }

    // ---------------- multi-index values and the cursor ----------------

    [Theory]
    [InlineData(2, 1)]
    [InlineData(2, 5)]
    [InlineData(6, 3)]
    [InlineData(6, 13)]
    public void XaStateStoreValue_OfAnOrder_LoadsTheValueAtEveryCoveredIndex(int shift, int order)
    {
        var xa = new XArray<Item>(shift);
        var first = 3UL << order;
        var last = first + ((1UL << order) - 1);

        StoreValueOrder(xa, first, order, 77);

        foreach (var i in new[] { first, first + 1, last - 1, last })
        {
            AssertValue(xa, i, 77UL);
            Assert.Null(xa.Load(i));
            Assert.Equal(order, xa.GetOrder(i));
        }

        Assert.False(xa.TryLoadValue(first - 1, out _));
        Assert.False(xa.TryLoadValue(last + 1, out _));

        Assert.Null(xa.Erase(last));
        AssertEmpty(xa);
    }

    [Fact]
    public void XaStateStoreValue_AboveLongMaxValue_Throws()
    {
        var xa = new XArray<Item>(6);
        var xas = new XaState<Item>(xa, 4);
        Locked(xa, () => Assert.Throws<ArgumentOutOfRangeException>(() => xas.StoreValue((ulong)long.MaxValue + 1)));

        AssertEmpty(xa);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void XaStateTryLoadValue_ReadsAValueButNotAnEntryOrAHole(int shift)
    {
        var xa = new XArray<Item>(shift);
        xa.StoreValue(70, 700);
        xa.Store(71, new Item(71));
        StoreValueOrder(xa, 128, 4, 1280);

        Assert.True(new XaState<Item>(xa, 70).TryLoadValue(out var single));
        Assert.Equal(700UL, single);
        Assert.True(new XaState<Item>(xa, 140).TryLoadValue(out var covered));
        Assert.Equal(1280UL, covered);
        Assert.False(new XaState<Item>(xa, 71).TryLoadValue(out var atEntry));
        Assert.Equal(0UL, atEntry);
        Assert.False(new XaState<Item>(xa, 72).TryLoadValue(out _));
        Assert.Null(new XaState<Item>(xa, 70).Load());
    }

    // ---------------- range erase and destroy ----------------

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void StoreRange_OfNull_ErasesValuesInTheRange(int shift)
    {
        var xa = new XArray<Item>(shift);
        var outside = new Item(1);
        xa.StoreValue(10, 10);
        StoreValueOrder(xa, 16, 3, 16);
        xa.StoreValue(30, 30);
        xa.Store(31, outside);

        Assert.Null(xa.StoreRange(10, 30, null));
        xa.AssertInvariants();

        Assert.False(xa.TryLoadValue(10, out _));
        Assert.False(xa.TryLoadValue(20, out _));
        Assert.False(xa.TryLoadValue(30, out _));
        Assert.Equal([(31UL, outside)], xa.Entries().ToList());
        Assert.Equal((1, 0), xa.NodeCounts(31));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Destroy_WithValues_EmptiesTheArray(int shift)
    {
        var xa = new XArray<Item>(shift);
        xa.StoreValue(0, 0);
        xa.StoreValue(1000, 1);
        StoreValueOrder(xa, 1UL << 20, 12, 2);
        xa.SetMark(1000, XaMark.Mark0);

        xa.Destroy();

        AssertEmpty(xa);
        Assert.False(xa.TryLoadValue(0, out _));
        Assert.False(xa.TryLoadValue(1000, out _));
    }
}
