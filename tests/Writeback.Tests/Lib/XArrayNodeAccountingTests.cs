using Writeback.Lib;
using static Writeback.Tests.Lib.XArrayTestSupport;

namespace Writeback.Tests.Lib;

/// <summary>Unit tests for <see cref="XArray{T}"/> node counts and tree heights. lib/test_xarray.c
/// has no direct counterpart (check_account checks per-node counts of multi-index entries, and
/// check_xa_shrink watches the head change); these pin the model's NodeCount and Height, and
/// that erasing everything frees every node.</summary>
public class XArrayNodeAccountingTests
{
    [Fact]
    public void Height_GrowsOneLevelPerChunkOfIndexBits()
    {
        Assert.Equal(0, HeightAfterStoring(6, 0));
        Assert.Equal(1, HeightAfterStoring(6, 1));
        Assert.Equal(1, HeightAfterStoring(6, 63));
        Assert.Equal(2, HeightAfterStoring(6, 64));
        Assert.Equal(6, HeightAfterStoring(6, 1UL << 32));
        Assert.Equal(11, HeightAfterStoring(6, ulong.MaxValue));

        Assert.Equal(1, HeightAfterStoring(2, 3));
        Assert.Equal(2, HeightAfterStoring(2, 4));
        Assert.Equal(3, HeightAfterStoring(2, 16));
        Assert.Equal(17, HeightAfterStoring(2, 1UL << 32));
        Assert.Equal(32, HeightAfterStoring(2, ulong.MaxValue));

        static int HeightAfterStoring(int shift, ulong index)
        {
            var xa = New(shift);
            Store(xa, index, new Item(0));
            return xa.Height;
        }
    }

    [Fact]
    public void NodeCount_ATwoLevelTreeHasATopAndTwoLeaves()
    {
        var xa = new XArray<Item>();
        Store(xa, 0, new Item(0));
        Store(xa, 1, new Item(1));
        Assert.Equal(1, xa.NodeCount);
        Assert.Equal(1, xa.Height);

        Store(xa, 64, new Item(64));

        Assert.Equal(3, xa.NodeCount);
        Assert.Equal(2, xa.Height);
    }

    [Fact]
    public void NodeCount_WithChunkShiftTwoCountsEveryLeafAndInnerNode()
    {
        // Chunk of 4: index 0 and 4 need a top node (shift 2) and two leaves.
        var xa = New(2);
        Store(xa, 0, new Item(0));
        Store(xa, 4, new Item(4));
        Assert.Equal(2, xa.Height);
        Assert.Equal(3, xa.NodeCount);

        // 16 adds a third level: a new top, a new inner node, a new leaf.
        Store(xa, 16, new Item(16));
        Assert.Equal(3, xa.Height);
        Assert.Equal(6, xa.NodeCount);

        xa.Erase(4);
        xa.AssertInvariants();
        Assert.Equal(3, xa.Height);
        Assert.Equal(5, xa.NodeCount);
    }

    [Theory]
    [MemberData(nameof(ShiftsAndLargeIndexes), MemberType = typeof(XArrayTestSupport))]
    public void NodeCount_OfASingleEntryIsOneNodePerLevel(int shift, ulong index)
    {
        var xa = New(shift);

        Store(xa, index, new Item(0));

        Assert.Equal(MinimalHeight(index, shift), xa.Height);
        Assert.Equal(xa.Height, xa.NodeCount);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(6)]
    public void NodeCount_ReturnsToZeroAfterErasingEverything(int shift)
    {
        var xa = New(shift);
        var indexes = new List<ulong>();
        for (var b = 0; b < 64; b++)
        {
            var p = 1UL << b;
            indexes.Add(p - 1);
            indexes.Add(p);
            indexes.Add(p + 1);
        }

        indexes.Add(ulong.MaxValue - 1);
        indexes.Add(ulong.MaxValue);
        indexes = indexes.Distinct().ToList();

        foreach (var index in indexes)
        {
            xa.Store(index, new Item(0));
            xa.SetMark(index, XaMark.Mark0);
        }

        xa.AssertInvariants();
        Assert.Equal(indexes.Order(), Indexes(xa.Entries()));

        // Erase in a scrambled but fixed order.
        var order = indexes.OrderBy(i => unchecked(i * 0x9E3779B97F4A7C15UL)).ToList();
        foreach (var index in order)
        {
            Assert.NotNull(xa.Erase(index));
            xa.AssertInvariants();
        }

        AssertEmpty(xa);
    }
}
