using Writeback.Lib;
using static Writeback.Tests.Lib.XArrayTestSupport;

namespace Writeback.Tests.Lib;

/// <summary>Unit tests for <see cref="XArray{T}"/> at boundary indexes (0, around the chunk size,
/// 2^32 and ULONG_MAX), the indexes lib/test_xarray.c keeps returning to (check_insert at
/// powers of two and ~0UL, check_find_4 and check_move_max at ULONG_MAX): each one stores,
/// loads, finds, marks and erases alone, and they coexist and iterate in order.</summary>
public class XArrayBoundaryIndexTests
{
    [Theory]
    [MemberData(nameof(ShiftsAndBoundaryIndexes), MemberType = typeof(XArrayTestSupport))]
    public void BoundaryIndex_StoresLoadsFindsAndErasesAlone(int shift, ulong index)
    {
        var xa = New(shift);
        var a = new Item(1);

        Store(xa, index, a);

        Assert.Same(a, xa.Load(index));
        Assert.Equal(MinimalHeight(index, shift), xa.Height);
        ulong found = 0;
        Assert.Same(a, xa.Find(ref found, ulong.MaxValue));
        Assert.Equal(index, found);
        Assert.Equal([(index, a)], xa.Entries().ToList());
        Assert.Equal([(index, a)], xa.Entries(index, index).ToList());

        xa.SetMark(index, XaMark.Mark2);
        Assert.True(xa.GetMark(index, XaMark.Mark2));
        Assert.Equal([(index, a)], xa.EntriesMarked(XaMark.Mark2).ToList());

        Assert.Same(a, xa.Erase(index));
        AssertEmpty(xa);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void BoundaryIndexes_CoexistAndIterateInOrder(int shift)
    {
        var xa = New(shift);
        var items = BoundaryIndexes.ToDictionary(i => i, i => new Item((int)(i % 1000)));
        foreach (var index in BoundaryIndexes.Reverse())
        {
            Store(xa, index, items[index]);
        }

        foreach (var index in BoundaryIndexes)
        {
            Assert.Same(items[index], xa.Load(index));
        }

        Assert.Null(xa.Load(2));
        Assert.Null(xa.Load(62));
        Assert.Null(xa.Load(66));
        Assert.Null(xa.Load((1UL << 32) - 1));
        Assert.Null(xa.Load((1UL << 32) + 1));
        Assert.Null(xa.Load(ulong.MaxValue - 2));
        Assert.Equal(BoundaryIndexes, Indexes(xa.Entries()));

        foreach (var index in BoundaryIndexes)
        {
            Assert.Same(items[index], xa.Erase(index));
            xa.AssertInvariants();
        }

        AssertEmpty(xa);
    }
}
