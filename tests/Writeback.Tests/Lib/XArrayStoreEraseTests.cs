using Writeback.Lib;
using static Writeback.Tests.Lib.XArrayTestSupport;

namespace Writeback.Tests.Lib;

/// <summary>Unit tests for <see cref="XArray{T}"/> store and erase. lib/test_xarray.c has no
/// check_* of its own for xa_store/xa_erase; these re-express the assertions it makes through
/// its xa_store_index()/xa_erase_index() helpers, check_xa_mark_1 (storing a pointer does not
/// make a mark appear; storing NULL clears the marks) and check_xa_alloc_2 (storing NULL returns
/// the old entry; erasing an absent index returns NULL).</summary>
public class XArrayStoreEraseTests
{
    [Fact]
    public void Store_ReturnsThePreviousEntry()
    {
        var xa = New(6);
        var a = new Item(1);
        var b = new Item(2);

        Assert.Null(xa.Store(100, a));
        xa.AssertInvariants();
        Assert.Same(a, xa.Store(100, b));
        xa.AssertInvariants();
        Assert.Same(b, xa.Load(100));
    }

    [Fact]
    public void Store_SameEntryAtManyIndexesLoadsItEverywhere()
    {
        var xa = New(2);
        var a = new Item(1);
        foreach (var index in BoundaryIndexes)
        {
            Store(xa, index, a);
        }

        foreach (var index in BoundaryIndexes)
        {
            Assert.Same(a, xa.Load(index));
        }

        Assert.Equal(BoundaryIndexes, Indexes(xa.Entries()));
    }

    [Fact]
    public void Store_NullErasesAndReturnsThePreviousEntry()
    {
        var xa = New(6);
        var a = new Item(1);
        Store(xa, 1000, a);

        Assert.Same(a, xa.Store(1000, null));
        xa.AssertInvariants();

        Assert.Null(xa.Load(1000));
        AssertEmpty(xa);
    }

    [Fact]
    public void Store_NullClearsAllMarksLikeErase()
    {
        var xa = New(6);
        Store(xa, 7, new Item(7));
        foreach (var m in Marks)
        {
            xa.SetMark(7, m);
        }

        Store(xa, 7, null);
        Store(xa, 7, new Item(8));

        foreach (var m in Marks)
        {
            Assert.False(xa.GetMark(7, m));
            Assert.False(xa.Marked(m));
        }
    }

    [Fact]
    public void Store_NullAtAbsentIndexAllocatesNothing()
    {
        var xa = New(2);

        Assert.Null(xa.Store(1UL << 40, null));
        AssertEmpty(xa);

        Store(xa, 3, new Item(3));
        var nodes = xa.NodeCount;
        var height = xa.Height;
        Assert.Null(xa.Store(1UL << 40, null));
        Assert.Null(xa.Store(2, null));
        xa.AssertInvariants();
        Assert.Equal(nodes, xa.NodeCount);
        Assert.Equal(height, xa.Height);
    }

    [Fact]
    public void Store_DoesNotCreateMarks()
    {
        var xa = New(6);
        Store(xa, 0, new Item(0));
        Store(xa, 200, new Item(200));

        foreach (var m in Marks)
        {
            Assert.False(xa.GetMark(0, m));
            Assert.False(xa.GetMark(200, m));
            Assert.False(xa.Marked(m));
        }
    }

    [Fact]
    public void Store_OverAMarkedEntryKeepsItsMarks()
    {
        // The kernel only clears marks when NULL is stored; replacing an entry keeps them
        // (the page cache relies on this when it replaces a folio).
        var xa = New(6);
        Store(xa, 300, new Item(1));
        xa.SetMark(300, XaMark.Mark1);

        var b = new Item(2);
        xa.Store(300, b);
        xa.AssertInvariants();

        Assert.True(xa.GetMark(300, XaMark.Mark1));
        Assert.False(xa.GetMark(300, XaMark.Mark0));
        Assert.True(xa.Marked(XaMark.Mark1));
        Assert.Equal([(300UL, b)], xa.EntriesMarked(XaMark.Mark1).ToList());
    }

    [Fact]
    public void Erase_ReturnsTheEntryAndLeavesTheSlotEmpty()
    {
        var xa = New(6);
        var a = new Item(1);
        var b = new Item(2);
        Store(xa, 64, a);
        Store(xa, 65, b);

        Assert.Same(a, xa.Erase(64));
        xa.AssertInvariants();

        Assert.Null(xa.Load(64));
        Assert.Same(b, xa.Load(65));
        Assert.Equal([65UL], Indexes(xa.Entries()));
    }

    [Fact]
    public void Erase_OfAnAbsentIndexReturnsNullAndChangesNothing()
    {
        var xa = New(2);
        Assert.Null(xa.Erase(12345));
        AssertEmpty(xa);

        Store(xa, 0, new Item(0));
        Store(xa, 17, new Item(17));
        var nodes = xa.NodeCount;
        var height = xa.Height;

        Assert.Null(xa.Erase(16));
        Assert.Null(xa.Erase(18));
        Assert.Null(xa.Erase(ulong.MaxValue));
        xa.AssertInvariants();

        Assert.Equal(nodes, xa.NodeCount);
        Assert.Equal(height, xa.Height);
        Assert.Equal([0UL, 17UL], Indexes(xa.Entries()));
    }

    [Fact]
    public void Erase_ClearsAllMarksAndReStoringDoesNotResurrectThem()
    {
        var xa = New(2);
        Store(xa, 9, new Item(9));
        Store(xa, 10, new Item(10));
        foreach (var m in Marks)
        {
            xa.SetMark(9, m);
        }

        xa.Erase(9);
        xa.AssertInvariants();
        Store(xa, 9, new Item(99));

        foreach (var m in Marks)
        {
            Assert.False(xa.GetMark(9, m));
            Assert.False(xa.Marked(m));
            Assert.Empty(xa.EntriesMarked(m));
        }
    }
}
