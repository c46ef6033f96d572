using System.Globalization;
using System.Text;
using Writeback.Kernel;
using Writeback.Lib;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Lib;

/// <summary>Unit tests for node allocation in <see cref="XArray{T}"/> and <see cref="XaState{T}"/>:
/// allocation fault injection (<see cref="XArray{T}.AllocationFault"/>), the cursor's
/// <see cref="Errno.ENOMEM"/> and <see cref="XaState{T}.Nomem"/> retry loop, the normal API's
/// internal drop-the-lock-and-allocate retry, the <c>…Locked</c> variants' lock requirement, and
/// how the lock is dropped for the blocking allocation according to the array's lock type, checked
/// on a simulated machine with lockdep. Re-expresses lib/test_xarray.c's check_xa_err (a
/// GFP_NOWAIT store of a new index fails with -ENOMEM, a store that needs no node succeeds) and
/// the xa_store_order() helper's lock/store/unlock/xas_nomem() loop.</summary>
public class XArrayAllocationTests
{
    /// <summary>A guard against an allocation loop that never converges: far more calls than any
    /// store here needs.</summary>
    private const int CallLimit = 10_000;

    // ---------------- cursor stores that cannot allocate ----------------

    [Fact]
    public void CursorStore_WhenTheNonBlockingAllocationFails_SetsEnomemAndChangesNothing()
    {
        var xa = New(6);
        var calls = InjectFaults(xa, nonBlocking: true, blocking: true);
        var xas = new XaState<Item>(xa, 5);

        Assert.Null(StoreUnderLock(xa, xas, new Item(5)));

        Assert.Equal(Errno.ENOMEM, xas.Error);
        Assert.Equal(5UL, xas.Index);
        Assert.Equal([false], calls);
        xa.AssertInvariants();
        Assert.True(xa.IsEmpty);
        Assert.Equal(0, xa.NodeCount);
        Assert.Null(xa.Load(5));
    }

    [Fact]
    public void CursorStore_Enomem_WithAMarkedEntryInTheHead_LeavesItInTheHeadWithItsMarks()
    {
        var xa = New(2);
        var zero = new Item(0);
        xa.Store(0, zero);
        xa.SetMark(0, XaMark.Mark1);
        var before = Describe(xa);
        InjectFaults(xa, nonBlocking: true, blocking: true);
        var xas = new XaState<Item>(xa, 1UL << 30);

        StoreUnderLock(xa, xas, new Item(1));

        AssertEnomemAndUnchanged(xa, xas, before);
        Assert.Equal(0, xa.NodeCount);
        Assert.Same(zero, xa.Load(0));
        Assert.True(xa.GetMark(0, XaMark.Mark1));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(9)]
    [InlineData(10)]
    [InlineData(11)]
    [InlineData(15)]
    [InlineData(19)]
    public void CursorStore_FailingMidwayThroughGrowingATree_LeavesTheTreeAsBefore(int succeedingAllocations)
    {
        // Chunk shift 2: a one-leaf tree (0..3) grows ten levels on top for 1 << 20, and ten
        // nodes below the new top lead down to the index: twenty nodes.
        var xa = New(2);
        StoreItems(xa, 1, 3);
        xa.SetMark(2, XaMark.Mark2);
        var before = Describe(xa);
        var calls = 0;
        xa.AllocationFault = _ => ++calls > succeedingAllocations;
        var xas = new XaState<Item>(xa, 1UL << 20);

        Assert.Null(StoreUnderLock(xa, xas, new Item(1UL << 20)));

        AssertEnomemAndUnchanged(xa, xas, before);
        Assert.Null(xa.Load(1UL << 20));
    }

    [Fact]
    public void CursorStore_DeepStore_MakesOneNonBlockingAllocationPerNodeItAdds()
    {
        var xa = New(2);
        xa.Store(1, new Item(1));
        var nodesBefore = xa.NodeCount;
        var calls = InjectFaults(xa, nonBlocking: false, blocking: false);
        var xas = new XaState<Item>(xa, 1UL << 20);

        StoreUnderLock(xa, xas, new Item(1UL << 20));

        Assert.Equal(Errno.None, xas.Error);
        xa.AssertInvariants();
        Assert.Equal(xa.NodeCount - nodesBefore, calls.Count);
        Assert.All(calls, mayBlock => Assert.False(mayBlock));
    }

    [Fact]
    public void CursorStore_ThatNeedsNoNewNode_SucceedsWithoutAllocating()
    {
        var xa = New(6);
        xa.Store(1, new Item(1));
        var calls = InjectFaults(xa, nonBlocking: true, blocking: true);
        var xas = new XaState<Item>(xa, 2);
        var e = new Item(2);

        Assert.Null(StoreUnderLock(xa, xas, e));

        Assert.Equal(Errno.None, xas.Error);
        Assert.Empty(calls);
        Assert.Same(e, xa.Load(2));
    }

    // ---------------- the lock/store/unlock/Nomem loop ----------------

    [Fact]
    public void NomemLoop_SingleNodeStore_SucceedsAfterOneBlockingAllocation()
    {
        var xa = New(6);
        var calls = InjectFaults(xa, nonBlocking: true, blocking: false);
        var e = new Item(5);

        var (retries, error) = StoreWithNomemLoop(xa, new XaState<Item>(xa, 5), e);

        AssertStored(xa, error, 5, e);
        Assert.Equal(1, retries);
        Assert.Equal([false, true], calls);
    }

    [Fact]
    public void NomemLoop_DeepFirstStore_RetriesOncePerFailedNonBlockingAllocation()
    {
        // Chunk shift 2, index 2^40: 21 levels. The first three non-blocking allocations fail;
        // each failure costs one retry with one blocking allocation, as in the kernel's loop.
        var xa = New(2);
        var calls = new List<bool>();
        var nonBlockingCalls = 0;
        xa.AllocationFault = mayBlock =>
        {
            calls.Add(mayBlock);
            return !mayBlock && ++nonBlockingCalls <= 3;
        };
        var e = new Item(1);

        var (retries, error) = StoreWithNomemLoop(xa, new XaState<Item>(xa, 1UL << 40), e);

        AssertStored(xa, error, 1UL << 40, e);
        Assert.Equal(3, retries);
        Assert.Equal(3, calls.Count(mayBlock => mayBlock));
        Assert.Equal(21, xa.Height);
        Assert.Equal(21, xa.NodeCount);
    }

    [Fact]
    public void NomemLoop_DeepFirstStore_SucceedsWhenOnlyNonBlockingAllocationsFail()
    {
        // Chunk shift 2, index 2^40: 21 levels. The kernel's loop gets one node per retry.
        var xa = New(2);
        var calls = InjectFaults(xa, nonBlocking: true, blocking: false);
        var e = new Item(1);

        var (retries, error) = StoreWithNomemLoop(xa, new XaState<Item>(xa, 1UL << 40), e);

        AssertStored(xa, error, 1UL << 40, e);
        Assert.True(retries > 1, "a deep store needs several retries");
        Assert.Equal(xa.NodeCount, calls.Count(mayBlock => mayBlock));
    }

    [Fact]
    public void NomemLoop_GrowingAnExistingTree_SucceedsWhenOnlyNonBlockingAllocationsFail()
    {
        var xa = New(2);
        xa.Store(1, new Item(1));
        var nodesBefore = xa.NodeCount;
        var calls = InjectFaults(xa, nonBlocking: true, blocking: false);
        var e = new Item(2);

        var (_, error) = StoreWithNomemLoop(xa, new XaState<Item>(xa, 1UL << 20), e);

        AssertStored(xa, error, 1UL << 20, e);
        Assert.Equal(xa.NodeCount - nodesBefore, calls.Count(mayBlock => mayBlock));
    }

    [Fact]
    public void NomemLoop_DeepFirstStore_SucceedsWhenNonBlockingAllocationsFailOnlyOnce()
    {
        var xa = New(2);
        var calls = new List<bool>();
        xa.AllocationFault = mayBlock =>
        {
            calls.Add(mayBlock);
            return calls.Count == 1;
        };
        var e = new Item(1);

        var (retries, error) = StoreWithNomemLoop(xa, new XaState<Item>(xa, 1UL << 40), e);

        AssertStored(xa, error, 1UL << 40, e);
        Assert.Equal(1, retries);
        Assert.Equal(21, xa.Height);
    }

    [Fact]
    public void NomemLoop_WhenBlockingAllocationsFailToo_NomemReturnsFalseAndTheErrorStays()
    {
        var xa = New(6);
        xa.Store(0, new Item(0));
        var before = Describe(xa);
        var calls = InjectFaults(xa, nonBlocking: true, blocking: true);
        var xas = new XaState<Item>(xa, 5000);

        var (retries, error) = StoreWithNomemLoop(xa, xas, new Item(5000));

        Assert.Equal(0, retries);
        Assert.Equal(Errno.ENOMEM, error);
        Assert.Equal([false, true], calls);
        AssertEnomemAndUnchanged(xa, xas, before);
    }

    [Fact]
    public void Nomem_WithoutAnError_ReturnsFalseWithoutAllocating()
    {
        var xa = New(6);
        var calls = InjectFaults(xa, nonBlocking: false, blocking: false);
        var xas = new XaState<Item>(xa, 5);

        Assert.False(xas.Nomem());
        StoreUnderLock(xa, xas, new Item(5));
        calls.Clear();
        Assert.False(xas.Nomem());

        Assert.Empty(calls);
        Assert.Equal(Errno.None, xas.Error);
    }

    [Fact]
    public void Nomem_AfterEnomem_ClearsTheErrorAndRestartsTheCursor()
    {
        var xa = New(6);
        InjectFaults(xa, nonBlocking: true, blocking: false);
        var xas = CursorAfterAFailedStore(xa, 5);
        Assert.Equal(Errno.ENOMEM, xas.Error);

        Assert.True(xas.Nomem());

        Assert.Equal(Errno.None, xas.Error);
        Assert.True(xas.IsRestart);
        Assert.Equal(5UL, xas.Index);
    }

    [Fact]
    public void Nomem_PreallocatedNode_IsUsedByTheRetryWithoutAnotherAllocation()
    {
        var xa = New(6);
        var calls = InjectFaults(xa, nonBlocking: true, blocking: false);
        var xas = CursorAfterAFailedStore(xa, 5);
        Assert.True(xas.Nomem());

        StoreUnderLock(xa, xas, new Item(5));

        Assert.Equal(Errno.None, xas.Error);
        Assert.Equal([false, true], calls);
        Assert.Equal(1, xa.NodeCount);
    }

    [Fact]
    public void Nomem_WithoutAnError_ForgetsThePreallocatedNode()
    {
        var xa = New(6);
        var calls = InjectFaults(xa, nonBlocking: true, blocking: false);
        var xas = CursorAfterAFailedStore(xa, 5);
        Assert.True(xas.Nomem());

        Assert.False(xas.Nomem());
        StoreUnderLock(xa, xas, new Item(5));

        Assert.Equal(Errno.ENOMEM, xas.Error);
        Assert.Equal([false, true, false], calls);
        Assert.True(xa.IsEmpty);
    }

    [Fact]
    public void CheckXaErr_StoresThatNeedNoNodeSucceedAndANonBlockingStoreOfANewIndexFails()
    {
        // check_xa_err: with GFP_NOWAIT failing, index 0 (held in the head) stores and erases;
        // index 1 (needs a node) fails with -ENOMEM every time; with memory it works.
        var xa = New(6);
        var calls = InjectFaults(xa, nonBlocking: true, blocking: true);
        var xas = new XaState<Item>(xa, 0);
        var zero = new Item(0);

        UnderLockThenCheckInvariants(xa, () =>
        {
            Assert.Null(xas.Store(zero));
            Assert.Equal(Errno.None, xas.Error);
            Assert.Same(zero, xas.Store(null));
            Assert.Equal(Errno.None, xas.Error);
            for (var attempt = 0; attempt < 2; attempt++)
            {
                xas.Set(1);
                xas.Store(new Item(1));
                Assert.Equal(Errno.ENOMEM, xas.Error);
            }
        });

        Assert.Equal([false, false], calls);
        Assert.True(xa.IsEmpty);

        xa.AllocationFault = null;
        var one = new Item(1);
        Assert.Null(xa.Store(1, one));
        Assert.Same(one, xa.StoreValue(1, 0));
        Assert.Null(xa.Erase(1));
        xa.AssertInvariants();
        Assert.True(xa.IsEmpty);
    }

    // ---------------- the normal API under fault injection ----------------

    [Theory]
    [InlineData(XaLockType.Plain)]
    [InlineData(XaLockType.Bh)]
    [InlineData(XaLockType.Irq)]
    [InlineData(XaLockType.IrqSave)]
    public void Store_AfterAFailedNonBlockingAllocation_AllocatesBlockingAndSucceeds(XaLockType lockType)
    {
        var xa = new XArray<Item>(LockClassKey.ForName("xa_alloc_test"), lockType);
        var calls = InjectFaults(xa, nonBlocking: true, blocking: false);
        var e = new Item(50);

        Assert.Null(xa.Store(50, e));

        AssertTriedNonBlockingThenBlockingAndUnlocked(xa, calls);
        Assert.Same(e, xa.Load(50));
    }

    [Fact]
    public void Insert_AfterAFailedNonBlockingAllocation_AllocatesBlockingAndSucceeds()
    {
        var xa = New(6);
        var calls = InjectFaults(xa, nonBlocking: true, blocking: false);
        var e = new Item(50);

        Assert.True(xa.Insert(50, e));

        AssertTriedNonBlockingThenBlockingAndUnlocked(xa, calls);
        Assert.Same(e, xa.Load(50));
    }

    [Fact]
    public void StoreRange_AfterAFailedNonBlockingAllocation_AllocatesBlockingAndSucceeds()
    {
        var xa = New(6);
        var calls = InjectFaults(xa, nonBlocking: true, blocking: false);
        var e = new Item(64);

        Assert.Null(xa.StoreRange(64, 127, e));

        AssertTriedNonBlockingThenBlockingAndUnlocked(xa, calls);
        Assert.Same(e, xa.Load(64));
        Assert.Same(e, xa.Load(127));
        Assert.Null(xa.Load(128));
        Assert.Equal(6, xa.GetOrder(100));
    }

    [Fact]
    public void Store_WhenTheNonBlockingAllocationFailsOnce_DeepStoreSucceeds()
    {
        var xa = New(2);
        xa.Store(1, new Item(1));
        var calls = new List<bool>();
        xa.AllocationFault = mayBlock =>
        {
            calls.Add(mayBlock);
            return calls.Count == 1;
        };
        var e = new Item(2);

        Assert.Null(xa.Store(1UL << 30, e));

        Assert.Equal([false, true], calls.Take(2));
        xa.AssertInvariants();
        Assert.Same(e, xa.Load(1UL << 30));
    }

    [Fact]
    public void Store_TwoLevelFirstStoreWhenEveryNonBlockingAllocationFails_Succeeds()
    {
        // An empty 64-slot array: index 1000 needs a top node (expansion) and a leaf below it.
        var xa = new XArray<Item>();
        var calls = InjectFaults(xa, nonBlocking: true, blocking: false);
        var e = new Item(1);

        Assert.Null(xa.Store(1000, e));

        xa.AssertInvariants();
        Assert.Same(e, xa.Load(1000));
        Assert.Equal(2, calls.Count(mayBlock => mayBlock));
    }

    [Theory]
    [InlineData("Store")]
    [InlineData("StoreValue")]
    [InlineData("Insert")]
    [InlineData("StoreRange")]
    [InlineData("CmpXchg")]
    [InlineData("Reserve")]
    public void NormalApi_WhenTheBlockingAllocationFailsToo_ThrowsAndLeavesTheArrayUnchanged(string operation)
    {
        var xa = New(2);
        StoreItems(xa, 0, 3);
        xa.SetMark(3, XaMark.Mark0);
        var before = Describe(xa);
        var calls = InjectFaults(xa, nonBlocking: true, blocking: true);
        const ulong Far = 1UL << 20;

        Assert.Throws<InsufficientMemoryException>(() => Apply(xa, operation, Far));

        AssertTriedNonBlockingThenBlockingAndUnlocked(xa, calls);
        Assert.Equal(before, Describe(xa));
    }

    [Fact]
    public void Store_OverAnExistingEntry_NeedsNoAllocation()
    {
        var xa = New(2);
        xa.Store(1000, new Item(1));
        var calls = InjectFaults(xa, nonBlocking: true, blocking: true);
        var e = new Item(2);

        xa.Store(1000, e);
        xa.Erase(1000);

        Assert.Empty(calls);
        xa.AssertInvariants();
        Assert.True(xa.IsEmpty);
    }

    // ---------------- the …Locked variants ----------------

    [Theory]
    [InlineData("StoreLocked")]
    [InlineData("EraseLocked")]
    [InlineData("InsertLocked")]
    [InlineData("CmpXchgLocked")]
    [InlineData("SetMarkLocked")]
    [InlineData("ClearMarkLocked")]
    public void LockedVariant_WithoutTheLock_ThrowsKernelBugAndChangesNothing(string operation)
    {
        var xa = New(6);
        var e = new Item(7);
        xa.Store(7, e);
        xa.SetMark(7, XaMark.Mark1);
        var before = Describe(xa);

        Assert.Throws<KernelBugException>(() => ApplyLocked(xa, operation, 7));

        AssertUnchanged(xa, before);
    }

    [Fact]
    public void StoreLocked_UnderTheLock_StoresAndReturnsTheOldEntry()
    {
        var xa = New(6);
        var a = new Item(1);
        var b = new Item(2);

        UnderLockThenCheckInvariants(xa, () =>
        {
            Assert.Null(xa.StoreLocked(300, a));
            Assert.Same(a, xa.StoreLocked(300, b));
            Assert.True(xa.Lock.IsLocked);
        });

        Assert.Same(b, xa.Load(300));
    }

    [Fact]
    public void EraseLocked_UnderTheLock_ErasesAndReturnsTheEntry()
    {
        var xa = New(6);
        var a = new Item(1);
        xa.Store(300, a);

        UnderLockThenCheckInvariants(xa, () =>
        {
            Assert.Same(a, xa.EraseLocked(300));
            Assert.Null(xa.EraseLocked(300));
        });

        Assert.True(xa.IsEmpty);
    }

    [Fact]
    public void InsertLocked_UnderTheLock_InsertsOnlyIntoAnEmptyIndex()
    {
        var xa = New(6);
        var a = new Item(1);

        UnderLockThenCheckInvariants(xa, () =>
        {
            Assert.True(xa.InsertLocked(300, a));
            Assert.False(xa.InsertLocked(300, new Item(2)));
        });

        Assert.Same(a, xa.Load(300));
    }

    [Fact]
    public void CmpXchgLocked_UnderTheLock_ReplacesOnlyTheExpectedEntry()
    {
        var xa = New(6);
        var a = new Item(1);
        var b = new Item(2);
        xa.Store(300, a);

        UnderLockThenCheckInvariants(xa, () =>
        {
            Assert.Same(a, xa.CmpXchgLocked(300, b, new Item(3)));
            Assert.Same(a, xa.CmpXchgLocked(300, a, b));
        });

        Assert.Same(b, xa.Load(300));
    }

    [Fact]
    public void SetMarkLockedAndClearMarkLocked_UnderTheLock_SetAndClearTheMark()
    {
        var xa = New(6);
        xa.Store(300, new Item(1));

        UnderLockThenCheckInvariants(xa, () => xa.SetMarkLocked(300, XaMark.Mark2));
        Assert.True(xa.GetMark(300, XaMark.Mark2));

        UnderLockThenCheckInvariants(xa, () => xa.ClearMarkLocked(300, XaMark.Mark2));
        Assert.False(xa.GetMark(300, XaMark.Mark2));
    }

    [Fact]
    public void StoreLocked_AfterAFailedNonBlockingAllocation_ReturnsWithTheLockHeldAgain()
    {
        var xa = New(6);
        var calls = InjectFaults(xa, nonBlocking: true, blocking: false);
        var e = new Item(1);

        UnderLockThenCheckInvariants(xa, () =>
        {
            Assert.Null(xa.StoreLocked(50, e));
            Assert.True(xa.Lock.IsLocked);
        });

        Assert.Equal([false, true], calls);
        Assert.Same(e, xa.Load(50));
    }

    [Fact]
    public void StoreLocked_WhenTheBlockingAllocationFailsToo_ThrowsWithTheLockHeldAgain()
    {
        var xa = New(6);
        InjectFaults(xa, nonBlocking: true, blocking: true);

        UnderLockThenCheckInvariants(xa, () =>
        {
            Assert.Throws<InsufficientMemoryException>(() => xa.StoreLocked(50, new Item(1)));
            Assert.True(xa.Lock.IsLocked);
        });

        Assert.True(xa.IsEmpty);
    }

    // ---------------- dropping the lock on a machine ----------------

    [Fact]
    public void StoreLocked_IrqLockHeldWithLockIrq_DropsItByUnlockIrqToAllocate_LockdepClean()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Fail);
        var xa = new XArray<Item>(LockClassKey.ForName("test_xa"), XaLockType.Irq);
        var irqsOffDuringBlockingAllocation = true;
        var calls = FailOnlyTheFirstNonBlockingAllocation(xa, mayBlock =>
        {
            if (mayBlock)
            {
                irqsOffDuringBlockingAllocation = Current.Cpu.IrqsDisabled;
            }
        });

        var e = new Item(1);

        var failure = MachineFixture.RunGuarded(m, () =>
        {
            xa.Lock.LockIrq();
            xa.StoreLocked(50, e);
            xa.Lock.UnlockIrq();
        });

        AssertRanCleanAndStoredAfterOneRetry(m, failure, xa, calls, e);
        Assert.False(irqsOffDuringBlockingAllocation);
        xa.AssertInvariants();
    }

    [Fact]
    public void StoreLocked_BhLockHeldWithLockBh_DropsItByUnlockBhToAllocate_LockdepClean()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Fail);
        var xa = new XArray<Item>(LockClassKey.ForName("test_xa_bh"), XaLockType.Bh);
        var calls = FailOnlyTheFirstNonBlockingAllocation(xa);
        var e = new Item(1);

        var failure = MachineFixture.RunGuarded(m, () =>
        {
            xa.Lock.LockBh();
            xa.StoreLocked(50, e);
            xa.Lock.UnlockBh();
        });

        AssertRanCleanAndStoredAfterOneRetry(m, failure, xa, calls, e);
    }

    [Fact]
    public void StoreLocked_IrqSaveLockHeld_AllocatesWithInterruptsStillOff_ReportsSleepingFunctionFromInvalidContext()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        var xa = new XArray<Item>(LockClassKey.ForName("test_xa_irqsave"), XaLockType.IrqSave);
        var calls = FailOnlyTheFirstNonBlockingAllocation(xa);
        var e = new Item(1);

        var failure = MachineFixture.RunGuarded(m, () =>
        {
            var flags = xa.Lock.LockIrqSave();
            xa.StoreLocked(50, e);
            xa.Lock.UnlockIrqRestore(flags);
        });

        Assert.Null(failure);
        var report = MachineFixture.SingleReport(m, ReportKind.SleepInAtomic);
        Assert.Single(m.Reports);
        Assert.Contains("BUG: sleeping function called from invalid context at " + nameof(XArray<Item>.TryAllocateBlocking), report.Text, StringComparison.Ordinal);
        Assert.Contains("in_atomic(): 0, irqs_disabled(): 1", report.Text, StringComparison.Ordinal);
        Assert.Equal([false, true], calls);
        xa.AssertInvariants();
        Assert.Same(e, xa.Load(50));
    }

    [Fact]
    public void StoreLocked_IrqSaveLockHeld_InFailMode_StopsTheRunWithTheSleepingFunctionReport()
    {
        using var m = MachineFixture.Create(seed: 7, lockdep: LockdepMode.Fail);
        var xa = new XArray<Item>(LockClassKey.ForName("test_xa_irqsave"), XaLockType.IrqSave);
        var calls = 0;
        xa.AllocationFault = mayBlock => !mayBlock && ++calls == 1;

        var failure = MachineFixture.RunGuarded(m, () =>
        {
            var flags = xa.Lock.LockIrqSave();
            xa.StoreLocked(50, new Item(1));
            xa.Lock.UnlockIrqRestore(flags);
        });

        var ex = Assert.IsType<MachineFailedException>(failure);
        Assert.Contains("seed 7", ex.Message, StringComparison.Ordinal);
        Assert.Contains("BUG: sleeping function called from invalid context", ex.Message, StringComparison.Ordinal);
        Assert.Equal(ReportKind.SleepInAtomic, Assert.Single(m.Reports).Kind);
    }

    [Fact]
    public void Store_IrqSaveArrayFromProcessContext_RestoresInterruptsToAllocate_LockdepClean()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Fail);
        var xa = new XArray<Item>(LockClassKey.ForName("test_xa_irqsave_normal"), XaLockType.IrqSave);
        var calls = FailOnlyTheFirstNonBlockingAllocation(xa);
        var e = new Item(1);

        var failure = MachineFixture.RunGuarded(m, () => xa.Store(50, e));

        AssertRanCleanAndStoredAfterOneRetry(m, failure, xa, calls, e);
    }

    [Fact]
    public void NomemLoop_WithTheIrqLockDroppedBeforeNomem_IsLockdepClean()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Fail);
        var xa = new XArray<Item>(LockClassKey.ForName("test_xa"), XaLockType.Irq);
        var calls = new List<bool>();
        xa.AllocationFault = mayBlock =>
        {
            calls.Add(mayBlock);
            return !mayBlock;
        };
        var e = new Item(1);
        var error = Errno.EIO;

        var failure = MachineFixture.RunGuarded(m, () =>
        {
            var xas = new XaState<Item>(xa, 50);
            do
            {
                xa.Lock.LockIrq();
                xas.Store(e);
                xa.Lock.UnlockIrq();
            }
            while (xas.Nomem());

            error = xas.Error;
        });

        AssertRanCleanAndStoredAfterOneRetry(m, failure, xa, calls, e);
        Assert.Equal(Errno.None, error);
    }

    [Fact]
    public void Nomem_CalledWithTheLockHeld_ReportsSleepingFunctionFromInvalidContext()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        var xa = new XArray<Item>(LockClassKey.ForName("test_xa_nomem_locked"), XaLockType.Plain);
        xa.AllocationFault = mayBlock => !mayBlock;

        var failure = MachineFixture.RunGuarded(m, () =>
        {
            var xas = new XaState<Item>(xa, 1000);
            xa.Lock.Lock();
            xas.Store(new Item(1));
            xas.Nomem();
            xa.Lock.Unlock();
        });

        Assert.Null(failure);
        var report = MachineFixture.SingleReport(m, ReportKind.SleepInAtomic);
        Assert.Contains("in_atomic(): 1, irqs_disabled(): 0", report.Text, StringComparison.Ordinal);
        Assert.Contains("(test_xa_nomem_locked)", report.Text, StringComparison.Ordinal);
    }

    // ---------------- helpers ----------------

    private static XArray<Item> New(int shift) => new(shift);

    private static void StoreItems(XArray<Item> xa, ulong first, ulong last)
    {
        for (var i = first; i <= last; i++)
        {
            xa.Store(i, new Item(i));
        }
    }

    /// <summary>Installs a <see cref="Fail"/> hook on the array and returns its record of calls.</summary>
    private static List<bool> InjectFaults(XArray<Item> xa, bool nonBlocking, bool blocking)
    {
        var calls = new List<bool>();
        xa.AllocationFault = Fail(calls, nonBlocking, blocking);
        return calls;
    }

    /// <summary>Installs a hook that records each call (telling <paramref name="onCall"/> too) and
    /// fails only the first call, if it is non-blocking; returns the record of calls.</summary>
    private static List<bool> FailOnlyTheFirstNonBlockingAllocation(XArray<Item> xa, Action<bool>? onCall = null)
    {
        var calls = new List<bool>();
        xa.AllocationFault = mayBlock =>
        {
            calls.Add(mayBlock);
            onCall?.Invoke(mayBlock);
            return !mayBlock && calls.Count == 1;
        };
        return calls;
    }

    /// <summary>A fault hook that records each call and fails the kinds asked for; it throws if
    /// the calls exceed <see cref="CallLimit"/>, so that a retry loop that never converges fails
    /// the test instead of hanging it.</summary>
    private static Func<bool, bool> Fail(List<bool> calls, bool nonBlocking, bool blocking) => mayBlock =>
    {
        calls.Add(mayBlock);
        if (calls.Count > CallLimit)
        {
            throw new InvalidOperationException($"more than {CallLimit} allocation attempts: the retry loop does not converge");
        }

        return mayBlock ? blocking : nonBlocking;
    };

    /// <summary>One cursor store with the array's lock held around it; returns the old entry.</summary>
    private static Item? StoreUnderLock(XArray<Item> xa, XaState<Item> xas, Item? entry)
    {
        xa.Lock.Lock();
        try
        {
            return xas.Store(entry);
        }
        finally
        {
            xa.Lock.Unlock();
        }
    }

    /// <summary>Runs <paramref name="action"/> with the array's lock held, then checks the
    /// array's invariants.</summary>
    private static void UnderLockThenCheckInvariants(XArray<Item> xa, Action action)
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

        xa.AssertInvariants();
    }

    /// <summary>A cursor at <paramref name="index"/> after one store there under the lock (which
    /// the tests' fault hook makes fail with <see cref="Errno.ENOMEM"/>).</summary>
    private static XaState<Item> CursorAfterAFailedStore(XArray<Item> xa, ulong index)
    {
        var xas = new XaState<Item>(xa, index);
        StoreUnderLock(xa, xas, new Item(index));
        return xas;
    }

    /// <summary>The kernel's <c>do { lock; xas_store(); unlock; } while (xas_nomem())</c>; returns
    /// how many times Nomem asked for a retry and the cursor's final error.</summary>
    private static (int Retries, Errno Error) StoreWithNomemLoop(XArray<Item> xa, XaState<Item> xas, Item entry)
    {
        var retries = -1;
        do
        {
            retries++;
            StoreUnderLock(xa, xas, entry);
        }
        while (xas.Nomem());

        return (retries, xas.Error);
    }

    /// <summary>A store that ended without an error left a valid array holding
    /// <paramref name="entry"/> at <paramref name="index"/>.</summary>
    private static void AssertStored(XArray<Item> xa, Errno error, ulong index, Item entry)
    {
        Assert.Equal(Errno.None, error);
        xa.AssertInvariants();
        Assert.Same(entry, xa.Load(index));
    }

    /// <summary>The array is valid and <see cref="Describe"/> reads as <paramref name="before"/>.</summary>
    private static void AssertUnchanged(XArray<Item> xa, string before)
    {
        xa.AssertInvariants();
        Assert.Equal(before, Describe(xa));
    }

    private static void AssertEnomemAndUnchanged(XArray<Item> xa, XaState<Item> xas, string before)
    {
        Assert.Equal(Errno.ENOMEM, xas.Error);
        AssertUnchanged(xa, before);
    }

    /// <summary>One non-blocking attempt, then one blocking attempt, the lock released and the
    /// array valid.</summary>
    private static void AssertTriedNonBlockingThenBlockingAndUnlocked(XArray<Item> xa, List<bool> calls)
    {
        Assert.Equal([false, true], calls);
        Assert.False(xa.Lock.IsLocked);
        xa.AssertInvariants();
    }

    /// <summary>The machine ran to the end without a failure or a report, the allocation took one
    /// failed non-blocking attempt and one blocking one, and <paramref name="entry"/> is at 50.</summary>
    private static void AssertRanCleanAndStoredAfterOneRetry(Machine m, Exception? failure, XArray<Item> xa, List<bool> calls, Item entry)
    {
        Assert.Null(failure);
        MachineFixture.AssertClean(m);
        Assert.Equal([false, true], calls);
        Assert.Same(entry, xa.Load(50));
    }

    /// <summary>Everything observable about the array: each entry with its index, order and marks,
    /// the root marks, the node count and the height.</summary>
    private static string Describe(XArray<Item> xa)
    {
        var sb = new StringBuilder();
        foreach (var (index, entry) in xa.Entries())
        {
            sb.Append(CultureInfo.InvariantCulture, $"{index}:{entry.Id}/o{xa.GetOrder(index)}/");
            foreach (var mark in new[] { XaMark.Mark0, XaMark.Mark1, XaMark.Mark2 })
            {
                sb.Append(xa.GetMark(index, mark) ? '1' : '0');
            }

            sb.Append(' ');
        }

        sb.Append(CultureInfo.InvariantCulture, $"| marked {xa.Marked(XaMark.Mark0)},{xa.Marked(XaMark.Mark1)},{xa.Marked(XaMark.Mark2)} | nodes {xa.NodeCount} | height {xa.Height} | empty {xa.IsEmpty}");
        return sb.ToString();
    }

    private static void Apply(XArray<Item> xa, string operation, ulong index)
    {
        switch (operation)
        {
            case "Store":
                xa.Store(index, new Item(index));
                break;
            case "StoreValue":
                xa.StoreValue(index, 5);
                break;
            case "Insert":
                xa.Insert(index, new Item(index));
                break;
            case "StoreRange":
                xa.StoreRange(index, index + 15, new Item(index));
                break;
            case "CmpXchg":
                xa.CmpXchg(index, null, new Item(index));
                break;
            case "Reserve":
                xa.Reserve(index);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(operation), operation, "unknown operation");
        }
    }

    private static void ApplyLocked(XArray<Item> xa, string operation, ulong index)
    {
        switch (operation)
        {
            case "StoreLocked":
                xa.StoreLocked(index, new Item(99));
                break;
            case "EraseLocked":
                xa.EraseLocked(index);
                break;
            case "InsertLocked":
                xa.InsertLocked(index + 1, new Item(99));
                break;
            case "CmpXchgLocked":
                xa.CmpXchgLocked(index, xa.Load(index), new Item(99));
                break;
            case "SetMarkLocked":
                xa.SetMarkLocked(index, XaMark.Mark0);
                break;
            case "ClearMarkLocked":
                xa.ClearMarkLocked(index, XaMark.Mark1);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(operation), operation, "unknown operation");
        }
    }

    private sealed record Item(ulong Id);
}
