using Writeback.Lib;
using static Writeback.Tests.Lib.XArrayTestSupport;

namespace Writeback.Tests.Lib;

/// <summary>Unit tests for <see cref="XArray{T}"/> marks, after the kernel's lib/test_xarray.c
/// check_xa_mark (check_xa_mark_1: NULL entries take no marks, one mark does not set another,
/// erasing clears marks; check_xa_mark_2: a thousand marked entries are all found).</summary>
public class XArrayMarkTests
{
    [Fact]
    public void SetMark_OnAnAbsentIndexDoesNothing()
    {
        var xa = New(2);
        xa.SetMark(5, XaMark.Mark0);
        AssertEmpty(xa);

        Store(xa, 4, new Item(4));
        var nodes = xa.NodeCount;
        xa.SetMark(5, XaMark.Mark0);
        xa.SetMark(1UL << 40, XaMark.Mark1);
        xa.AssertInvariants();

        Assert.False(xa.GetMark(5, XaMark.Mark0));
        Assert.False(xa.Marked(XaMark.Mark0));
        Assert.False(xa.Marked(XaMark.Mark1));
        Assert.Equal(nodes, xa.NodeCount);

        // A later store at the index does not find a stale mark waiting for it.
        Store(xa, 5, new Item(5));
        Assert.False(xa.GetMark(5, XaMark.Mark0));
    }

    [Fact]
    public void SetMark_BesideAnEntryHeldInTheHeadDoesNothing()
    {
        var xa = New(6);
        Store(xa, 0, new Item(0));

        xa.SetMark(1, XaMark.Mark0);
        xa.AssertInvariants();

        Assert.False(xa.GetMark(1, XaMark.Mark0));
        Assert.False(xa.GetMark(0, XaMark.Mark0));
        Assert.False(xa.Marked(XaMark.Mark0));
        Assert.Equal(0, xa.Height);
    }

    [Fact]
    public void ClearMark_OnAnAbsentIndexAllocatesNothing()
    {
        var xa = New(2);
        xa.ClearMark(1UL << 50, XaMark.Mark2);
        AssertEmpty(xa);

        Store(xa, 1, new Item(1));
        var nodes = xa.NodeCount;
        xa.ClearMark(1UL << 50, XaMark.Mark2);
        xa.AssertInvariants();
        Assert.Equal(nodes, xa.NodeCount);
    }

    [Theory]
    [MemberData(nameof(ShiftsAndBoundaryIndexes), MemberType = typeof(XArrayTestSupport))]
    public void SetMark_MarksOnlyThatIndexWithOnlyThatMark(int shift, ulong index)
    {
        var xa = New(shift);
        var below = unchecked(index - 1);
        var above = unchecked(index + 1);
        Store(xa, below, new Item(-1));
        Store(xa, index, new Item(0));
        Store(xa, above, new Item(1));

        xa.SetMark(index, XaMark.Mark1);
        xa.AssertInvariants();

        Assert.True(xa.GetMark(index, XaMark.Mark1));
        Assert.False(xa.GetMark(index, XaMark.Mark0));
        Assert.False(xa.GetMark(index, XaMark.Mark2));
        Assert.False(xa.GetMark(below, XaMark.Mark1));
        Assert.False(xa.GetMark(above, XaMark.Mark1));
        Assert.True(xa.Marked(XaMark.Mark1));
        Assert.False(xa.Marked(XaMark.Mark0));
        Assert.False(xa.Marked(XaMark.Mark2));
        Assert.Equal([index], Indexes(xa.EntriesMarked(XaMark.Mark1)));

        xa.ClearMark(index, XaMark.Mark1);
        xa.AssertInvariants();
        Assert.False(xa.GetMark(index, XaMark.Mark1));
        Assert.False(xa.Marked(XaMark.Mark1));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void SetMark_OnADeepIndexSetsMarked(int shift)
    {
        var xa = New(shift);
        Store(xa, 0, new Item(0));
        Store(xa, 1UL << 40, new Item(1));
        Assert.True(xa.Height >= 2);

        xa.SetMark(1UL << 40, XaMark.Mark2);
        xa.AssertInvariants();

        Assert.True(xa.Marked(XaMark.Mark2));
        Assert.False(xa.Marked(XaMark.Mark0));
        ulong index = 0;
        Assert.NotNull(xa.FindMarked(ref index, ulong.MaxValue, XaMark.Mark2));
        Assert.Equal(1UL << 40, index);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void ClearMark_OfTheOnlyMarkedEntryClearsMarked(int shift)
    {
        var xa = New(shift);
        Store(xa, 3, new Item(3));
        Store(xa, 1UL << 40, new Item(1));
        xa.SetMark(1UL << 40, XaMark.Mark0);

        xa.ClearMark(1UL << 40, XaMark.Mark0);
        xa.AssertInvariants();

        Assert.False(xa.Marked(XaMark.Mark0));
        Assert.False(xa.GetMark(1UL << 40, XaMark.Mark0));
        Assert.Empty(xa.EntriesMarked(XaMark.Mark0));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void ClearMark_LeavesMarkedWhileAnotherSubtreeStillHasTheMark(int shift)
    {
        var xa = New(shift);
        const ulong Near = 2;
        const ulong Far = 1UL << 40;
        Store(xa, Near, new Item(1));
        Store(xa, Far, new Item(2));
        xa.SetMark(Near, XaMark.Mark1);
        xa.SetMark(Far, XaMark.Mark1);

        xa.ClearMark(Far, XaMark.Mark1);
        xa.AssertInvariants();
        Assert.True(xa.Marked(XaMark.Mark1));
        Assert.Equal([Near], Indexes(xa.EntriesMarked(XaMark.Mark1)));

        xa.ClearMark(Near, XaMark.Mark1);
        xa.AssertInvariants();
        Assert.False(xa.Marked(XaMark.Mark1));
    }

    [Fact]
    public void ClearMark_OfOneSiblingKeepsTheOtherSiblingsMark()
    {
        // Two marked entries in one leaf: clearing one must not clear the parent's bit.
        var xa = New(2);
        Store(xa, 16, new Item(16));
        Store(xa, 17, new Item(17));
        Store(xa, 100, new Item(100));
        xa.SetMark(16, XaMark.Mark0);
        xa.SetMark(17, XaMark.Mark0);

        xa.ClearMark(16, XaMark.Mark0);
        xa.AssertInvariants();

        Assert.True(xa.Marked(XaMark.Mark0));
        ulong index = 0;
        Assert.NotNull(xa.FindMarked(ref index, ulong.MaxValue, XaMark.Mark0));
        Assert.Equal(17UL, index);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Erase_OfTheOnlyMarkedEntryClearsMarked(int shift)
    {
        var xa = New(shift);
        Store(xa, 3, new Item(3));
        Store(xa, 1UL << 40, new Item(1));
        xa.SetMark(1UL << 40, XaMark.Mark0);

        xa.Erase(1UL << 40);
        xa.AssertInvariants();

        Assert.False(xa.Marked(XaMark.Mark0));
        Assert.Empty(xa.EntriesMarked(XaMark.Mark0));
    }

    [Fact]
    public void Marks_OnIndexZeroHeldInTheHeadWork()
    {
        var xa = New(6);
        var a = new Item(0);
        Store(xa, 0, a);
        Assert.Equal(0, xa.Height);

        xa.SetMark(0, XaMark.Mark1);
        xa.AssertInvariants();

        Assert.True(xa.GetMark(0, XaMark.Mark1));
        Assert.False(xa.GetMark(0, XaMark.Mark0));
        Assert.True(xa.Marked(XaMark.Mark1));
        Assert.Equal([(0UL, a)], xa.EntriesMarked(XaMark.Mark1).ToList());
        ulong index = 0;
        Assert.Same(a, xa.FindMarked(ref index, ulong.MaxValue, XaMark.Mark1));
        Assert.Equal(0UL, index);

        xa.ClearMark(0, XaMark.Mark1);
        xa.AssertInvariants();
        Assert.False(xa.GetMark(0, XaMark.Mark1));
        Assert.False(xa.Marked(XaMark.Mark1));
    }

    [Fact]
    public void Erase_OfIndexZeroHeldInTheHeadClearsItsMarks()
    {
        var xa = New(6);
        Store(xa, 0, new Item(0));
        xa.SetMark(0, XaMark.Mark2);

        xa.Erase(0);

        AssertEmpty(xa);
        Store(xa, 0, new Item(1));
        Assert.False(xa.GetMark(0, XaMark.Mark2));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Mark_OnIndexZeroSurvivesExpandAndShrink(int shift)
    {
        var xa = New(shift);
        var a = new Item(0);
        Store(xa, 0, a);
        xa.SetMark(0, XaMark.Mark0);

        Store(xa, ulong.MaxValue, new Item(1));
        Assert.True(xa.GetMark(0, XaMark.Mark0));
        Assert.False(xa.GetMark(ulong.MaxValue, XaMark.Mark0));
        Assert.Equal([0UL], Indexes(xa.EntriesMarked(XaMark.Mark0)));
        ulong index = 0;
        Assert.Same(a, xa.FindMarked(ref index, ulong.MaxValue, XaMark.Mark0));

        xa.Erase(ulong.MaxValue);
        xa.AssertInvariants();
        Assert.Equal(0, xa.Height);
        Assert.True(xa.GetMark(0, XaMark.Mark0));
        Assert.True(xa.Marked(XaMark.Mark0));
        Assert.Equal([0UL], Indexes(xa.EntriesMarked(XaMark.Mark0)));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Mark_OnADeepEntrySurvivesTheTreeGrowingAboveIt(int shift)
    {
        // Expanding the root must carry the mark into the new top node, or FindMarked,
        // which skips subtrees whose parent bit is clear, would miss the entry.
        var xa = New(shift);
        var a = new Item(5);
        Store(xa, 5, a);
        xa.SetMark(5, XaMark.Mark2);

        Store(xa, ulong.MaxValue, new Item(1));

        Assert.True(xa.GetMark(5, XaMark.Mark2));
        Assert.True(xa.Marked(XaMark.Mark2));
        ulong index = 0;
        Assert.Same(a, xa.FindMarked(ref index, ulong.MaxValue, XaMark.Mark2));
        Assert.Equal(5UL, index);
        Assert.Equal([5UL], Indexes(xa.EntriesMarked(XaMark.Mark2)));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Mark_OnADeepEntrySurvivesTheTreeShrinking(int shift)
    {
        var xa = New(shift);
        var a = new Item(5);
        Store(xa, 5, a);
        Store(xa, ulong.MaxValue, new Item(1));
        xa.SetMark(5, XaMark.Mark1);
        xa.SetMark(ulong.MaxValue, XaMark.Mark1);

        xa.Erase(ulong.MaxValue);
        xa.AssertInvariants();

        Assert.Equal(MinimalHeight(5, shift), xa.Height);
        Assert.True(xa.GetMark(5, XaMark.Mark1));
        Assert.True(xa.Marked(XaMark.Mark1));
        Assert.Equal([5UL], Indexes(xa.EntriesMarked(XaMark.Mark1)));
    }

    [Fact]
    public void Marks_AreIndependentOfEachOther()
    {
        var xa = New(2);
        Store(xa, 10, new Item(10));
        Store(xa, 20, new Item(20));
        Store(xa, 30, new Item(30));
        xa.SetMark(10, XaMark.Mark0);
        xa.SetMark(20, XaMark.Mark1);
        xa.SetMark(30, XaMark.Mark2);
        xa.SetMark(30, XaMark.Mark0);
        xa.AssertInvariants();

        Assert.Equal([10UL, 30UL], Indexes(xa.EntriesMarked(XaMark.Mark0)));
        Assert.Equal([20UL], Indexes(xa.EntriesMarked(XaMark.Mark1)));
        Assert.Equal([30UL], Indexes(xa.EntriesMarked(XaMark.Mark2)));

        xa.ClearMark(30, XaMark.Mark0);
        xa.AssertInvariants();
        Assert.True(xa.GetMark(30, XaMark.Mark2));
        Assert.Equal([10UL], Indexes(xa.EntriesMarked(XaMark.Mark0)));
    }

    [Fact]
    public void SetMark_Twice_IsIdempotentAndOneClearRemovesIt()
    {
        var xa = New(2);
        Store(xa, 10, new Item(10));

        xa.SetMark(10, XaMark.Mark0);
        xa.SetMark(10, XaMark.Mark0);
        xa.AssertInvariants();
        xa.ClearMark(10, XaMark.Mark0);
        xa.AssertInvariants();

        Assert.False(xa.GetMark(10, XaMark.Mark0));
        Assert.False(xa.Marked(XaMark.Mark0));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void EntriesMarked_CountsAThousandMarkedEntries(int shift)
    {
        var xa = New(shift);
        for (ulong i = 0; i < 3000; i++)
        {
            xa.Store(i, new Item((int)i));
            if (i % 3 == 1)
            {
                xa.SetMark(i, XaMark.Mark0);
            }
        }

        xa.AssertInvariants();

        var marked = Indexes(xa.EntriesMarked(XaMark.Mark0));
        Assert.Equal(1000, marked.Count);
        Assert.Equal(Enumerable.Range(0, 1000).Select(k => (ulong)((3 * k) + 1)), marked);
        Assert.Empty(xa.EntriesMarked(XaMark.Mark1));
    }
}
