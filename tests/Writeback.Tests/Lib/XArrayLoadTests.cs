using Writeback.Lib;
using static Writeback.Tests.Lib.XArrayTestSupport;

namespace Writeback.Tests.Lib;

/// <summary>Unit tests for <see cref="XArray{T}"/> loads, after the kernel's lib/test_xarray.c
/// check_xa_load: every stored index loads its entry and every other index loads NULL, while
/// entries are stored and then erased in either order; a load allocates nothing.</summary>
public class XArrayLoadTests
{
    [Fact]
    public void NewArray_IsEmptyAndLoadsNullEverywhere()
    {
        var xa = new XArray<Item>();

        AssertEmpty(xa);
        foreach (var index in BoundaryIndexes)
        {
            Assert.Null(xa.Load(index));
        }
    }

    [Theory]
    [InlineData(2, false)]
    [InlineData(2, true)]
    [InlineData(6, false)]
    [InlineData(6, true)]
    public void Load_SeesExactlyTheStoredIndexes(int shift, bool eraseDescending)
    {
        const int N = 160;
        var xa = New(shift);
        var items = Enumerable.Range(0, N).Select(i => new Item(i)).ToArray();

        for (var i = 0; i < N; i++)
        {
            Store(xa, (ulong)i, items[i]);
            for (var j = 0; j < N; j++)
            {
                var got = xa.Load((ulong)j);
                if (j <= i)
                {
                    Assert.Same(items[j], got);
                }
                else
                {
                    Assert.Null(got);
                }
            }
        }

        for (var k = 0; k < N; k++)
        {
            var i = eraseDescending ? N - 1 - k : k;
            Assert.Same(items[i], xa.Erase((ulong)i));
            xa.AssertInvariants();
            for (var j = 0; j < N; j++)
            {
                var erased = eraseDescending ? j >= i : j <= i;
                if (erased)
                {
                    Assert.Null(xa.Load((ulong)j));
                }
                else
                {
                    Assert.Same(items[j], xa.Load((ulong)j));
                }
            }
        }

        AssertEmpty(xa);
    }

    [Fact]
    public void Load_DoesNotAllocateNodes()
    {
        var xa = New(2);
        Store(xa, 5, new Item(5));
        var nodes = xa.NodeCount;
        var height = xa.Height;

        Assert.Null(xa.Load(ulong.MaxValue));
        Assert.Null(xa.Load(1UL << 40));
        Assert.Null(xa.Load(6));

        Assert.Equal(nodes, xa.NodeCount);
        Assert.Equal(height, xa.Height);
    }
}
