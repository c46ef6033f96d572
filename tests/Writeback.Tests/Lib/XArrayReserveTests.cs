using Writeback.Lib;
using static Writeback.Tests.Lib.XArrayTestSupport;

namespace Writeback.Tests.Lib;

/// <summary>Unit tests for <see cref="XArray{T}"/> reservations, after the kernel's lib/test_xarray.c
/// check_reserve: a reserved index keeps the array non-empty but loads NULL, is busy for insert,
/// is skipped by iteration, and is freed by release, erase or a store of NULL.</summary>
public class XArrayReserveTests
{
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
}
