using System.Numerics;
using Writeback.Lib;

namespace Writeback.Tests.Lib;

/// <summary>Shared helpers for the <see cref="XArray{T}"/> unit tests (XArrayLoadTests,
/// XArrayStoreEraseTests, XArrayInsertCmpXchgTests, XArrayReserveTests, XArrayMarkTests,
/// XArrayShrinkTests, XArrayNodeAccountingTests, XArrayFindTests, XArrayBoundaryIndexTests,
/// XArrayIterationTests, XArrayDestroyTests), which re-express the kernel's lib/test_xarray.c
/// one behaviour per test. Mutations are checked with <c>AssertInvariants()</c> (the
/// <see cref="Store"/> and <see cref="AssertEmpty"/> helpers call it). Chunk shift 2 gives deep
/// trees with small indexes.</summary>
internal static class XArrayTestSupport
{
    internal sealed record Item(int Id);

    internal static readonly ulong[] BoundaryIndexes =
    [
        0, 1, 63, 64, 65, 1UL << 32, ulong.MaxValue - 1, ulong.MaxValue,
    ];

    internal static readonly XaMark[] Marks = [XaMark.Mark0, XaMark.Mark1, XaMark.Mark2];

    public static TheoryData<int, ulong> ShiftsAndBoundaryIndexes
    {
        get
        {
            var data = new TheoryData<int, ulong>();
            foreach (var shift in new[] { 2, 6 })
            {
                foreach (var index in BoundaryIndexes)
                {
                    data.Add(shift, index);
                }
            }

            return data;
        }
    }

    public static TheoryData<int, ulong> ShiftsAndLargeIndexes
    {
        get
        {
            var data = new TheoryData<int, ulong>();
            foreach (var shift in new[] { 2, 6 })
            {
                foreach (var index in new ulong[] { 1, 63, 64, 65, 1000, 1UL << 32, ulong.MaxValue - 1, ulong.MaxValue })
                {
                    data.Add(shift, index);
                }
            }

            return data;
        }
    }

    internal static XArray<Item> New(int shift) => new(shift);

    /// <summary>Levels needed for <paramref name="maxIndex"/>: 0 for index 0 (held in the head).</summary>
    internal static int MinimalHeight(ulong maxIndex, int shift)
    {
        if (maxIndex == 0)
        {
            return 0;
        }

        var bits = 64 - BitOperations.LeadingZeroCount(maxIndex);
        return (bits + shift - 1) / shift;
    }

    internal static void Store(XArray<Item> xa, ulong index, Item? item)
    {
        xa.Store(index, item);
        xa.AssertInvariants();
    }

    internal static void AssertEmpty(XArray<Item> xa)
    {
        xa.AssertInvariants();
        Assert.True(xa.IsEmpty);
        Assert.Equal(0, xa.NodeCount);
        Assert.Equal(0, xa.Height);
        Assert.Empty(xa.Entries());
        foreach (var m in Marks)
        {
            Assert.False(xa.Marked(m));
            Assert.Empty(xa.EntriesMarked(m));
        }
    }

    internal static List<ulong> Indexes(IEnumerable<(ulong Index, Item Entry)> entries) =>
        entries.Select(e => e.Index).ToList();
}
