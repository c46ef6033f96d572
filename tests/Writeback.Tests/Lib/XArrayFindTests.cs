using Writeback.Lib;
using static Writeback.Tests.Lib.XArrayTestSupport;

namespace Writeback.Tests.Lib;

/// <summary>Unit tests for <see cref="XArray{T}"/> find and find-marked, after the kernel's
/// lib/test_xarray.c check_find (check_find_1: the lowest present or marked entry at or after
/// the start; check_find_4: an entry at ULONG_MAX is found).</summary>
public class XArrayFindTests
{
    [Fact]
    public void Find_ReturnsTheLowestEntryAtOrAfterTheStart()
    {
        var xa = New(2);
        var a = new Item(10);
        var b = new Item(1000);
        Store(xa, 10, a);
        Store(xa, 1000, b);

        ulong index = 0;
        Assert.Same(a, xa.Find(ref index, ulong.MaxValue));
        Assert.Equal(10UL, index);

        index = 10;
        Assert.Same(a, xa.Find(ref index, ulong.MaxValue));
        Assert.Equal(10UL, index);

        index = 11;
        Assert.Same(b, xa.Find(ref index, ulong.MaxValue));
        Assert.Equal(1000UL, index);

        index = 1001;
        Assert.Null(xa.Find(ref index, ulong.MaxValue));
    }

    [Fact]
    public void Find_WithMaxBelowTheEntryReturnsNull()
    {
        var xa = New(6);
        Store(xa, 1000, new Item(1));

        ulong index = 0;
        Assert.Null(xa.Find(ref index, 999));
    }

    [Fact]
    public void Find_IncludesAnEntryAtMax()
    {
        var xa = New(6);
        var a = new Item(1);
        Store(xa, 1000, a);

        ulong index = 0;
        Assert.Same(a, xa.Find(ref index, 1000));
        Assert.Equal(1000UL, index);
    }

    [Fact]
    public void Find_WithStartAboveMaxReturnsNull()
    {
        var xa = New(6);
        Store(xa, 5, new Item(5));
        Store(xa, 10, new Item(10));

        ulong index = 10;
        Assert.Null(xa.Find(ref index, 5));
    }

    [Fact]
    public void Find_OnAnEmptyArrayReturnsNull()
    {
        var xa = New(6);

        ulong index = 0;
        Assert.Null(xa.Find(ref index, ulong.MaxValue));
        index = ulong.MaxValue;
        Assert.Null(xa.Find(ref index, ulong.MaxValue));
        index = 0;
        Assert.Null(xa.FindMarked(ref index, ulong.MaxValue, XaMark.Mark0));
    }

    [Fact]
    public void Find_ReachesUlongMaxValue()
    {
        var xa = New(6);
        var a = new Item(1);
        Store(xa, ulong.MaxValue, a);

        ulong index = 0;
        Assert.Same(a, xa.Find(ref index, ulong.MaxValue));
        Assert.Equal(ulong.MaxValue, index);

        index = ulong.MaxValue;
        Assert.Same(a, xa.Find(ref index, ulong.MaxValue));
        Assert.Equal(ulong.MaxValue, index);

        index = 0;
        Assert.Null(xa.Find(ref index, ulong.MaxValue - 1));
    }

    [Fact]
    public void Find_HeadEntryAtZeroIsFoundOnlyFromZero()
    {
        var xa = New(6);
        var a = new Item(0);
        Store(xa, 0, a);

        ulong index = 0;
        Assert.Same(a, xa.Find(ref index, 0));
        Assert.Equal(0UL, index);

        index = 1;
        Assert.Null(xa.Find(ref index, ulong.MaxValue));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Find_StepsThroughEveryEntryInOrder(int shift)
    {
        var xa = New(shift);
        var expected = new List<ulong> { 0, 3, 4, 63, 64, 65, 4096, 1UL << 32, ulong.MaxValue - 1, ulong.MaxValue };
        foreach (var index in expected.AsEnumerable().Reverse())
        {
            Store(xa, index, new Item(0));
        }

        var seen = new List<ulong>();
        ulong next = 0;
        while (xa.Find(ref next, ulong.MaxValue) is not null)
        {
            seen.Add(next);
            if (next == ulong.MaxValue)
            {
                break;
            }

            next++;
        }

        Assert.Equal(expected, seen);
    }

    [Fact]
    public void FindMarked_SkipsUnmarkedEntries()
    {
        var xa = New(2);
        var marked = new Item(2);
        Store(xa, 1, new Item(1));
        Store(xa, 500, marked);
        Store(xa, 501, new Item(3));
        xa.SetMark(500, XaMark.Mark0);

        ulong index = 0;
        Assert.Same(marked, xa.FindMarked(ref index, ulong.MaxValue, XaMark.Mark0));
        Assert.Equal(500UL, index);

        index = 501;
        Assert.Null(xa.FindMarked(ref index, ulong.MaxValue, XaMark.Mark0));
        index = 0;
        Assert.Null(xa.FindMarked(ref index, ulong.MaxValue, XaMark.Mark1));
    }

    [Fact]
    public void FindMarked_WithMaxBelowTheMarkedEntryReturnsNull()
    {
        var xa = New(6);
        Store(xa, 1, new Item(1));
        Store(xa, 1000, new Item(2));
        xa.SetMark(1000, XaMark.Mark2);

        ulong index = 0;
        Assert.Null(xa.FindMarked(ref index, 999, XaMark.Mark2));

        index = 0;
        Assert.NotNull(xa.FindMarked(ref index, 1000, XaMark.Mark2));
        Assert.Equal(1000UL, index);
    }

    [Fact]
    public void FindMarked_ReachesUlongMaxValue()
    {
        var xa = New(2);
        var a = new Item(1);
        Store(xa, 0, new Item(0));
        Store(xa, ulong.MaxValue, a);
        xa.SetMark(ulong.MaxValue, XaMark.Mark1);

        ulong index = 1;
        Assert.Same(a, xa.FindMarked(ref index, ulong.MaxValue, XaMark.Mark1));
        Assert.Equal(ulong.MaxValue, index);
    }
}
