using Writeback.Lib;
using static Writeback.Tests.Lib.XArrayTestSupport;

namespace Writeback.Tests.Lib;

/// <summary>Unit tests for <see cref="XArray{T}"/> insert and compare-exchange, after the kernel's
/// lib/test_xarray.c check_insert (insert at an empty index, neighbours stay empty) and
/// check_cmpxchg (a wrong old changes nothing, the right old swaps, cmpxchg to NULL erases and
/// insert then succeeds).</summary>
public class XArrayInsertCmpXchgTests
{
    // ---------------------------------------------------------------------------------------
    // check_insert

    [Theory]
    [MemberData(nameof(ShiftsAndBoundaryIndexes), MemberType = typeof(XArrayTestSupport))]
    public void Insert_AtAnEmptyIndexSucceedsAndLeavesNeighboursEmpty(int shift, ulong index)
    {
        var xa = New(shift);
        var a = new Item(1);

        Assert.True(xa.Insert(index, a));
        xa.AssertInvariants();

        Assert.Same(a, xa.Load(index));
        Assert.Null(xa.Load(unchecked(index - 1)));
        Assert.Null(xa.Load(unchecked(index + 1)));
        Assert.Equal([index], Indexes(xa.Entries()));

        Assert.Same(a, xa.Erase(index));
        AssertEmpty(xa);
    }

    [Fact]
    public void Insert_AtAnOccupiedIndexFailsAndKeepsTheEntry()
    {
        var xa = New(6);
        var a = new Item(1);
        Store(xa, 5, a);

        Assert.False(xa.Insert(5, new Item(2)));
        xa.AssertInvariants();

        Assert.Same(a, xa.Load(5));
    }

    [Fact]
    public void Insert_AtIndexZeroHeldInTheHeadFails()
    {
        var xa = New(6);
        var a = new Item(1);
        Store(xa, 0, a);

        Assert.False(xa.Insert(0, new Item(2)));
        Assert.Same(a, xa.Load(0));
        Assert.Equal(0, xa.Height);
    }

    // ---------------------------------------------------------------------------------------
    // check_cmpxchg

    [Fact]
    public void CmpXchg_WithTheWrongOldReturnsTheCurrentEntryAndChangesNothing()
    {
        var xa = New(6);
        var a = new Item(1);
        var b = new Item(2);
        var c = new Item(3);
        Store(xa, 12345678, a);

        Assert.Same(a, xa.CmpXchg(12345678, b, c));
        xa.AssertInvariants();

        Assert.Same(a, xa.Load(12345678));
    }

    [Fact]
    public void CmpXchg_WithTheRightOldSwapsAndReturnsTheOld()
    {
        var xa = New(6);
        var a = new Item(1);
        var b = new Item(2);
        Store(xa, 12345678, a);

        Assert.Same(a, xa.CmpXchg(12345678, a, b));
        xa.AssertInvariants();

        Assert.Same(b, xa.Load(12345678));
    }

    [Fact]
    public void CmpXchg_ComparesByReferenceNotByEquality()
    {
        var xa = New(6);
        var a = new Item(1);
        var lookalike = new Item(1);
        Assert.Equal(a, lookalike);
        Store(xa, 3, a);

        Assert.Same(a, xa.CmpXchg(3, lookalike, new Item(2)));
        xa.AssertInvariants();

        Assert.Same(a, xa.Load(3));
    }

    [Fact]
    public void CmpXchg_FromNullStoresAtAnEmptyIndex()
    {
        var xa = New(2);
        var a = new Item(1);

        Assert.Null(xa.CmpXchg(5, null, a));
        xa.AssertInvariants();

        Assert.Same(a, xa.Load(5));
        Assert.False(xa.IsEmpty);
    }

    [Fact]
    public void CmpXchg_FromNullFailsAtAnOccupiedIndex()
    {
        var xa = New(2);
        var a = new Item(1);
        Store(xa, 5, a);

        Assert.Same(a, xa.CmpXchg(5, null, new Item(2)));
        xa.AssertInvariants();

        Assert.Same(a, xa.Load(5));
    }

    [Fact]
    public void CmpXchg_ToNullErasesThenInsertSucceeds()
    {
        var xa = New(6);
        var a = new Item(1);
        Store(xa, 5, a);
        xa.SetMark(5, XaMark.Mark2);

        Assert.Same(a, xa.CmpXchg(5, a, null));
        xa.AssertInvariants();

        Assert.Null(xa.Load(5));
        Assert.False(xa.Marked(XaMark.Mark2));
        AssertEmpty(xa);
        Assert.True(xa.Insert(5, new Item(2)));
        Assert.False(xa.GetMark(5, XaMark.Mark2));
    }

    [Fact]
    public void CmpXchg_NullToNullAtAnEmptyIndexAllocatesNothing()
    {
        var xa = New(2);

        Assert.Null(xa.CmpXchg(1UL << 33, null, null));

        AssertEmpty(xa);
    }

    [Fact]
    public void CmpXchg_KeepsTheMarksOfTheReplacedEntry()
    {
        var xa = New(2);
        var a = new Item(1);
        var b = new Item(2);
        Store(xa, 40, a);
        xa.SetMark(40, XaMark.Mark0);

        xa.CmpXchg(40, a, b);
        xa.AssertInvariants();

        Assert.True(xa.GetMark(40, XaMark.Mark0));
        Assert.Equal([(40UL, b)], xa.EntriesMarked(XaMark.Mark0).ToList());
    }
}
