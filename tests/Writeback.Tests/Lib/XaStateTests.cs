using Writeback.Kernel;
using Writeback.Lib;

namespace Writeback.Tests.Lib;

/// <summary>Unit tests for <see cref="XaState{T}"/>, the advanced cursor API (xa_state and the
/// xas_*() functions), one behaviour per test. They re-express the cursor checks of the kernel's
/// lib/test_xarray.c: check_xas_retry (reload after a concurrent change, reset),
/// check_multi_store (a cursor store on a multi-index entry returns the old entry and keeps the
/// index), check_xas_erase (erasing while walking), check_multi_find / check_find_3 (find from
/// inside an entry, past max), check_xa_mark_3 (marked walk over a multi-index entry),
/// check_move (next/prev over dense, sparse and wrapping arrays), check_find_entry (a walk that
/// pauses every four entries) and check_pause (pausing after every entry of increasing and
/// decreasing orders). Mutations are followed by <c>AssertInvariants()</c>; chunk shift 2 gives
/// deep trees at small indexes.</summary>
public class XaStateTests
{
    private static readonly XaMark[] AllMarks = [XaMark.Mark0, XaMark.Mark1, XaMark.Mark2];

    public static TheoryData<int> Shifts => new() { 2, 6 };

    public static TheoryData<int, int> ShiftsAndSmallOrders
    {
        get
        {
            var data = new TheoryData<int, int>();
            foreach (var shift in new[] { 2, 6 })
            {
                for (var order = 0; order <= 12; order++)
                {
                    data.Add(shift, order);
                }
            }

            return data;
        }
    }

    public static TheoryData<int, ulong> ShiftsAndMoveIndexes
    {
        get
        {
            var data = new TheoryData<int, ulong>();
            foreach (var shift in new[] { 2, 6 })
            {
                foreach (var idx in new ulong[] { 1, 2, 3, 4, 7, 8, 15, 16, 63, 64, 65, 255, 256, 1024, 4095, 4096 })
                {
                    data.Add(shift, idx);
                }
            }

            return data;
        }
    }

    // ---------------- construction, Set, Reset, SetError ----------------

    [Fact]
    public void Constructor_StartsAtRestartAtTheGivenIndex()
    {
        var xa = New(6);
        var xas = new XaState<Item>(xa, 1234);

        Assert.Same(xa, xas.Array);
        Assert.Equal(1234UL, xas.Index);
        Assert.Equal(0, xas.Order);
        Assert.Equal(Errno.None, xas.Error);
        Assert.True(xas.IsRestart);
        Assert.False(xas.IsBounds);
        Assert.True(xas.IsInvalid);
    }

    [Theory]
    [InlineData(13UL, 2, 12UL)]
    [InlineData(12UL, 2, 12UL)]
    [InlineData(4095UL, 9, 3584UL)]
    [InlineData(7UL, 0, 7UL)]
    [InlineData(ulong.MaxValue, 63, 1UL << 63)]
    [InlineData(ulong.MaxValue, 6, ulong.MaxValue - 63)]
    public void ConstructorWithOrder_AlignsTheIndexDownAndKeepsTheOrder(ulong index, int order, ulong aligned)
    {
        var xas = new XaState<Item>(New(6), index, order);

        Assert.Equal(aligned, xas.Index);
        Assert.Equal(order, xas.Order);
        Assert.True(xas.IsRestart);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(64)]
    public void ConstructorWithOrder_RejectsAnOrderOutsideZeroTo63(int order)
    {
        var xa = New(6);

        Assert.Throws<ArgumentOutOfRangeException>(() => new XaState<Item>(xa, 0, order));
    }

    [Fact]
    public void Set_MovesAWalkedCursorToTheIndexAtRestart()
    {
        var xa = New(6);
        Put(xa, 5);
        var xas = WalkedCursor(xa, 5);
        Assert.False(xas.IsInvalid);

        xas.Set(77);

        AssertRestartAt(xas, 77UL);
    }

    [Fact]
    public void Set_ClearsAnError()
    {
        var xa = New(6);
        var e = Put(xa, 9);
        var xas = new XaState<Item>(xa, 9);
        xas.SetError(Errno.EEXIST);

        xas.Set(9);

        Assert.Equal(Errno.None, xas.Error);
        Assert.True(xas.IsRestart);
        Assert.Same(e, xas.Load());
    }

    [Fact]
    public void Reset_RestartsAWalkedCursorKeepingItsIndex()
    {
        var xa = New(6);
        Put(xa, 5);
        var xas = WalkedCursor(xa, 5);

        xas.Reset();

        AssertRestartAt(xas, 5UL);
    }

    [Fact]
    public void Reset_ClearsAnErrorKeepingTheIndex()
    {
        var xa = New(6);
        var e = Put(xa, 5);
        var xas = new XaState<Item>(xa, 5);
        xas.SetError(Errno.EIO);

        xas.Reset();

        Assert.Equal(Errno.None, xas.Error);
        Assert.Equal(5UL, xas.Index);
        Assert.Same(e, xas.Load());
    }

    [Fact]
    public void SetError_IsReportedAndMakesTheCursorInvalid()
    {
        var xas = new XaState<Item>(New(6), 3);

        xas.SetError(Errno.EEXIST);

        Assert.Equal(Errno.EEXIST, xas.Error);
        Assert.True(xas.IsInvalid);
        Assert.False(xas.IsRestart);
        Assert.False(xas.IsBounds);
    }

    [Fact]
    public void SetError_RejectsNone()
    {
        var xas = new XaState<Item>(New(6), 3);

        Assert.Throws<ArgumentOutOfRangeException>(() => xas.SetError(Errno.None));
    }

    [Fact]
    public void SetError_ReadsAndMovesReturnNullAndKeepTheIndex()
    {
        var xa = New(6);
        for (ulong i = 0; i < 8; i++)
        {
            Put(xa, i);
        }

        xa.SetMark(4, XaMark.Mark0);
        var xas = new XaState<Item>(xa, 4);
        xas.SetError(Errno.EEXIST);

        Assert.Null(xas.Load());
        Assert.Null(xas.Reload());
        Assert.False(xas.TryLoadValue(out _));
        Assert.Null(xas.Find(ulong.MaxValue));
        Assert.Null(xas.FindMarked(ulong.MaxValue, XaMark.Mark0));
        Assert.Null(xas.Next());
        Assert.Null(xas.Prev());
        Assert.False(xas.GetMark(XaMark.Mark0));
        xas.Pause();

        Assert.Equal(4UL, xas.Index);
        Assert.Equal(Errno.EEXIST, xas.Error);
    }

    [Fact]
    public void SetError_StoreAndMarkChangesDoNothing()
    {
        var xa = New(6);
        var e = Put(xa, 4);
        xa.SetMark(4, XaMark.Mark1);
        var xas = new XaState<Item>(xa, 4);
        xas.SetError(Errno.EEXIST);

        UnderLockThenCheckInvariants(xa, () =>
        {
            Assert.Null(xas.Store(new Item(99)));
            Assert.Null(xas.Store(null));
            xas.SetMark(XaMark.Mark0);
            xas.ClearMark(XaMark.Mark1);
        });

        Assert.Same(e, xa.Load(4));
        Assert.False(xa.GetMark(4, XaMark.Mark0));
        Assert.True(xa.GetMark(4, XaMark.Mark1));
        Assert.Equal(Errno.EEXIST, xas.Error);
    }

    [Fact]
    public void SetError_OtherThanEnomem_NomemReturnsFalseAndTheErrorStays()
    {
        var xas = new XaState<Item>(New(6), 0);
        xas.SetError(Errno.EEXIST);

        Assert.False(xas.Nomem());

        Assert.Equal(Errno.EEXIST, xas.Error);
    }

    // ---------------- Load ----------------

    [Theory]
    [MemberData(nameof(Shifts))]
    public void Load_ReturnsTheEntryAndLeavesTheCursorWalked(int shift)
    {
        var xa = New(shift);
        Put(xa, 1);
        var e = Put(xa, 1000);
        var xas = new XaState<Item>(xa, 1000);

        Assert.Same(e, xas.Load());

        Assert.False(xas.IsInvalid);
        Assert.Equal(1000UL, xas.Index);
    }

    [Fact]
    public void Load_OfTheHeadEntryAtIndexZero_IsWalked()
    {
        var xa = New(6);
        var e = Put(xa, 0);
        var xas = new XaState<Item>(xa, 0);

        Assert.Same(e, xas.Load());

        Assert.False(xas.IsInvalid);
    }

    [Theory]
    [InlineData(-1L, 5UL)]
    [InlineData(0L, 1UL)]
    [InlineData(3L, 4UL)]
    [InlineData(3L, ulong.MaxValue)]
    public void Load_BeyondTheTree_ReturnsNullAndSetsBounds(long highestStored, ulong index)
    {
        var xa = New(2);
        for (long i = 0; i <= highestStored; i++)
        {
            Put(xa, (ulong)i);
        }

        var xas = new XaState<Item>(xa, index);

        Assert.Null(xas.Load());

        Assert.True(xas.IsBounds);
        Assert.True(xas.IsInvalid);
    }

    [Fact]
    public void Load_OfAHoleInsideTheTree_ReturnsNullWithoutBounds()
    {
        var xa = New(2);
        Put(xa, 0);
        Put(xa, 200);
        var xas = new XaState<Item>(xa, 57);

        Assert.Null(xas.Load());

        Assert.False(xas.IsBounds);
        Assert.False(xas.IsInvalid);
    }

    [Theory]
    [MemberData(nameof(Shifts))]
    public void Load_AtEveryIndexOfAMultiIndexEntry_ReturnsThatEntry(int shift)
    {
        var xa = New(shift);
        var e = new Item(1);
        StoreOrder(xa, 64, 5, e);

        for (ulong i = 64; i < 96; i++)
        {
            var xas = new XaState<Item>(xa, i);
            Assert.Same(e, xas.Load());
        }

        Assert.Null(new XaState<Item>(xa, 63).Load());
        Assert.Null(new XaState<Item>(xa, 96).Load());
    }

    [Fact]
    public void Load_OfAReservationOrAValue_ReturnsNull()
    {
        var xa = New(6);
        xa.Reserve(10);
        xa.StoreValue(11, 42);
        var reserved = new XaState<Item>(xa, 10);
        var value = new XaState<Item>(xa, 11);

        Assert.Null(reserved.Load());
        Assert.Null(value.Load());

        Assert.False(reserved.TryLoadValue(out _));
        Assert.True(value.TryLoadValue(out var v));
        Assert.Equal(42UL, v);
    }

    // ---------------- Reload ----------------

    [Fact]
    public void Reload_AfterAnotherStoreReplacedTheEntry_ReturnsTheNewEntry()
    {
        var xa = New(6);
        Put(xa, 3);
        var old = Put(xa, 10);
        var xas = new XaState<Item>(xa, 10);
        Assert.Same(old, xas.Load());
        var replacement = new Item(2);

        xa.Store(10, replacement);

        Assert.Same(replacement, xas.Reload());
    }

    [Fact]
    public void Reload_AfterTheEntryWasErased_ReturnsNull()
    {
        var xa = New(6);
        Put(xa, 3);
        Put(xa, 10);
        var xas = new XaState<Item>(xa, 10);
        Assert.NotNull(xas.Load());

        xa.Erase(10);

        Assert.Null(xas.Reload());
    }

    [Fact]
    public void Reload_AfterTheTreeShrankUnderTheCursor_WalksAgainAndReturnsTheLiveEntry()
    {
        // check_xas_retry: the walker's node is freed by a shrink and holds a retry entry; the
        // kernel's reload hands that to the caller, the model's walks again.
        var xa = New(6);
        var zero = Put(xa, 0);
        Put(xa, 1);
        var xas = new XaState<Item>(xa, 0);
        Assert.Same(zero, xas.Find(ulong.MaxValue));

        xa.Erase(1);
        xa.AssertInvariants();

        Assert.Same(zero, xas.Reload());
        Assert.False(xas.IsInvalid);
    }

    [Fact]
    public void Reload_FromRestart_Loads()
    {
        var xa = New(6);
        var e = Put(xa, 10);
        var xas = new XaState<Item>(xa, 10);

        Assert.Same(e, xas.Reload());

        Assert.False(xas.IsInvalid);
    }

    // ---------------- Store ----------------

    [Fact]
    public void Store_WithoutTheLock_ThrowsKernelBug()
    {
        var xa = New(6);
        var xas = new XaState<Item>(xa, 5);

        Assert.Throws<KernelBugException>(() => xas.Store(new Item(1)));
        Assert.Throws<KernelBugException>(() => xas.Store(null));

        Assert.True(xa.IsEmpty);
    }

    [Theory]
    [MemberData(nameof(Shifts))]
    public void Store_ReturnsTheOldEntryAndKeepsTheIndex(int shift)
    {
        var xa = New(shift);
        var a = new Item(1);
        var b = new Item(2);
        var xas = new XaState<Item>(xa, 300);

        UnderLockThenCheckInvariants(xa, () =>
        {
            Assert.Null(xas.Store(a));
            Assert.Equal(300UL, xas.Index);
            Assert.Same(a, xas.Store(b));
            Assert.Equal(300UL, xas.Index);
        });

        Assert.Same(b, xa.Load(300));
        Assert.Same(b, xas.Reload());
    }

    [Theory]
    [InlineData(2, 200UL, 3)]
    [InlineData(2, 0UL, 7)]
    [InlineData(2, 33UL, 5)]
    [InlineData(6, 200UL, 3)]
    [InlineData(6, 0UL, 12)]
    [InlineData(6, (1UL << 13) + 1, 13)]
    [InlineData(6, 4095UL, 9)]
    public void Store_WithOrder_CoversTheAlignedRangeOnly(int shift, ulong index, int order)
    {
        // check_multi_store_1.
        var xa = New(shift);
        var e = new Item(1);
        var min = index & ~((1UL << order) - 1);
        var max = min + (1UL << order);

        StoreOrder(xa, index, order, e);

        Assert.Same(e, xa.Load(min));
        Assert.Same(e, xa.Load(max - 1));
        Assert.Null(xa.Load(max));
        if (min > 0)
        {
            Assert.Null(xa.Load(min - 1));
        }

        Assert.Equal(order, xa.GetOrder(index));
    }

    [Theory]
    [MemberData(nameof(Shifts))]
    public void Store_OnAMultiIndexEntryFromInsideIt_ReturnsTheOldEntryAndKeepsTheIndex(int shift)
    {
        // check_multi_store_2: an order-0 cursor inside an order-9 entry replaces it whole.
        var xa = New(shift);
        var first = new Item(0);
        var second = new Item(1);
        StoreOrder(xa, 4095, 9, first);
        var xas = new XaState<Item>(xa, 4095);

        UnderLockThenCheckInvariants(xa, () =>
        {
            Assert.Same(first, xas.Store(second));
            Assert.Equal(4095UL, xas.Index);
            xa.AssertInvariants();
            Assert.Same(second, xa.Load(3584));
            Assert.Same(second, xa.Load(4095));
            Assert.Same(second, xas.Store(null));
        });

        Assert.True(xa.IsEmpty);
    }

    [Theory]
    [MemberData(nameof(Shifts))]
    public void Store_NullWithOrder_ErasesEveryEntryInTheRangeEvenWithTheFirstSlotEmpty(int shift)
    {
        var xa = New(shift);
        Put(xa, 1);
        Put(xa, 2);

        Assert.Null(StoreOrder(xa, 0, 2, null));

        AssertEmptyWithoutNodes(xa);
    }

    [Theory]
    [MemberData(nameof(Shifts))]
    public void Store_NullWithOrder_ErasesAWholeLargerEntryThatOverlapsTheRange(int shift)
    {
        var xa = New(shift);
        var big = new Item(1);
        StoreOrder(xa, 16, 4, big);
        var outside = Put(xa, 40);

        Assert.Same(big, StoreOrder(xa, 24, 3, null));

        for (ulong i = 16; i < 32; i++)
        {
            Assert.Null(xa.Load(i));
        }

        Assert.Same(outside, xa.Load(40));
    }

    [Theory]
    [MemberData(nameof(Shifts))]
    public void Store_NullWithOrder63_EmptiesTheLowerHalf(int shift)
    {
        var xa = New(shift);
        Put(xa, 0);
        Put(xa, 1);
        StoreOrder(xa, 1024, 4, new Item(2));
        Put(xa, (1UL << 40) + 3);

        StoreOrder(xa, 0, 63, null);

        AssertEmptyWithoutNodes(xa);
    }

    [Fact]
    public void Store_FromTheBoundsState_StoresAtTheIndex()
    {
        var xa = New(2);
        Put(xa, 1);
        var xas = new XaState<Item>(xa, 500);
        Assert.Null(xas.Load());
        Assert.True(xas.IsBounds);
        var e = new Item(1);

        UnderLockThenCheckInvariants(xa, () => Assert.Null(xas.Store(e)));
        Assert.Same(e, xa.Load(500));
        Assert.False(xas.IsInvalid);
    }

    [Fact]
    public void StoreValue_ThroughTheCursor_ReadsBackAsAValue()
    {
        var xa = New(6);
        var e = Put(xa, 70);
        var xas = new XaState<Item>(xa, 70);

        UnderLockThenCheckInvariants(xa, () => Assert.Same(e, xas.StoreValue(12345)));
        Assert.Null(xa.Load(70));
        Assert.True(xa.TryLoadValue(70, out var v));
        Assert.Equal(12345UL, v);
        Assert.True(xas.TryLoadValue(out var viaCursor));
        Assert.Equal(12345UL, viaCursor);
    }

    // ---------------- Find ----------------

    [Fact]
    public void Find_FromRestart_IncludesTheCursorIndex()
    {
        var xa = New(6);
        var e5 = Put(xa, 5);
        Put(xa, 10);
        var xas = new XaState<Item>(xa, 5);

        Assert.Same(e5, xas.Find(ulong.MaxValue));

        Assert.Equal(5UL, xas.Index);
        Assert.False(xas.IsInvalid);
    }

    [Fact]
    public void Find_WhenWalked_ReturnsTheNextEntryAfterTheCurrentOne()
    {
        var xa = New(6);
        Put(xa, 5);
        var e10 = Put(xa, 10);
        var xas = WalkedCursor(xa, 5);

        Assert.Same(e10, xas.Find(ulong.MaxValue));

        Assert.Equal(10UL, xas.Index);
    }

    [Theory]
    [MemberData(nameof(Shifts))]
    public void Find_WhenWalkedOnAMultiIndexEntry_SkipsAllOfItsSiblingSlots(int shift)
    {
        var xa = New(shift);
        var multi = new Item(1);
        StoreOrder(xa, 4, 2, multi);
        var after = Put(xa, 8);
        var xas = new XaState<Item>(xa, 0);

        Assert.Same(multi, xas.Find(ulong.MaxValue));
        Assert.Equal(4UL, xas.Index);
        Assert.Same(after, xas.Find(ulong.MaxValue));
        Assert.Equal(8UL, xas.Index);
    }

    [Fact]
    public void Find_NothingLeftUpToMaxValue_ReturnsNullAndSetsBounds()
    {
        var xa = New(6);
        Put(xa, 5);
        var xas = new XaState<Item>(xa, 0);
        xas.Find(ulong.MaxValue);

        Assert.Null(xas.Find(ulong.MaxValue));

        Assert.True(xas.IsBounds);
    }

    [Fact]
    public void Find_NothingLeftUpToMax_RestartsAtMaxPlusOne()
    {
        var xa = New(6);
        Put(xa, 5);
        var e200 = Put(xa, 200);
        var xas = new XaState<Item>(xa, 0);
        xas.Find(100);

        Assert.Null(xas.Find(100));

        AssertRestartAt(xas, 101UL);
        Assert.Same(e200, xas.Find(ulong.MaxValue));
    }

    [Fact]
    public void Find_WithTheIndexAboveMax_ReturnsNullAndSetsBounds()
    {
        var xa = New(6);
        Put(xa, 200);
        var xas = new XaState<Item>(xa, 100);

        Assert.Null(xas.Find(50));

        Assert.True(xas.IsBounds);
        Assert.Equal(100UL, xas.Index);
    }

    [Fact]
    public void Find_InTheBoundsState_ReturnsNull()
    {
        var xa = New(6);
        Put(xa, 3);
        var xas = WalkedCursor(xa, 1000);
        Assert.True(xas.IsBounds);

        Assert.Null(xas.Find(ulong.MaxValue));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(9)]
    public void Find_FromInsideAMultiIndexEntry_ReturnsItAtTheStartIndex(int order)
    {
        // check_multi_find_1.
        var xa = New(6);
        var multi = new Item(1);
        var multiIndex = 3UL << order;
        StoreOrder(xa, multiIndex, order, multi);
        var next = Put(xa, 4UL << order);
        var xas = new XaState<Item>(xa, multiIndex + 1);

        Assert.Same(multi, xas.Find(ulong.MaxValue));
        Assert.Equal(multiIndex + 1, xas.Index);
        Assert.Same(next, xas.Find(ulong.MaxValue));
        Assert.Equal(4UL << order, xas.Index);
    }

    [Theory]
    [MemberData(nameof(Shifts))]
    public void Find_LoopVisitsEveryEntryOnceInAscendingOrder(int shift)
    {
        var xa = New(shift);
        Put(xa, 0);
        Put(xa, 3);
        StoreOrder(xa, 4, 2, new Item(4));
        StoreOrder(xa, 64, 6, new Item(64));
        Put(xa, 1000);
        Put(xa, ulong.MaxValue - 1);
        Put(xa, ulong.MaxValue);
        xa.Reserve(2000);
        xa.StoreValue(2001, 7);

        var xas = new XaState<Item>(xa, 0);
        var seen = FindRest(xas, mark: null);

        Assert.Equal([0UL, 3, 4, 64, 1000, ulong.MaxValue - 1, ulong.MaxValue], seen.Select(s => s.Index));
        Assert.Equal(xa.Entries().ToList(), seen);
        Assert.True(xas.IsBounds);
    }

    [Theory]
    [InlineData(2, 0UL, 1)]
    [InlineData(2, 0UL, 7)]
    [InlineData(6, 0UL, 12)]
    [InlineData(2, 1UL << 5, 5)]
    [InlineData(6, 1UL << 13, 13)]
    public void Find_LoopOverAMultiIndexEntry_SeesItOnceAndAgainFromInsideIt(int shift, ulong index, int order)
    {
        // check_multi_store_3.
        var xa = New(shift);
        var e = new Item(1);
        StoreOrder(xa, index, order, e);
        var xas = new XaState<Item>(xa, 0);

        Assert.Same(e, Assert.Single(FindRest(xas, mark: null)).Entry);
        xas.Set(index + 1);
        Assert.Same(e, Assert.Single(FindRest(xas, mark: null)).Entry);
    }

    [Theory]
    [MemberData(nameof(Shifts))]
    public void Find_ErasingEachEntryWhileWalking_EmptiesTheArray(int shift)
    {
        // check_xas_erase.
        var xa = New(shift);
        var xas = new XaState<Item>(xa, 0);
        for (ulong i = 0; i < 200; i += 7)
        {
            var items = new Dictionary<ulong, Item>();
            for (var j = i; j < (2 * i) + 17; j++)
            {
                items[j] = new Item(j);
                xas.Set(j);
                StoreWithNomemLoop(xa, xas, items[j]);
            }

            xas.Set(ulong.MaxValue);
            StoreWithNomemLoop(xa, xas, new Item(ulong.MaxValue));

            xa.Lock.Lock();
            xas.Store(null);
            xas.Set(0);
            var expected = i;
            for (var e = xas.Find(ulong.MaxValue); e is not null; e = xas.Find(ulong.MaxValue))
            {
                Assert.Same(items[expected], e);
                Assert.Equal(expected, xas.Index);
                xas.Store(null);
                expected++;
            }

            xa.Lock.Unlock();
            Assert.Equal((2 * i) + 17, expected);
            xa.AssertInvariants();
            Assert.True(xa.IsEmpty);
        }
    }

    [Fact]
    public void Find_EntryAtMaxValue_IsFoundThenTheWalkEnds()
    {
        // check_move_max.
        var xa = New(6);
        var e = Put(xa, ulong.MaxValue);
        var xas = new XaState<Item>(xa, 0);

        Assert.Same(e, xas.Find(ulong.MaxValue));
        Assert.Equal(ulong.MaxValue, xas.Index);
        Assert.Null(xas.Find(ulong.MaxValue));
        Assert.True(xas.IsBounds);
    }

    // ---------------- FindMarked ----------------

    [Theory]
    [MemberData(nameof(Shifts))]
    public void FindMarked_VisitsOnlyEntriesWithTheMarkInOrder(int shift)
    {
        var xa = New(shift);
        var marked = new List<Item>();
        for (ulong i = 0; i < 300; i += 3)
        {
            var e = Put(xa, i);
            if (i % 9 == 0)
            {
                xa.SetMark(i, XaMark.Mark1);
                marked.Add(e);
            }
        }

        var seen = FindRest(new XaState<Item>(xa, 0), XaMark.Mark1);

        Assert.All(seen, found => Assert.True(xa.GetMark(found.Index, XaMark.Mark1)));
        Assert.Equal(marked, seen.Select(found => found.Entry));
    }

    [Theory]
    [MemberData(nameof(Shifts))]
    public void FindMarked_MultiIndexEntryMarkedThroughAnInnerIndex_IsSeenOnce(int shift)
    {
        // check_xa_mark_3.
        var xa = New(shift);
        var e = new Item(0x40);
        StoreOrder(xa, 0x40, 2, e);
        xa.SetMark(0x41, XaMark.Mark0);

        Assert.Same(e, Assert.Single(FindRest(new XaState<Item>(xa, 0x41), XaMark.Mark0)).Entry);
    }

    [Fact]
    public void FindMarked_NoMarkedEntryUpToMax_RestartsAtMaxPlusOne()
    {
        var xa = New(6);
        Put(xa, 5);
        var e200 = Put(xa, 200);
        xa.SetMark(200, XaMark.Mark2);
        var xas = new XaState<Item>(xa, 0);

        Assert.Null(xas.FindMarked(100, XaMark.Mark2));

        AssertRestartAt(xas, 101UL);
        Assert.Same(e200, xas.FindMarked(ulong.MaxValue, XaMark.Mark2));
    }

    [Fact]
    public void FindMarked_WithTheIndexAboveMax_ReturnsNullAndSetsBounds()
    {
        // The kernel's xas_find_marked() leaves XAS_RESTART here (check_find_3); the model sets
        // bounds for both searches. Either way the walk returns nothing.
        var xa = New(6);
        Put(xa, 20);
        xa.SetMark(20, XaMark.Mark0);
        var xas = new XaState<Item>(xa, 30);

        Assert.Null(xas.FindMarked(10, XaMark.Mark0));

        Assert.True(xas.IsBounds);
        Assert.Equal(30UL, xas.Index);
    }

    // ---------------- Next and Prev ----------------

    [Theory]
    [InlineData(nameof(XaState<Item>.Next))]
    [InlineData(nameof(XaState<Item>.Prev))]
    public void NextOrPrev_FromRestart_ReadsTheCursorIndexItself(string move)
    {
        var xa = New(6);
        var e = Put(xa, 7);
        var xas = new XaState<Item>(xa, 7);

        Assert.Same(e, string.Equals(move, nameof(XaState<Item>.Next), StringComparison.Ordinal) ? xas.Next() : xas.Prev());

        AssertWalkedAt(xas, 7);
    }

    [Fact]
    public void NextAndPrev_OnAnEmptyArrayAndAHeadEntry_ReturnTheEntryOnlyAtZero()
    {
        // check_move_tiny.
        var xa = New(6);
        var xas = new XaState<Item>(xa, 0);
        Assert.Null(xas.Next());
        Assert.Null(xas.Next());
        var e = Put(xa, 0);

        xas.Set(0);
        Assert.Same(e, xas.Next());
        Assert.Null(xas.Next());
        Assert.Equal(1UL, xas.Index);
        xas.Set(0);
        Assert.Same(e, xas.Prev());
        Assert.Null(xas.Prev());
        Assert.Equal(ulong.MaxValue, xas.Index);
    }

    [Theory]
    [MemberData(nameof(ShiftsAndMoveIndexes))]
    public void NextThenPrev_StepOneIndexAtATimeOverHoles(int shift, ulong idx)
    {
        // check_move_small.
        var xa = New(shift);
        var zero = Put(xa, 0);
        var at = Put(xa, idx);
        var xas = new XaState<Item>(xa, 0);

        ulong i;
        for (i = 0; i < idx * 4; i++)
        {
            var e = xas.Next();
            AssertWalkedAt(xas, i);
            Assert.Same(i == 0 ? zero : i == idx ? at : null, e);
        }

        xas.Next();
        Assert.Equal(i, xas.Index);
        do
        {
            var e = xas.Prev();
            i--;
            AssertWalkedAt(xas, i);
            Assert.Same(i == 0 ? zero : i == idx ? at : null, e);
        }
        while (i > 0);
    }

    [Theory]
    [MemberData(nameof(Shifts))]
    public void Next_WrapsFromMaxValueToZero_AndPrevWrapsBack(int shift)
    {
        // check_move_small's tail.
        var xa = New(shift);
        var zero = Put(xa, 0);
        Put(xa, 100);
        var xas = new XaState<Item>(xa, ulong.MaxValue);

        Assert.Null(xas.Next());
        Assert.Equal(ulong.MaxValue, xas.Index);
        Assert.Same(zero, xas.Next());
        Assert.Equal(0UL, xas.Index);
        Assert.Null(xas.Prev());
        Assert.Equal(ulong.MaxValue, xas.Index);
    }

    [Theory]
    [MemberData(nameof(Shifts))]
    public void PrevThenNext_OverADenseArray_ReturnEveryEntryAndWrapAtZero(int shift)
    {
        // check_move, first half.
        const ulong Count = 1UL << 16;
        var xa = New(shift);
        var items = StoreDense(xa, Count);
        xa.AssertInvariants();

        // From restart, the first Prev reads Count - 1 itself.
        AssertPrevDownToZeroWrapsThenNextUpTo(new XaState<Item>(xa, Count - 1), Count, Count, at => items[at]);
    }

    [Theory]
    [MemberData(nameof(Shifts))]
    public void PrevThenNext_OverADenseArrayWithAnErasedRun_ReturnNullInTheHole(int shift)
    {
        // check_move, second half.
        const ulong Count = 1UL << 16;
        var xa = New(shift);
        var items = StoreDense(xa, Count);
        for (var i = 1UL << 8; i < 1UL << 15; i++)
        {
            xa.Erase(i);
        }

        xa.AssertInvariants();
        static bool Present(ulong i) => i < (1UL << 8) || i >= (1UL << 15);

        // Walked at Count - 1, the first Prev moves to Count - 2.
        AssertPrevDownToZeroWrapsThenNextUpTo(WalkedCursor(xa, Count - 1), Count - 1, Count, at => Present(at) ? items[at] : null);
    }

    // ---------------- Pause ----------------

    [Fact]
    public void Pause_AtRestart_DoesNothing()
    {
        var xas = new XaState<Item>(New(6), 9);

        xas.Pause();

        AssertRestartAt(xas, 9UL);
    }

    [Fact]
    public void Pause_InTheBoundsState_DoesNothing()
    {
        var xa = New(6);
        Put(xa, 1);
        var xas = WalkedCursor(xa, 5000);

        xas.Pause();

        Assert.Equal(5000UL, xas.Index);
        Assert.True(xas.IsBounds);
    }

    [Fact]
    public void Pause_AfterASingleEntry_RestartsAtTheNextIndex()
    {
        var xa = New(6);
        Put(xa, 5);
        var e9 = Put(xa, 9);
        var xas = WalkedCursor(xa, 5);

        xas.Pause();

        AssertRestartAt(xas, 6UL);
        Assert.Same(e9, xas.Find(ulong.MaxValue));
    }

    [Fact]
    public void Pause_AfterTheHeadEntry_RestartsAtOne()
    {
        var xa = New(6);
        Put(xa, 0);
        var xas = WalkedCursor(xa, 0);

        xas.Pause();

        AssertRestartAt(xas, 1UL);
    }

    [Theory]
    [InlineData(2, 8UL, 3, 8UL)]
    [InlineData(2, 8UL, 3, 13UL)]
    [InlineData(2, 64UL, 5, 90UL)]
    [InlineData(6, 64UL, 6, 64UL)]
    [InlineData(6, 4096UL, 9, 4500UL)]
    public void Pause_AfterAMultiIndexEntry_RestartsPastAllOfItsSiblingSlots(int shift, ulong index, int order, ulong foundFrom)
    {
        var xa = New(shift);
        var multi = new Item(1);
        StoreOrder(xa, index, order, multi);
        var after = Put(xa, index + (1UL << order));
        var xas = new XaState<Item>(xa, foundFrom);
        Assert.Same(multi, xas.Find(ulong.MaxValue));

        xas.Pause();

        AssertRestartAt(xas, index + (1UL << order));
        Assert.Same(after, xas.Find(ulong.MaxValue));
    }

    [Fact]
    public void Pause_AfterAHole_RestartsPastTheHoleSlotRangeAtTheLevelTheWalkEnded()
    {
        // Chunk shift 2 with entries at 0 and 200: the walk to 5 ends at the empty slot for 4..7.
        var xa = New(2);
        Put(xa, 0);
        Put(xa, 200);
        var xas = new XaState<Item>(xa, 5);
        Assert.Null(xas.Load());

        xas.Pause();

        AssertRestartAt(xas, 8UL);
    }

    [Fact]
    public void Pause_AfterAHoleAtAnUpperLevel_RestartsPastTheWholeEmptySubtree()
    {
        // Chunk shift 2 with entries at 0 and 200: slot 1 of the top node (64..127) is empty.
        var xa = New(2);
        Put(xa, 0);
        var e200 = Put(xa, 200);
        var xas = new XaState<Item>(xa, 70);
        Assert.Null(xas.Load());

        xas.Pause();

        Assert.Equal(128UL, xas.Index);
        Assert.Same(e200, xas.Find(ulong.MaxValue));
    }

    [Fact]
    public void Pause_AfterTheEntryAtMaxValue_SetsBoundsAndTheWalkEnds()
    {
        // check_move_max.
        var xa = New(6);
        var e = Put(xa, ulong.MaxValue);
        var xas = new XaState<Item>(xa, 0);
        Assert.Same(e, xas.Find(ulong.MaxValue));

        xas.Pause();

        Assert.True(xas.IsBounds);
        Assert.Null(xas.Find(ulong.MaxValue));
    }

    [Fact]
    public void Pause_AfterAMultiIndexEntryEndingAtMaxValue_SetsBounds()
    {
        var xa = New(6);
        var e = new Item(1);
        StoreOrder(xa, ulong.MaxValue, 8, e);
        var xas = new XaState<Item>(xa, 0);
        Assert.Same(e, xas.Find(ulong.MaxValue));

        xas.Pause();

        Assert.True(xas.IsBounds);
    }

    [Theory]
    [MemberData(nameof(ShiftsAndSmallOrders))]
    public void Pause_EveryFourEntriesDuringAWalk_StillFindsEachEntryAtItsIndex(int shift, int order)
    {
        // check_find_entry, with the offset actually shifting where the entries go.
        var xa = New(shift);
        var step = 1UL << order;
        foreach (var offset in new[] { 0UL, step, 5 * step })
        {
            for (ulong index = 0; index < (1UL << (order + 5)); index += step)
            {
                var e = new Item(offset + index);
                StoreOrder(xa, offset + index, order, e);
                Assert.Same(e, xa.Load(offset + index));
                Assert.Equal(offset + index, FindEntryPausing(xa, e));
            }

            Assert.Null(FindEntryPausing(xa, new Item(0)));
            xa.Destroy();
        }

        Assert.Null(FindEntryPausing(xa, new Item(0)));
        var max = Put(xa, ulong.MaxValue);
        Assert.Null(FindEntryPausing(xa, new Item(0)));
        Assert.Equal(ulong.MaxValue, FindEntryPausing(xa, max));
    }

    [Theory]
    [MemberData(nameof(Shifts))]
    public void Pause_AfterEveryEntryOfIncreasingOrder_VisitsEachOnce(int shift)
    {
        // check_pause, first half: order k at 2^k (order 0 at 1), up to order 63.
        var xa = New(shift);
        var items = new Item[64];
        ulong index = 1;
        for (var order = 0; order < 64; order++)
        {
            items[order] = new Item(index);
            Assert.Null(StoreOrder(xa, index, order, items[order]));
            index = unchecked(index + (1UL << order));
        }

        AssertWalksVisitEachOnce(xa, items, pausedWalkStart: 0);
    }

    [Theory]
    [MemberData(nameof(Shifts))]
    public void Pause_AfterEveryEntryOfDecreasingOrder_VisitsEachOnceFromAnUnalignedStart(int shift)
    {
        // check_pause, second half: order 63 at 0, order 62 at 2^63, ..., order 0 at ulong.MaxValue.
        var xa = New(shift);
        var items = new Item[64];
        ulong index = 0;
        for (var order = 63; order >= 0; order--)
        {
            items[63 - order] = new Item(index);
            Assert.Null(StoreOrder(xa, index, order, items[63 - order]));
            index = unchecked(index + (1UL << order));
        }

        AssertWalksVisitEachOnce(xa, items, pausedWalkStart: 1);
    }

    // ---------------- marks ----------------

    [Fact]
    public void GetMark_ReadsTheMarksOfTheEntryAtTheIndex()
    {
        var xa = New(6);
        Put(xa, 12);
        xa.SetMark(12, XaMark.Mark2);
        var xas = new XaState<Item>(xa, 12);

        Assert.True(xas.GetMark(XaMark.Mark2));
        Assert.False(xas.GetMark(XaMark.Mark0));
        Assert.False(xas.GetMark(XaMark.Mark1));
    }

    [Fact]
    public void SetMark_WithoutTheLock_ThrowsKernelBug()
    {
        var xa = New(6);
        Put(xa, 12);
        var xas = new XaState<Item>(xa, 12);

        Assert.Throws<KernelBugException>(() => xas.SetMark(XaMark.Mark0));

        Assert.False(xa.GetMark(12, XaMark.Mark0));
    }

    [Fact]
    public void ClearMark_WithoutTheLock_ThrowsKernelBug()
    {
        var xa = New(6);
        Put(xa, 12);
        xa.SetMark(12, XaMark.Mark0);
        var xas = new XaState<Item>(xa, 12);

        Assert.Throws<KernelBugException>(() => xas.ClearMark(XaMark.Mark0));

        Assert.True(xa.GetMark(12, XaMark.Mark0));
    }

    [Theory]
    [MemberData(nameof(Shifts))]
    public void SetMarkThenClearMark_UnderTheLock_ChangeOnlyThatMarkOfThatEntry(int shift)
    {
        var xa = New(shift);
        Put(xa, 12);
        Put(xa, 13);
        var xas = new XaState<Item>(xa, 12);

        UnderLockThenCheckInvariants(xa, () => xas.SetMark(XaMark.Mark1));
        Assert.True(xa.GetMark(12, XaMark.Mark1));
        Assert.True(xas.GetMark(XaMark.Mark1));
        Assert.False(xa.GetMark(12, XaMark.Mark0));
        Assert.False(xa.GetMark(13, XaMark.Mark1));

        UnderLockThenCheckInvariants(xa, () => xas.ClearMark(XaMark.Mark1));
        Assert.False(xa.GetMark(12, XaMark.Mark1));
        Assert.False(xa.Marked(XaMark.Mark1));
    }

    [Fact]
    public void SetMark_OnAHole_DoesNothing()
    {
        var xa = New(6);
        Put(xa, 12);
        var xas = new XaState<Item>(xa, 40);

        UnderLockThenCheckInvariants(xa, () =>
        {
            foreach (var mark in AllMarks)
            {
                xas.SetMark(mark);
            }
        });

        foreach (var mark in AllMarks)
        {
            Assert.False(xas.GetMark(mark));
            Assert.False(xa.Marked(mark));
        }
    }

    [Fact]
    public void SetMark_AtAnInnerIndexOfAMultiIndexEntry_MarksTheWholeEntry()
    {
        var xa = New(2);
        StoreOrder(xa, 32, 4, new Item(1));
        var xas = new XaState<Item>(xa, 45);

        UnderLockThenCheckInvariants(xa, () => xas.SetMark(XaMark.Mark0));
        for (ulong i = 32; i < 48; i++)
        {
            Assert.True(xa.GetMark(i, XaMark.Mark0));
        }

        Assert.False(xa.GetMark(48, XaMark.Mark0));
    }

    // ---------------- helpers ----------------

    private static XArray<Item> New(int shift) => new(shift);

    private static Item Put(XArray<Item> xa, ulong index)
    {
        var item = new Item(index);
        xa.Store(index, item);
        xa.AssertInvariants();
        return item;
    }

    /// <summary>A cursor at <paramref name="index"/> after a <see cref="XaState{T}.Load"/>, so walked
    /// (or in the bounds state).</summary>
    private static XaState<Item> WalkedCursor(XArray<Item> xa, ulong index)
    {
        var xas = new XaState<Item>(xa, index);
        xas.Load();
        return xas;
    }

    /// <summary>Stores a distinct item at each of 0 .. <paramref name="count"/> - 1 and returns them.</summary>
    private static Item[] StoreDense(XArray<Item> xa, ulong count)
    {
        var items = new Item[count];
        for (ulong i = 0; i < count; i++)
        {
            items[i] = new Item(i);
            xa.Store(i, items[i]);
        }

        return items;
    }

    /// <summary>lock; <paramref name="action"/>; unlock; then the array must be valid.</summary>
    private static void UnderLockThenCheckInvariants(XArray<Item> xa, Action action)
    {
        xa.Lock.Lock();
        action();
        xa.Lock.Unlock();
        xa.AssertInvariants();
    }

    /// <summary>The kernel's <c>do { lock; xas_store(); unlock; } while (xas_nomem())</c> with the
    /// cursor as it is; returns what the last store returned.</summary>
    private static Item? StoreWithNomemLoop(XArray<Item> xa, XaState<Item> xas, Item? entry)
    {
        Item? old;
        do
        {
            xa.Lock.Lock();
            old = xas.Store(entry);
            xa.Lock.Unlock();
        }
        while (xas.Nomem());

        return old;
    }

    private static void AssertRestartAt(XaState<Item> xas, ulong index)
    {
        Assert.True(xas.IsRestart);
        Assert.Equal(index, xas.Index);
    }

    private static void AssertWalkedAt(XaState<Item> xas, ulong index)
    {
        Assert.False(xas.IsRestart);
        Assert.Equal(index, xas.Index);
    }

    private static void AssertEmptyWithoutNodes(XArray<Item> xa)
    {
        Assert.True(xa.IsEmpty);
        Assert.Equal(0, xa.NodeCount);
    }

    /// <summary>check_move's walk: Prev from <paramref name="from"/> down to 0, each step at the
    /// index below the last and returning <paramref name="expected"/> of it; one more Prev wraps
    /// to <see cref="ulong.MaxValue"/> with nothing; then Next from 0 up to
    /// <paramref name="count"/> - 1 the same way.</summary>
    private static void AssertPrevDownToZeroWrapsThenNextUpTo(XaState<Item> xas, ulong from, ulong count, Func<ulong, Item?> expected)
    {
        var at = from;
        do
        {
            var e = xas.Prev();
            at--;
            Assert.Same(expected(at), e);
            Assert.Equal(at, xas.Index);
        }
        while (at != 0);

        Assert.Null(xas.Prev());
        Assert.Equal(ulong.MaxValue, xas.Index);
        do
        {
            var e = xas.Next();
            Assert.Same(expected(at), e);
            Assert.Equal(at, xas.Index);
            at++;
        }
        while (at < count);
    }

    /// <summary>Every entry <see cref="XaState{T}.Find"/> (or, with a mark,
    /// <see cref="XaState{T}.FindMarked"/>) returns from the cursor's position up to
    /// <see cref="ulong.MaxValue"/>, with the cursor index it was returned at.</summary>
    private static List<(ulong Index, Item Entry)> FindRest(XaState<Item> xas, XaMark? mark)
    {
        var seen = new List<(ulong Index, Item Entry)>();
        for (var e = Next(); e is not null; e = Next())
        {
            seen.Add((xas.Index, e));
        }

        return seen;

        Item? Next() => mark is { } m ? xas.FindMarked(ulong.MaxValue, m) : xas.Find(ulong.MaxValue);
    }

    /// <summary>A walk from 0 without pausing, and one from <paramref name="pausedWalkStart"/>
    /// pausing after every entry, both see exactly <paramref name="items"/> in order.</summary>
    private static void AssertWalksVisitEachOnce(XArray<Item> xa, Item[] items, ulong pausedWalkStart)
    {
        Assert.Equal(items, WalkAll(xa, 0, pause: false));
        Assert.Equal(items, WalkAll(xa, pausedWalkStart, pause: true));
    }

    /// <summary>A multi-index store through a cursor, with the kernel's lock/store/unlock/nomem loop.</summary>
    private static Item? StoreOrder(XArray<Item> xa, ulong index, int order, Item? entry)
    {
        var xas = new XaState<Item>(xa, index, order);
        var old = StoreWithNomemLoop(xa, xas, entry);
        Assert.Equal(Errno.None, xas.Error);
        xa.AssertInvariants();
        return old;
    }

    /// <summary>Walks from 0, pausing every fourth entry (as shmem's swap-entry search does), and
    /// returns the index <paramref name="wanted"/> was found at.</summary>
    private static ulong? FindEntryPausing(XArray<Item> xa, Item wanted)
    {
        var xas = new XaState<Item>(xa, 0);
        var checkedEntries = 0;
        for (var e = xas.Find(ulong.MaxValue); e is not null; e = xas.Find(ulong.MaxValue))
        {
            if (ReferenceEquals(e, wanted))
            {
                return xas.Index;
            }

            checkedEntries++;
            if (checkedEntries % 4 == 0)
            {
                xas.Pause();
            }
        }

        return null;
    }

    private static List<Item> WalkAll(XArray<Item> xa, ulong start, bool pause)
    {
        var seen = new List<Item>();
        var xas = new XaState<Item>(xa, start);
        for (var e = xas.Find(ulong.MaxValue); e is not null; e = xas.Find(ulong.MaxValue))
        {
            seen.Add(e);
            Assert.True(seen.Count <= 64, "the walk visits an entry twice");
            if (pause)
            {
                xas.Pause();
            }
        }

        return seen;
    }

    private sealed record Item(ulong Id);
}
