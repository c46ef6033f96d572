using System.Numerics;
using Writeback.Lib;

namespace Writeback.Tests.Lib;

/// <summary>Unit tests for <see cref="XArray{T}"/>, one behaviour each, after the kernel's
/// lib/test_xarray.c (check_xa_load, check_xa_mark, check_xa_shrink, check_insert,
/// check_cmpxchg, check_reserve, check_find, check_destroy). Every mutation is followed by
/// <c>AssertInvariants()</c>. Chunk shift 2 gives deep trees with small indexes.</summary>
public class XArrayTests
{
    public sealed record Item(int Id);

    private static readonly ulong[] s_boundaryIndexes =
    [
        0, 1, 63, 64, 65, 1UL << 32, ulong.MaxValue - 1, ulong.MaxValue,
    ];

    private static readonly XaMark[] s_marks = [XaMark.Mark0, XaMark.Mark1, XaMark.Mark2];

    public static TheoryData<int, ulong> ShiftsAndBoundaryIndexes
    {
        get
        {
            var data = new TheoryData<int, ulong>();
            foreach (var shift in new[] { 2, 6 })
            {
                foreach (var index in s_boundaryIndexes)
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

    private static XArray<Item> New(int shift) => new(shift);

    /// <summary>Levels needed for <paramref name="maxIndex"/>: 0 for index 0 (held in the head).</summary>
    private static int MinimalHeight(ulong maxIndex, int shift)
    {
        if (maxIndex == 0)
        {
            return 0;
        }

        var bits = 64 - BitOperations.LeadingZeroCount(maxIndex);
        return (bits + shift - 1) / shift;
    }

    private static void Store(XArray<Item> xa, ulong index, Item? item)
    {
        xa.Store(index, item);
        xa.AssertInvariants();
    }

    private static void AssertEmpty(XArray<Item> xa)
    {
        xa.AssertInvariants();
        Assert.True(xa.IsEmpty);
        Assert.Equal(0, xa.NodeCount);
        Assert.Equal(0, xa.Height);
        Assert.Empty(xa.Entries());
        foreach (var m in s_marks)
        {
            Assert.False(xa.Marked(m));
            Assert.Empty(xa.EntriesMarked(m));
        }
    }

    private static List<ulong> Indexes(IEnumerable<(ulong Index, Item Entry)> entries) =>
        entries.Select(e => e.Index).ToList();

    // ---------------------------------------------------------------------------------------
    // check_xa_load

    [Fact]
    public void NewArray_IsEmptyAndLoadsNullEverywhere()
    {
        var xa = new XArray<Item>();

        AssertEmpty(xa);
        foreach (var index in s_boundaryIndexes)
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

    // ---------------------------------------------------------------------------------------
    // xa_store / xa_erase

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
        foreach (var index in s_boundaryIndexes)
        {
            Store(xa, index, a);
        }

        foreach (var index in s_boundaryIndexes)
        {
            Assert.Same(a, xa.Load(index));
        }

        Assert.Equal(s_boundaryIndexes, Indexes(xa.Entries()));
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
        foreach (var m in s_marks)
        {
            xa.SetMark(7, m);
        }

        Store(xa, 7, null);
        Store(xa, 7, new Item(8));

        foreach (var m in s_marks)
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

        foreach (var m in s_marks)
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
        foreach (var m in s_marks)
        {
            xa.SetMark(9, m);
        }

        xa.Erase(9);
        xa.AssertInvariants();
        Store(xa, 9, new Item(99));

        foreach (var m in s_marks)
        {
            Assert.False(xa.GetMark(9, m));
            Assert.False(xa.Marked(m));
            Assert.Empty(xa.EntriesMarked(m));
        }
    }

    // ---------------------------------------------------------------------------------------
    // check_insert

    [Theory]
    [MemberData(nameof(ShiftsAndBoundaryIndexes))]
    public void Insert_AtAnEmptyIndexSucceedsAndLeavesNeighboursEmpty(int shift, ulong index)
    {
        var xa = New(shift);
        var a = new Item(1);

        Assert.True(xa.Insert(index, a));
        xa.AssertInvariants();

        Assert.Same(a, xa.Load(index));
        Assert.Null(xa.Load(unchecked(index - 1)));
        Assert.Null(xa.Load(unchecked(index + 1)));
        Assert.Equal([index], Indexes(xa.Entries()));

        Assert.Same(a, xa.Erase(index));
        AssertEmpty(xa);
    }

    [Fact]
    public void Insert_AtAnOccupiedIndexFailsAndKeepsTheEntry()
    {
        var xa = New(6);
        var a = new Item(1);
        Store(xa, 5, a);

        Assert.False(xa.Insert(5, new Item(2)));
        xa.AssertInvariants();

        Assert.Same(a, xa.Load(5));
    }

    [Fact]
    public void Insert_AtIndexZeroHeldInTheHeadFails()
    {
        var xa = New(6);
        var a = new Item(1);
        Store(xa, 0, a);

        Assert.False(xa.Insert(0, new Item(2)));
        Assert.Same(a, xa.Load(0));
        Assert.Equal(0, xa.Height);
    }

    // ---------------------------------------------------------------------------------------
    // check_cmpxchg

    [Fact]
    public void CmpXchg_WithTheWrongOldReturnsTheCurrentEntryAndChangesNothing()
    {
        var xa = New(6);
        var a = new Item(1);
        var b = new Item(2);
        var c = new Item(3);
        Store(xa, 12345678, a);

        Assert.Same(a, xa.CmpXchg(12345678, b, c));
        xa.AssertInvariants();

        Assert.Same(a, xa.Load(12345678));
    }

    [Fact]
    public void CmpXchg_WithTheRightOldSwapsAndReturnsTheOld()
    {
        var xa = New(6);
        var a = new Item(1);
        var b = new Item(2);
        Store(xa, 12345678, a);

        Assert.Same(a, xa.CmpXchg(12345678, a, b));
        xa.AssertInvariants();

        Assert.Same(b, xa.Load(12345678));
    }

    [Fact]
    public void CmpXchg_ComparesByReferenceNotByEquality()
    {
        var xa = New(6);
        var a = new Item(1);
        var lookalike = new Item(1);
        Assert.Equal(a, lookalike);
        Store(xa, 3, a);

        Assert.Same(a, xa.CmpXchg(3, lookalike, new Item(2)));
        xa.AssertInvariants();

        Assert.Same(a, xa.Load(3));
    }

    [Fact]
    public void CmpXchg_FromNullStoresAtAnEmptyIndex()
    {
        var xa = New(2);
        var a = new Item(1);

        Assert.Null(xa.CmpXchg(5, null, a));
        xa.AssertInvariants();

        Assert.Same(a, xa.Load(5));
        Assert.False(xa.IsEmpty);
    }

    [Fact]
    public void CmpXchg_FromNullFailsAtAnOccupiedIndex()
    {
        var xa = New(2);
        var a = new Item(1);
        Store(xa, 5, a);

        Assert.Same(a, xa.CmpXchg(5, null, new Item(2)));
        xa.AssertInvariants();

        Assert.Same(a, xa.Load(5));
    }

    [Fact]
    public void CmpXchg_ToNullErasesThenInsertSucceeds()
    {
        var xa = New(6);
        var a = new Item(1);
        Store(xa, 5, a);
        xa.SetMark(5, XaMark.Mark2);

        Assert.Same(a, xa.CmpXchg(5, a, null));
        xa.AssertInvariants();

        Assert.Null(xa.Load(5));
        Assert.False(xa.Marked(XaMark.Mark2));
        AssertEmpty(xa);
        Assert.True(xa.Insert(5, new Item(2)));
        Assert.False(xa.GetMark(5, XaMark.Mark2));
    }

    [Fact]
    public void CmpXchg_NullToNullAtAnEmptyIndexAllocatesNothing()
    {
        var xa = New(2);

        Assert.Null(xa.CmpXchg(1UL << 33, null, null));

        AssertEmpty(xa);
    }

    [Fact]
    public void CmpXchg_KeepsTheMarksOfTheReplacedEntry()
    {
        var xa = New(2);
        var a = new Item(1);
        var b = new Item(2);
        Store(xa, 40, a);
        xa.SetMark(40, XaMark.Mark0);

        xa.CmpXchg(40, a, b);
        xa.AssertInvariants();

        Assert.True(xa.GetMark(40, XaMark.Mark0));
        Assert.Equal([(40UL, b)], xa.EntriesMarked(XaMark.Mark0).ToList());
    }

    // ---------------------------------------------------------------------------------------
    // check_reserve

    [Fact]
    public void Reserve_MakesTheArrayNonEmptyButLoadsNull()
    {
        var xa = New(6);

        xa.Reserve(12345678);
        xa.AssertInvariants();

        Assert.False(xa.IsEmpty);
        Assert.Null(xa.Load(12345678));
        Assert.True(xa.NodeCount > 0);
    }

    [Fact]
    public void Release_UndoesAReservation()
    {
        var xa = New(6);
        xa.Reserve(12345678);

        xa.Release(12345678);

        AssertEmpty(xa);
    }

    [Fact]
    public void Reserve_AtIndexZeroAloneNeedsNoNode()
    {
        var xa = New(6);

        xa.Reserve(0);
        xa.AssertInvariants();

        Assert.False(xa.IsEmpty);
        Assert.Null(xa.Load(0));
        Assert.Equal(0, xa.Height);
        Assert.Equal(0, xa.NodeCount);
        xa.Release(0);
        AssertEmpty(xa);
    }

    [Fact]
    public void Insert_AtAReservedIndexFailsAndSucceedsAfterRelease()
    {
        var xa = New(6);
        xa.Reserve(77);

        Assert.False(xa.Insert(77, new Item(1)));
        xa.AssertInvariants();
        Assert.Null(xa.Load(77));

        xa.Release(77);
        xa.AssertInvariants();
        var b = new Item(2);
        Assert.True(xa.Insert(77, b));
        Assert.Same(b, xa.Load(77));
    }

    [Fact]
    public void Store_OverAReservationReturnsNullAndReleaseThenDoesNothing()
    {
        var xa = New(6);
        var a = new Item(1);
        xa.Reserve(12345678);

        Assert.Null(xa.Store(12345678, a));
        xa.AssertInvariants();
        xa.Release(12345678);
        xa.AssertInvariants();

        Assert.Same(a, xa.Load(12345678));
        Assert.False(xa.IsEmpty);
    }

    [Fact]
    public void Erase_OfAReservedIndexReturnsNullAndFreesIt()
    {
        var xa = New(2);
        xa.Reserve(1000);

        Assert.Null(xa.Erase(1000));

        AssertEmpty(xa);
    }

    [Fact]
    public void StoreNull_OverAReservationFreesIt()
    {
        var xa = New(2);
        xa.Reserve(1000);

        Assert.Null(xa.Store(1000, null));

        AssertEmpty(xa);
    }

    [Fact]
    public void Reserve_AtAnOccupiedIndexLeavesTheEntry()
    {
        // Kernel: xa_reserve() is a cmpxchg from NULL to XA_ZERO_ENTRY; an occupied slot is left alone.
        var xa = New(6);
        var a = new Item(1);
        Store(xa, 8, a);

        xa.Reserve(8);
        xa.AssertInvariants();

        Assert.Same(a, xa.Load(8));
        Assert.Equal([8UL], Indexes(xa.Entries()));
    }

    [Fact]
    public void Release_OfAnOccupiedOrEmptyIndexDoesNothing()
    {
        var xa = New(6);
        var a = new Item(1);
        Store(xa, 8, a);

        xa.Release(8);
        xa.Release(9);
        xa.AssertInvariants();

        Assert.Same(a, xa.Load(8));
        Assert.Equal([8UL], Indexes(xa.Entries()));

        var empty = New(6);
        empty.Release(9);
        AssertEmpty(empty);
    }

    [Fact]
    public void Reservation_IsSkippedByIterationAndFind()
    {
        var xa = New(2);
        var a = new Item(1);
        xa.Reserve(3);
        Store(xa, 10, a);

        Assert.Equal([10UL], Indexes(xa.Entries()));
        ulong index = 0;
        Assert.Same(a, xa.Find(ref index, ulong.MaxValue));
        Assert.Equal(10UL, index);

        index = 0;
        Assert.Null(xa.Find(ref index, 9));
    }

    [Fact]
    public void CmpXchg_FromNullDoesNotStoreOverAReservation()
    {
        // Kernel: the reserved slot holds XA_ZERO_ENTRY, which is not NULL, so a cmpxchg from NULL
        // fails; what it returns is the zero entry translated to NULL (xa_zero_to_null).
        var xa = New(6);
        xa.Reserve(12345678);

        Assert.Null(xa.CmpXchg(12345678, null, new Item(1)));
        xa.AssertInvariants();

        Assert.Null(xa.Load(12345678));
        Assert.False(xa.Insert(12345678, new Item(2)));
        xa.Release(12345678);
        AssertEmpty(xa);
    }

    [Fact]
    public void CmpXchg_NullToNullLeavesAReservation()
    {
        // Kernel: XA_ZERO_ENTRY != NULL, so the exchange does not happen and the slot stays reserved.
        var xa = New(6);
        xa.Reserve(12345678);

        Assert.Null(xa.CmpXchg(12345678, null, null));
        xa.AssertInvariants();

        Assert.False(xa.IsEmpty);
        Assert.False(xa.Insert(12345678, new Item(1)));
    }

    [Fact]
    public void SetMark_OnAReservedIndexSetsTheMark()
    {
        // Kernel: __xa_set_mark() marks whatever xas_load() returns if it is not NULL, and a
        // reservation is XA_ZERO_ENTRY. Iteration still skips the slot.
        var xa = New(6);
        xa.Reserve(100);

        xa.SetMark(100, XaMark.Mark0);
        xa.AssertInvariants();

        Assert.True(xa.GetMark(100, XaMark.Mark0));
        Assert.True(xa.Marked(XaMark.Mark0));
        Assert.Empty(xa.EntriesMarked(XaMark.Mark0));
        xa.Release(100);
        AssertEmpty(xa);
    }

    // ---------------------------------------------------------------------------------------
    // check_xa_mark

    [Fact]
    public void SetMark_OnAnAbsentIndexDoesNothing()
    {
        var xa = New(2);
        xa.SetMark(5, XaMark.Mark0);
        AssertEmpty(xa);

        Store(xa, 4, new Item(4));
        var nodes = xa.NodeCount;
        xa.SetMark(5, XaMark.Mark0);
        xa.SetMark(1UL << 40, XaMark.Mark1);
        xa.AssertInvariants();

        Assert.False(xa.GetMark(5, XaMark.Mark0));
        Assert.False(xa.Marked(XaMark.Mark0));
        Assert.False(xa.Marked(XaMark.Mark1));
        Assert.Equal(nodes, xa.NodeCount);

        // A later store at the index does not find a stale mark waiting for it.
        Store(xa, 5, new Item(5));
        Assert.False(xa.GetMark(5, XaMark.Mark0));
    }

    [Fact]
    public void SetMark_BesideAnEntryHeldInTheHeadDoesNothing()
    {
        var xa = New(6);
        Store(xa, 0, new Item(0));

        xa.SetMark(1, XaMark.Mark0);
        xa.AssertInvariants();

        Assert.False(xa.GetMark(1, XaMark.Mark0));
        Assert.False(xa.GetMark(0, XaMark.Mark0));
        Assert.False(xa.Marked(XaMark.Mark0));
        Assert.Equal(0, xa.Height);
    }

    [Fact]
    public void ClearMark_OnAnAbsentIndexAllocatesNothing()
    {
        var xa = New(2);
        xa.ClearMark(1UL << 50, XaMark.Mark2);
        AssertEmpty(xa);

        Store(xa, 1, new Item(1));
        var nodes = xa.NodeCount;
        xa.ClearMark(1UL << 50, XaMark.Mark2);
        xa.AssertInvariants();
        Assert.Equal(nodes, xa.NodeCount);
    }

    [Theory]
    [MemberData(nameof(ShiftsAndBoundaryIndexes))]
    public void SetMark_MarksOnlyThatIndexWithOnlyThatMark(int shift, ulong index)
    {
        var xa = New(shift);
        var below = unchecked(index - 1);
        var above = unchecked(index + 1);
        Store(xa, below, new Item(-1));
        Store(xa, index, new Item(0));
        Store(xa, above, new Item(1));

        xa.SetMark(index, XaMark.Mark1);
        xa.AssertInvariants();

        Assert.True(xa.GetMark(index, XaMark.Mark1));
        Assert.False(xa.GetMark(index, XaMark.Mark0));
        Assert.False(xa.GetMark(index, XaMark.Mark2));
        Assert.False(xa.GetMark(below, XaMark.Mark1));
        Assert.False(xa.GetMark(above, XaMark.Mark1));
        Assert.True(xa.Marked(XaMark.Mark1));
        Assert.False(xa.Marked(XaMark.Mark0));
        Assert.False(xa.Marked(XaMark.Mark2));
        Assert.Equal([index], Indexes(xa.EntriesMarked(XaMark.Mark1)));

        xa.ClearMark(index, XaMark.Mark1);
        xa.AssertInvariants();
        Assert.False(xa.GetMark(index, XaMark.Mark1));
        Assert.False(xa.Marked(XaMark.Mark1));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void SetMark_OnADeepIndexSetsMarked(int shift)
    {
        var xa = New(shift);
        Store(xa, 0, new Item(0));
        Store(xa, 1UL << 40, new Item(1));
        Assert.True(xa.Height >= 2);

        xa.SetMark(1UL << 40, XaMark.Mark2);
        xa.AssertInvariants();

        Assert.True(xa.Marked(XaMark.Mark2));
        Assert.False(xa.Marked(XaMark.Mark0));
        ulong index = 0;
        Assert.NotNull(xa.FindMarked(ref index, ulong.MaxValue, XaMark.Mark2));
        Assert.Equal(1UL << 40, index);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void ClearMark_OfTheOnlyMarkedEntryClearsMarked(int shift)
    {
        var xa = New(shift);
        Store(xa, 3, new Item(3));
        Store(xa, 1UL << 40, new Item(1));
        xa.SetMark(1UL << 40, XaMark.Mark0);

        xa.ClearMark(1UL << 40, XaMark.Mark0);
        xa.AssertInvariants();

        Assert.False(xa.Marked(XaMark.Mark0));
        Assert.False(xa.GetMark(1UL << 40, XaMark.Mark0));
        Assert.Empty(xa.EntriesMarked(XaMark.Mark0));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void ClearMark_LeavesMarkedWhileAnotherSubtreeStillHasTheMark(int shift)
    {
        var xa = New(shift);
        const ulong Near = 2;
        const ulong Far = 1UL << 40;
        Store(xa, Near, new Item(1));
        Store(xa, Far, new Item(2));
        xa.SetMark(Near, XaMark.Mark1);
        xa.SetMark(Far, XaMark.Mark1);

        xa.ClearMark(Far, XaMark.Mark1);
        xa.AssertInvariants();
        Assert.True(xa.Marked(XaMark.Mark1));
        Assert.Equal([Near], Indexes(xa.EntriesMarked(XaMark.Mark1)));

        xa.ClearMark(Near, XaMark.Mark1);
        xa.AssertInvariants();
        Assert.False(xa.Marked(XaMark.Mark1));
    }

    [Fact]
    public void ClearMark_OfOneSiblingKeepsTheOtherSiblingsMark()
    {
        // Two marked entries in one leaf: clearing one must not clear the parent's bit.
        var xa = New(2);
        Store(xa, 16, new Item(16));
        Store(xa, 17, new Item(17));
        Store(xa, 100, new Item(100));
        xa.SetMark(16, XaMark.Mark0);
        xa.SetMark(17, XaMark.Mark0);

        xa.ClearMark(16, XaMark.Mark0);
        xa.AssertInvariants();

        Assert.True(xa.Marked(XaMark.Mark0));
        ulong index = 0;
        Assert.NotNull(xa.FindMarked(ref index, ulong.MaxValue, XaMark.Mark0));
        Assert.Equal(17UL, index);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Erase_OfTheOnlyMarkedEntryClearsMarked(int shift)
    {
        var xa = New(shift);
        Store(xa, 3, new Item(3));
        Store(xa, 1UL << 40, new Item(1));
        xa.SetMark(1UL << 40, XaMark.Mark0);

        xa.Erase(1UL << 40);
        xa.AssertInvariants();

        Assert.False(xa.Marked(XaMark.Mark0));
        Assert.Empty(xa.EntriesMarked(XaMark.Mark0));
    }

    [Fact]
    public void Marks_OnIndexZeroHeldInTheHeadWork()
    {
        var xa = New(6);
        var a = new Item(0);
        Store(xa, 0, a);
        Assert.Equal(0, xa.Height);

        xa.SetMark(0, XaMark.Mark1);
        xa.AssertInvariants();

        Assert.True(xa.GetMark(0, XaMark.Mark1));
        Assert.False(xa.GetMark(0, XaMark.Mark0));
        Assert.True(xa.Marked(XaMark.Mark1));
        Assert.Equal([(0UL, a)], xa.EntriesMarked(XaMark.Mark1).ToList());
        ulong index = 0;
        Assert.Same(a, xa.FindMarked(ref index, ulong.MaxValue, XaMark.Mark1));
        Assert.Equal(0UL, index);

        xa.ClearMark(0, XaMark.Mark1);
        xa.AssertInvariants();
        Assert.False(xa.GetMark(0, XaMark.Mark1));
        Assert.False(xa.Marked(XaMark.Mark1));
    }

    [Fact]
    public void Erase_OfIndexZeroHeldInTheHeadClearsItsMarks()
    {
        var xa = New(6);
        Store(xa, 0, new Item(0));
        xa.SetMark(0, XaMark.Mark2);

        xa.Erase(0);

        AssertEmpty(xa);
        Store(xa, 0, new Item(1));
        Assert.False(xa.GetMark(0, XaMark.Mark2));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Mark_OnIndexZeroSurvivesExpandAndShrink(int shift)
    {
        var xa = New(shift);
        var a = new Item(0);
        Store(xa, 0, a);
        xa.SetMark(0, XaMark.Mark0);

        Store(xa, ulong.MaxValue, new Item(1));
        Assert.True(xa.GetMark(0, XaMark.Mark0));
        Assert.False(xa.GetMark(ulong.MaxValue, XaMark.Mark0));
        Assert.Equal([0UL], Indexes(xa.EntriesMarked(XaMark.Mark0)));
        ulong index = 0;
        Assert.Same(a, xa.FindMarked(ref index, ulong.MaxValue, XaMark.Mark0));

        xa.Erase(ulong.MaxValue);
        xa.AssertInvariants();
        Assert.Equal(0, xa.Height);
        Assert.True(xa.GetMark(0, XaMark.Mark0));
        Assert.True(xa.Marked(XaMark.Mark0));
        Assert.Equal([0UL], Indexes(xa.EntriesMarked(XaMark.Mark0)));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Mark_OnADeepEntrySurvivesTheTreeGrowingAboveIt(int shift)
    {
        // Expanding the root must carry the mark into the new top node, or FindMarked,
        // which skips subtrees whose parent bit is clear, would miss the entry.
        var xa = New(shift);
        var a = new Item(5);
        Store(xa, 5, a);
        xa.SetMark(5, XaMark.Mark2);

        Store(xa, ulong.MaxValue, new Item(1));

        Assert.True(xa.GetMark(5, XaMark.Mark2));
        Assert.True(xa.Marked(XaMark.Mark2));
        ulong index = 0;
        Assert.Same(a, xa.FindMarked(ref index, ulong.MaxValue, XaMark.Mark2));
        Assert.Equal(5UL, index);
        Assert.Equal([5UL], Indexes(xa.EntriesMarked(XaMark.Mark2)));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Mark_OnADeepEntrySurvivesTheTreeShrinking(int shift)
    {
        var xa = New(shift);
        var a = new Item(5);
        Store(xa, 5, a);
        Store(xa, ulong.MaxValue, new Item(1));
        xa.SetMark(5, XaMark.Mark1);
        xa.SetMark(ulong.MaxValue, XaMark.Mark1);

        xa.Erase(ulong.MaxValue);
        xa.AssertInvariants();

        Assert.Equal(MinimalHeight(5, shift), xa.Height);
        Assert.True(xa.GetMark(5, XaMark.Mark1));
        Assert.True(xa.Marked(XaMark.Mark1));
        Assert.Equal([5UL], Indexes(xa.EntriesMarked(XaMark.Mark1)));
    }

    [Fact]
    public void Marks_AreIndependentOfEachOther()
    {
        var xa = New(2);
        Store(xa, 10, new Item(10));
        Store(xa, 20, new Item(20));
        Store(xa, 30, new Item(30));
        xa.SetMark(10, XaMark.Mark0);
        xa.SetMark(20, XaMark.Mark1);
        xa.SetMark(30, XaMark.Mark2);
        xa.SetMark(30, XaMark.Mark0);
        xa.AssertInvariants();

        Assert.Equal([10UL, 30UL], Indexes(xa.EntriesMarked(XaMark.Mark0)));
        Assert.Equal([20UL], Indexes(xa.EntriesMarked(XaMark.Mark1)));
        Assert.Equal([30UL], Indexes(xa.EntriesMarked(XaMark.Mark2)));

        xa.ClearMark(30, XaMark.Mark0);
        xa.AssertInvariants();
        Assert.True(xa.GetMark(30, XaMark.Mark2));
        Assert.Equal([10UL], Indexes(xa.EntriesMarked(XaMark.Mark0)));
    }

    [Fact]
    public void SetMark_Twice_IsIdempotentAndOneClearRemovesIt()
    {
        var xa = New(2);
        Store(xa, 10, new Item(10));

        xa.SetMark(10, XaMark.Mark0);
        xa.SetMark(10, XaMark.Mark0);
        xa.AssertInvariants();
        xa.ClearMark(10, XaMark.Mark0);
        xa.AssertInvariants();

        Assert.False(xa.GetMark(10, XaMark.Mark0));
        Assert.False(xa.Marked(XaMark.Mark0));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void EntriesMarked_CountsAThousandMarkedEntries(int shift)
    {
        var xa = New(shift);
        for (ulong i = 0; i < 3000; i++)
        {
            xa.Store(i, new Item((int)i));
            if (i % 3 == 1)
            {
                xa.SetMark(i, XaMark.Mark0);
            }
        }

        xa.AssertInvariants();

        var marked = Indexes(xa.EntriesMarked(XaMark.Mark0));
        Assert.Equal(1000, marked.Count);
        Assert.Equal(Enumerable.Range(0, 1000).Select(k => (ulong)((3 * k) + 1)), marked);
        Assert.Empty(xa.EntriesMarked(XaMark.Mark1));
    }

    // ---------------------------------------------------------------------------------------
    // check_xa_shrink

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
    [MemberData(nameof(ShiftsAndLargeIndexes))]
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

    // ---------------------------------------------------------------------------------------
    // Node counts and heights

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
    [MemberData(nameof(ShiftsAndLargeIndexes))]
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

    // ---------------------------------------------------------------------------------------
    // check_find

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

    // ---------------------------------------------------------------------------------------
    // Boundary indexes

    [Theory]
    [MemberData(nameof(ShiftsAndBoundaryIndexes))]
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
        var items = s_boundaryIndexes.ToDictionary(i => i, i => new Item((int)(i % 1000)));
        foreach (var index in s_boundaryIndexes.Reverse())
        {
            Store(xa, index, items[index]);
        }

        foreach (var index in s_boundaryIndexes)
        {
            Assert.Same(items[index], xa.Load(index));
        }

        Assert.Null(xa.Load(2));
        Assert.Null(xa.Load(62));
        Assert.Null(xa.Load(66));
        Assert.Null(xa.Load((1UL << 32) - 1));
        Assert.Null(xa.Load((1UL << 32) + 1));
        Assert.Null(xa.Load(ulong.MaxValue - 2));
        Assert.Equal(s_boundaryIndexes, Indexes(xa.Entries()));

        foreach (var index in s_boundaryIndexes)
        {
            Assert.Same(items[index], xa.Erase(index));
            xa.AssertInvariants();
        }

        AssertEmpty(xa);
    }

    // ---------------------------------------------------------------------------------------
    // Entries

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

    // ---------------------------------------------------------------------------------------
    // check_destroy

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
