using Writeback.Lib;
using static Writeback.Tests.Lib.XArrayTestSupport;

namespace Writeback.Tests.Lib;

/// <summary>Unit tests for <see cref="XArray{T}"/> iteration (Entries and EntriesMarked, the model's
/// xa_for_each and xa_for_each_marked), after the kernel's lib/test_xarray.c check_find_2
/// (entries in ascending order) and check_xas_erase (erasing each entry during the walk still
/// visits every entry).</summary>
public class XArrayIterationTests
{
    [Fact]
    public void Entries_AreAscendingWhateverTheStoreOrder()
    {
        var xa = New(2);
        ulong[] order = [700, 3, ulong.MaxValue, 64, 0, 1UL << 40, 65];
        foreach (var index in order)
        {
            Store(xa, index, new Item((int)(index % 1000)));
        }

        Assert.Equal(order.Order(), Indexes(xa.Entries()));
    }

    [Fact]
    public void Entries_RespectStartAndInclusiveMax()
    {
        var xa = New(2);
        foreach (var index in new ulong[] { 1, 5, 10, 15, 20 })
        {
            Store(xa, index, new Item((int)index));
        }

        Assert.Equal([5UL, 10UL, 15UL], Indexes(xa.Entries(5, 15)));
        Assert.Equal([10UL], Indexes(xa.Entries(6, 14)));
        Assert.Equal([15UL, 20UL], Indexes(xa.Entries(11)));
        Assert.Equal([1UL, 5UL], Indexes(xa.Entries(0, 5)));
        Assert.Empty(xa.Entries(21));
        Assert.Empty(xa.Entries(16, 19));
    }

    [Fact]
    public void Entries_WithStartAboveMaxAreEmpty()
    {
        var xa = New(6);
        Store(xa, 5, new Item(5));
        Store(xa, 10, new Item(10));

        Assert.Empty(xa.Entries(10, 5));
        Assert.Empty(xa.EntriesMarked(XaMark.Mark0, 10, 5));
    }

    [Fact]
    public void Entries_IncludeUlongMaxValueAndStop()
    {
        var xa = New(6);
        var a = new Item(1);
        var b = new Item(2);
        Store(xa, ulong.MaxValue - 1, a);
        Store(xa, ulong.MaxValue, b);
        xa.SetMark(ulong.MaxValue, XaMark.Mark0);

        Assert.Equal([(ulong.MaxValue - 1, a), (ulong.MaxValue, b)], xa.Entries().Take(5).ToList());
        Assert.Equal([(ulong.MaxValue, b)], xa.Entries(ulong.MaxValue).Take(5).ToList());
        Assert.Equal([(ulong.MaxValue, b)], xa.EntriesMarked(XaMark.Mark0).Take(5).ToList());
        Assert.Equal([(ulong.MaxValue, b)], xa.EntriesMarked(XaMark.Mark0, ulong.MaxValue).Take(5).ToList());
    }

    [Fact]
    public void EntriesMarked_RespectStartAndMax()
    {
        var xa = New(2);
        foreach (var index in new ulong[] { 1, 5, 10, 15, 20 })
        {
            Store(xa, index, new Item((int)index));
            if (index != 10)
            {
                xa.SetMark(index, XaMark.Mark1);
            }
        }

        Assert.Equal([5UL, 15UL], Indexes(xa.EntriesMarked(XaMark.Mark1, 2, 15)));
        Assert.Equal([20UL], Indexes(xa.EntriesMarked(XaMark.Mark1, 16)));
        Assert.Empty(xa.EntriesMarked(XaMark.Mark1, 6, 14));
        Assert.Empty(xa.EntriesMarked(XaMark.Mark0));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Entries_VisitsEveryEntryWhenTheWalkerErasesEachOne(int shift)
    {
        // check_xas_erase, and the kernel's documented xa_for_each() guarantee: the array may be
        // modified during the walk, and entries present throughout are all seen.
        var xa = New(shift);
        ulong[] indexes = [0, 8, 9, 70, 1000, 1UL << 32, ulong.MaxValue];
        foreach (var index in indexes)
        {
            Store(xa, index, new Item(0));
        }

        var seen = new List<ulong>();
        foreach (var (index, _) in xa.Entries())
        {
            seen.Add(index);
            xa.Erase(index);
            xa.AssertInvariants();
        }

        Assert.Equal(indexes, seen);
        AssertEmpty(xa);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void EntriesMarked_VisitsEveryMarkedEntryWhenTheWalkerClearsOrErasesEachOne(int shift)
    {
        var xa = New(shift);
        ulong[] indexes = [0, 8, 9, 70, 1000, 1UL << 32, ulong.MaxValue];
        foreach (var index in indexes)
        {
            Store(xa, index, new Item(0));
            xa.SetMark(index, XaMark.Mark1);
        }

        var seen = new List<ulong>();
        var erase = false;
        foreach (var (index, _) in xa.EntriesMarked(XaMark.Mark1))
        {
            seen.Add(index);
            if (erase)
            {
                xa.Erase(index);
            }
            else
            {
                xa.ClearMark(index, XaMark.Mark1);
            }

            erase = !erase;
            xa.AssertInvariants();
        }

        Assert.Equal(indexes, seen);
        Assert.False(xa.Marked(XaMark.Mark1));
    }
}
