using Writeback.Lib;
using static Writeback.Tests.Lib.XArrayTestSupport;

namespace Writeback.Tests.Lib;

/// <summary>Unit tests for <see cref="XArray{T}"/> destroy, after the kernel's lib/test_xarray.c
/// check_destroy: destroying an empty array, a single entry at 0 or at ULONG_MAX, or a full array
/// with reservations and marks leaves it empty and reusable.</summary>
public class XArrayDestroyTests
{
    [Fact]
    public void Destroy_OfAnEmptyArrayLeavesItEmpty()
    {
        var xa = New(6);

        xa.Destroy();

        AssertEmpty(xa);
    }

    [Fact]
    public void Destroy_OfASingleEntryAtZeroEmptiesTheArray()
    {
        var xa = New(6);
        Store(xa, 0, new Item(0));
        xa.SetMark(0, XaMark.Mark0);

        xa.Destroy();

        AssertEmpty(xa);
        Assert.Null(xa.Load(0));
    }

    [Fact]
    public void Destroy_OfAnEntryAtUlongMaxValueEmptiesTheArray()
    {
        var xa = New(6);
        Store(xa, ulong.MaxValue, new Item(0));

        xa.Destroy();

        AssertEmpty(xa);
        Assert.Null(xa.Load(ulong.MaxValue));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Destroy_RemovesEntriesReservationsAndMarksAndTheArrayIsReusable(int shift)
    {
        var xa = New(shift);
        for (ulong i = 0; i < 300; i += 7)
        {
            Store(xa, i, new Item((int)i));
            xa.SetMark(i, (XaMark)(int)(i % 3));
        }

        xa.Reserve(1UL << 40);
        Store(xa, ulong.MaxValue, new Item(-1));

        xa.Destroy();

        AssertEmpty(xa);
        Assert.Null(xa.Load(7));
        Assert.True(xa.Insert(1UL << 40, new Item(1)));
        xa.AssertInvariants();
        Assert.False(xa.GetMark(1UL << 40, XaMark.Mark0));
        Assert.Equal([1UL << 40], Indexes(xa.Entries()));
    }
}
