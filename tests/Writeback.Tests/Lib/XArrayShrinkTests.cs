using Writeback.Lib;
using static Writeback.Tests.Lib.XArrayTestSupport;

namespace Writeback.Tests.Lib;

/// <summary>Unit tests for <see cref="XArray{T}"/> shrinking, after the kernel's lib/test_xarray.c
/// check_xa_shrink: erasing the entries above index 0 takes the tree back to the head, and the
/// tree shrinks only as far as the remaining entries allow.</summary>
public class XArrayShrinkTests
{
    [Fact]
    public void Erase_OfIndexOneBesideZeroShrinksBackToTheHead()
    {
        var xa = New(6);
        var a = new Item(0);
        Store(xa, 0, a);
        Store(xa, 1, new Item(1));
        Assert.Equal(1, xa.Height);
        Assert.Equal(1, xa.NodeCount);

        xa.Erase(1);
        xa.AssertInvariants();

        Assert.Equal(0, xa.Height);
        Assert.Equal(0, xa.NodeCount);
        Assert.Same(a, xa.Load(0));
        Assert.False(xa.IsEmpty);
    }

    [Theory]
    [MemberData(nameof(ShiftsAndLargeIndexes), MemberType = typeof(XArrayTestSupport))]
    public void Erase_OfALargeIndexShrinksBackToTheHead(int shift, ulong large)
    {
        var xa = New(shift);
        var a = new Item(0);
        Store(xa, 0, a);
        Store(xa, large, new Item(1));
        Assert.Equal(MinimalHeight(large, shift), xa.Height);

        xa.Erase(large);
        xa.AssertInvariants();

        Assert.Equal(0, xa.Height);
        Assert.Equal(0, xa.NodeCount);
        Assert.Same(a, xa.Load(0));
        Assert.Equal([0UL], Indexes(xa.Entries()));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Erase_OfTheHighestIndexShrinksToTheHeightTheRestNeeds(int shift)
    {
        var xa = New(shift);
        Store(xa, 1, new Item(1));
        Store(xa, 70, new Item(70));
        Store(xa, ulong.MaxValue, new Item(2));

        xa.Erase(ulong.MaxValue);
        xa.AssertInvariants();

        Assert.Equal(MinimalHeight(70, shift), xa.Height);
        xa.Erase(70);
        xa.AssertInvariants();
        Assert.Equal(MinimalHeight(1, shift), xa.Height);
        Assert.Equal(1, xa.NodeCount);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Erase_OfIndexZeroDoesNotShrinkBelowTheHighEntry(int shift)
    {
        var xa = New(shift);
        var b = new Item(1);
        Store(xa, 0, new Item(0));
        Store(xa, 1000, b);
        var height = xa.Height;

        xa.Erase(0);
        xa.AssertInvariants();

        Assert.Equal(height, xa.Height);
        Assert.Equal(height, xa.NodeCount);
        Assert.Same(b, xa.Load(1000));
    }
}
