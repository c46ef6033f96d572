using System.Numerics;
using Writeback.Kernel;
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

    /// <summary>Runs <paramref name="action"/> with <paramref name="xa"/>'s lock held.</summary>
    internal static void Locked(XArray<Item> xa, Action action)
    {
        xa.Lock.Lock();
        try
        {
            action();
        }
        finally
        {
            xa.Lock.Unlock();
        }
    }

    /// <summary>Runs <paramref name="func"/> with <paramref name="xa"/>'s lock held and returns its result.</summary>
    internal static TResult Locked<TResult>(XArray<Item> xa, Func<TResult> func)
    {
        xa.Lock.Lock();
        try
        {
            return func();
        }
        finally
        {
            xa.Lock.Unlock();
        }
    }

    /// <summary>xa_store_order(): a cursor store of <paramref name="order"/> under the lock; checks
    /// the cursor reports no error and the invariants hold, and returns the old entry.</summary>
    internal static Item? StoreOrder(XArray<Item> xa, ulong index, int order, Item? entry)
    {
        var xas = new XaState<Item>(xa, index, order);
        var old = Locked(xa, () => xas.Store(entry));
        Assert.Equal(Errno.None, xas.Error);
        xa.AssertInvariants();
        return old;
    }

    /// <summary>A cursor store of the value <paramref name="value"/> with <paramref name="order"/>
    /// under the lock; checks the invariants hold.</summary>
    internal static void StoreValueOrder(XArray<Item> xa, ulong index, int order, ulong value)
    {
        var xas = new XaState<Item>(xa, index, order);
        Locked(xa, () => xas.StoreValue(value));
        xa.AssertInvariants();
    }

    /// <summary>xa_find() from <paramref name="start"/> up to <paramref name="max"/>: checks it
    /// returns <paramref name="expected"/> and leaves the index at <paramref name="expectedIndex"/>.</summary>
    internal static void AssertFind(XArray<Item> xa, ulong start, ulong max, Item? expected, ulong expectedIndex)
    {
        var index = start;
        Assert.Same(expected, xa.Find(ref index, max));
        Assert.Equal(expectedIndex, index);
    }

    /// <summary>Checks <see cref="XArray{T}.TryLoadValue"/> at <paramref name="index"/> finds the
    /// value <paramref name="expected"/>.</summary>
    internal static void AssertValue(XArray<Item> xa, ulong index, ulong expected)
    {
        Assert.True(xa.TryLoadValue(index, out var value));
        Assert.Equal(expected, value);
    }

    /// <summary>Chunk shifts 2 and 6, each with the values <paramref name="valuesFor"/> gives for it.</summary>
    internal static TheoryData<int, TValue> ForShifts<TValue>(Func<int, IEnumerable<TValue>> valuesFor)
    {
        var data = new TheoryData<int, TValue>();
        foreach (var shift in new[] { 2, 6 })
        {
            foreach (var value in valuesFor(shift))
            {
                data.Add(shift, value);
            }
        }

        return data;
    }

    /// <summary>Checks the invariants hold and the node holding <paramref name="index"/> counts
    /// <paramref name="expected"/> (occupied slots, value slots).</summary>
    internal static void AssertNodeCounts(XArray<Item> xa, ulong index, (int Count, int NrValues) expected)
    {
        xa.AssertInvariants();
        Assert.Equal(expected, xa.NodeCounts(index));
    }
}
