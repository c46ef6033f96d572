using System.Numerics;
using System.Runtime.CompilerServices;
using System.Threading;
using Writeback.Kernel;

namespace Writeback.Lib;

/// <summary>A sparse array indexed by <c>ulong</c>: a radix tree of 2^shift-slot nodes with
/// three marks per entry, lock-free readers and a kernel spinlock for writers.</summary>
/// <remarks>Kernel: struct xarray, lib/xarray.c. A single entry at index 0 lives in the head with
/// no node; the tree grows on demand and shrinks when its top node uses only slot 0; empty nodes
/// are freed upward. Marks propagate up while an ancestor lacks the bit and are cleared upward
/// while no sibling has it; a NULL entry never carries a mark. Readers (<see cref="Load"/>,
/// <see cref="Find"/>, iteration) take no lock: slots are published with release semantics,
/// detached nodes are never reused while referenced (the garbage collector plays RCU), and a
/// reader that meets a retry entry restarts. A multi-index entry (a large folio) covers an
/// aligned 2^order range: its canonical slot holds it and sibling slots point back to that slot,
/// so every covered index loads it, iteration sees it once and its marks live on the canonical
/// slot. Value entries (<see cref="StoreValue"/>) are integers held in place of an entry; the
/// typed API sees them as occupied slots that are not a <typeparamref name="T"/>. The advanced
/// cursor is <see cref="XaState{T}"/>. Node allocation can be failed on purpose
/// (<see cref="AllocationFault"/>) to exercise the kernel's allocate-with-the-lock-dropped retry.
/// Model: freed nodes are reclaimed by the garbage collector, not after an RCU grace period; the
/// workingset update callback, xa_alloc and splitting a multi-index entry are not modelled.</remarks>
public sealed partial class XArray<T>
    where T : class
{
    private static readonly LockClassKey s_defaultKey = LockClassKey.ForName("&xa->xa_lock");
    private readonly int _chunkShift;
    private readonly int _chunkSize;
    private readonly ulong _chunkMask;
    private readonly XaLockType _lockType;
    private object? _head;
    private int _rootMarks;

    /// <summary>Creates an empty array whose lock has the class <c>&amp;xa-&gt;xa_lock</c>, taken plain.</summary>
    public XArray() : this(s_defaultKey, XaLockType.Plain)
    {
    }

    /// <summary>Creates an empty array whose lock has the owner's class and flavour.</summary>
    public XArray(LockClassKey lockClass, XaLockType lockType) : this(lockClass, lockType, 6)
    {
    }

    /// <summary>Creates an array with 2^<paramref name="chunkShift"/>-slot nodes (2 to 6), for tests that want deep trees at small indexes.</summary>
    internal XArray(int chunkShift) : this(s_defaultKey, XaLockType.Plain, chunkShift)
    {
    }

    private XArray(LockClassKey lockClass, XaLockType lockType, int chunkShift)
    {
        ArgumentNullException.ThrowIfNull(lockClass);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkShift, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(chunkShift, 6);
        _chunkShift = chunkShift;
        _chunkSize = 1 << chunkShift;
        _chunkMask = (ulong)_chunkSize - 1;
        _lockType = lockType;
        Lock = new Writeback.Kernel.SpinLock(lockClass);
    }

    /// <summary>The array's lock (xa_lock), for owners that batch operations under it.</summary>
    public Writeback.Kernel.SpinLock Lock { get; }

    /// <summary>True when the array holds nothing (xa_empty()).</summary>
    public bool IsEmpty => Volatile.Read(ref _head) is null;

    // ---------------- readers: no lock ----------------

    /// <summary>The entry at <paramref name="index"/>, or null.</summary>
    /// <remarks>Kernel: xa_load(). Context: Any context. Takes no lock (RCU read side).</remarks>
    public T? Load(ulong index)
    {
        var mask = _chunkMask;
        var chunkShift = _chunkShift;
        while (true)
        {
            var entry = Volatile.Read(ref _head);
            if (entry is not XaNode node)
            {
                return index == 0 && entry is not XaInternal ? Unsafe.As<T>(entry) : null;
            }

            if (index > node.MaxIndex)
            {
                return null;
            }

            // Each level's shift is the one above less a chunk, so the walk never waits for a
            // node's header before it can address the node's slot: one dependent load per level.
            var shift = node.Shift;
            while (true)
            {
                // The slot number is masked below the chunk size, which is the array's length:
                // the bounds check can go.
                ref var slots = ref Unsafe.As<XaSlots, object?>(ref node.Slots);
                var e = Volatile.Read(ref Unsafe.Add(ref slots, (int)((index >> shift) & mask)));
                if (shift != 0 && e is XaNode child)
                {
                    node = child;
                    shift -= chunkShift;
                    continue;
                }

                if (e is XaInternal internalEntry)
                {
                    if (internalEntry.IsSibling)
                    {
                        // A covered slot of a multi-index entry: the entry is in its canonical slot.
                        e = Volatile.Read(ref Unsafe.Add(ref slots, internalEntry.SiblingOffset));
                        if (e is XaNode)
                        {
                            // The entry went and a smaller one's node took its slot while we
                            // hopped: the walk starts again from the head.
                            break;
                        }

                        if (e is not XaInternal)
                        {
                            return Unsafe.As<T>(e);
                        }
                    }

                    if (ReferenceEquals(e, XaInternal.Retry))
                    {
                        break;
                    }

                    return null;
                }

                // Only entries of type T, nodes and internal entries are ever stored, and a leaf
                // never holds a node, so this skips the generic cast that shared code would pay for.
                return Unsafe.As<T>(e);
            }
        }
    }

    /// <summary>Whether the entry covering <paramref name="index"/> has <paramref name="mark"/>.</summary>
    /// <remarks>Kernel: xa_get_mark(). Context: Any context. Takes no lock.</remarks>
    public bool GetMark(ulong index, XaMark mark) =>
        Locate(index, out var node, out var slot) is not null && SlotMarked(node, slot, (int)mark);

    /// <summary>The order of the entry covering <paramref name="index"/>: 0 for a single-index entry or nothing.</summary>
    /// <remarks>Kernel: xa_get_order(): the node's shift plus the sibling slots that follow the
    /// canonical slot, counted in powers of two. Context: Any context. Takes no lock.</remarks>
    public int GetOrder(ulong index)
    {
        if (Locate(index, out var node, out var slot) is null || node is null)
        {
            return 0;
        }

        var order = 0;
        for (var next = slot + 1; next < _chunkSize && ReferenceEquals(Volatile.Read(ref node.Slots[next]), XaInternal.Sibling(slot)); next = slot + (1 << order))
        {
            order++;
        }

        return order + node.Shift;
    }

    /// <summary>The integer of the value entry covering <paramref name="index"/>, if it holds one.</summary>
    /// <remarks>Kernel: xa_load() then xa_is_value()/xa_to_value(). Context: Any context. Takes no lock.</remarks>
    public bool TryLoadValue(ulong index, out ulong value)
    {
        if (Locate(index, out _, out _) is XaInternal { IsValue: true } v)
        {
            value = v.Payload;
            return true;
        }

        value = 0;
        return false;
    }

    /// <summary>Whether any entry has <paramref name="mark"/>.</summary>
    /// <remarks>Kernel: xa_marked(). Context: Any context.</remarks>
    public bool Marked(XaMark mark) => RootMarked(mark);

    /// <summary>The first entry at or after <paramref name="index"/> and not beyond <paramref name="max"/>; <paramref name="index"/> is set to where it was found.</summary>
    /// <remarks>Kernel: xa_find(). Context: Any context. Takes no lock.</remarks>
    public T? Find(ref ulong index, ulong max) => FindTyped(ref index, max, -1);

    /// <summary>The first entry with <paramref name="mark"/> at or after <paramref name="index"/> and not beyond <paramref name="max"/>.</summary>
    /// <remarks>Kernel: xa_find() with a mark. Context: Any context. Takes no lock.</remarks>
    public T? FindMarked(ref ulong index, ulong max, XaMark mark) => FindTyped(ref index, max, (int)mark);

    /// <summary>Every entry from <paramref name="start"/> to <paramref name="max"/>, ascending.</summary>
    /// <remarks>Kernel: xa_for_each_range(). Context: Any context. Takes no lock; entries stored
    /// or erased meanwhile may or may not be seen, as in the kernel.</remarks>
    public IEnumerable<(ulong Index, T Entry)> Entries(ulong start = 0, ulong max = ulong.MaxValue) => Iterate(start, max, -1);

    /// <summary>Every entry with <paramref name="mark"/> from <paramref name="start"/> to <paramref name="max"/>, ascending.</summary>
    /// <remarks>Kernel: xa_for_each_marked(). Context: Any context. Takes no lock.</remarks>
    public IEnumerable<(ulong Index, T Entry)> EntriesMarked(XaMark mark, ulong start = 0, ulong max = ulong.MaxValue) => Iterate(start, max, (int)mark);

    /// <summary>Fault injection for node allocations: called before each one the preallocation
    /// does not cover; returning true fails it with -ENOMEM. Its argument says whether the
    /// allocation may block (made with the lock dropped, GFP_KERNEL) or not (under the lock,
    /// GFP_NOWAIT). A failed non-blocking allocation makes the normal API drop the lock, allocate
    /// blocking and retry; a failed blocking one throws <see cref="InsufficientMemoryException"/>.</summary>
    public Func<bool, bool>? AllocationFault { get; set; }


    // ---------------- writers: the normal API takes the lock ----------------

    /// <summary>Stores <paramref name="entry"/> at <paramref name="index"/> and returns what was
    /// there; storing null erases. Inside a multi-index entry, replaces that entry over its range.</summary>
    /// <remarks>Kernel: xa_store(). Context: Any context the lock type allows; may sleep to allocate
    /// (with the lock dropped) when an allocation under the lock failed. Takes and releases the xa_lock.</remarks>
    public T? Store(ulong index, T? entry)
    {
        var flags = TakeLock();
        try
        {
            return StoreHeld(index, 0, entry, ownLock: true, ref flags) as T;
        }
        finally
        {
            DropLock(flags);
        }
    }

    /// <summary><see cref="Store"/> for a caller that holds <see cref="Lock"/>.</summary>
    /// <remarks>Kernel: __xa_store(). Context: Caller holds the xa_lock; it may be dropped and
    /// retaken (by the array's lock type) to allocate.</remarks>
    public T? StoreLocked(ulong index, T? entry)
    {
        Lock.AssertHeld();
        var flags = default(IrqFlags);
        return StoreHeld(index, 0, entry, ownLock: false, ref flags) as T;
    }

    /// <summary>Stores <paramref name="entry"/> over every index in [<paramref name="first"/>,
    /// <paramref name="last"/>] as the fewest aligned multi-index entries that cover exactly that
    /// range (null erases every entry overlapping it); returns what covered <paramref name="first"/> before.</summary>
    /// <remarks>Kernel: xa_store_range(). Model: the kernel may use a run of sibling slots of any
    /// length in one node; here every piece is an aligned power-of-two entry, so
    /// <see cref="GetOrder"/> is exact for each. As in the kernel, a piece stored inside an
    /// existing larger entry replaces that entry over its whole range. Context: as <see cref="Store"/>.</remarks>
    public T? StoreRange(ulong first, ulong last, T? entry)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(first, last);
        var flags = TakeLock();
        try
        {
            var previous = Locate(first, out _, out _) as T;
            if (entry is null)
            {
                EraseRange(first, last);
                return previous;
            }

            var at = first;
            while (true)
            {
                var order = at == 0 ? 63 : BitOperations.TrailingZeroCount(at);
                while (order > 0 && last - at < (1UL << order) - 1)
                {
                    order--;
                }

                StoreHeld(at, order, entry, ownLock: true, ref flags);
                var end = at + ((1UL << order) - 1);
                if (end >= last)
                {
                    return previous;
                }

                at = end + 1;
            }
        }
        finally
        {
            DropLock(flags);
        }
    }

    /// <summary>Stores the value entry <paramref name="value"/> at <paramref name="index"/> and
    /// returns the entry of type <typeparamref name="T"/> that was there, if any.</summary>
    /// <remarks>Kernel: xa_store(xa, index, xa_mk_value(value)): a value is a non-negative long.
    /// Context: as <see cref="Store"/>.</remarks>
    public T? StoreValue(ulong index, ulong value)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(value, (ulong)long.MaxValue);
        var flags = TakeLock();
        try
        {
            return StoreHeld(index, 0, XaInternal.Value(value), ownLock: true, ref flags) as T;
        }
        finally
        {
            DropLock(flags);
        }
    }

    /// <summary>Erases the entry covering <paramref name="index"/> (all of a multi-index entry) and returns it.</summary>
    /// <remarks>Kernel: xa_erase(). Context: Any context the lock type allows. Takes and releases the xa_lock.</remarks>
    public T? Erase(ulong index)
    {
        var flags = TakeLock();
        try
        {
            return EraseEntry(index) as T;
        }
        finally
        {
            DropLock(flags);
        }
    }

    /// <summary><see cref="Erase"/> for a caller that holds <see cref="Lock"/>.</summary>
    /// <remarks>Kernel: __xa_erase(). Context: Caller holds the xa_lock.</remarks>
    public T? EraseLocked(ulong index)
    {
        Lock.AssertHeld();
        return EraseEntry(index) as T;
    }

    /// <summary>Stores <paramref name="entry"/> only if <paramref name="index"/> is empty (not even reserved).</summary>
    /// <remarks>Kernel: xa_insert() (false for -EBUSY). Context: as <see cref="Store"/>.</remarks>
    public bool Insert(ulong index, T entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var flags = TakeLock();
        try
        {
            return InsertHeld(index, entry, ownLock: true, ref flags);
        }
        finally
        {
            DropLock(flags);
        }
    }

    /// <summary><see cref="Insert"/> for a caller that holds <see cref="Lock"/>.</summary>
    /// <remarks>Kernel: __xa_insert(). Context: Caller holds the xa_lock; see <see cref="StoreLocked"/>.</remarks>
    public bool InsertLocked(ulong index, T entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        Lock.AssertHeld();
        var flags = default(IrqFlags);
        return InsertHeld(index, entry, ownLock: false, ref flags);
    }

    /// <summary>Replaces the entry at <paramref name="index"/> with <paramref name="entry"/> if it is
    /// <paramref name="old"/>, comparing the slot by reference (a reservation or a value matches
    /// nothing, not even null); returns what was there (null for a reservation or a value).</summary>
    /// <remarks>Kernel: xa_cmpxchg(). Context: as <see cref="Store"/>.</remarks>
    public T? CmpXchg(ulong index, T? old, T? entry)
    {
        var flags = TakeLock();
        try
        {
            return CmpXchgHeld(index, old, entry, ownLock: true, ref flags);
        }
        finally
        {
            DropLock(flags);
        }
    }

    /// <summary><see cref="CmpXchg"/> for a caller that holds <see cref="Lock"/>.</summary>
    /// <remarks>Kernel: __xa_cmpxchg(). Context: Caller holds the xa_lock; see <see cref="StoreLocked"/>.</remarks>
    public T? CmpXchgLocked(ulong index, T? old, T? entry)
    {
        Lock.AssertHeld();
        var flags = default(IrqFlags);
        return CmpXchgHeld(index, old, entry, ownLock: false, ref flags);
    }

    /// <summary>Reserves an empty index: loads see null, inserts fail, iteration skips it.</summary>
    /// <remarks>Kernel: xa_reserve(). Context: as <see cref="Store"/>.</remarks>
    public void Reserve(ulong index)
    {
        var flags = TakeLock();
        try
        {
            if (Locate(index, out _, out _) is null)
            {
                StoreHeld(index, 0, XaInternal.Zero, ownLock: true, ref flags);
            }
        }
        finally
        {
            DropLock(flags);
        }
    }

    /// <summary>Frees a reservation that was not used.</summary>
    /// <remarks>Kernel: xa_release(). Context: as <see cref="Store"/>.</remarks>
    public void Release(ulong index)
    {
        var flags = TakeLock();
        try
        {
            if (ReferenceEquals(Locate(index, out _, out _), XaInternal.Zero))
            {
                EraseEntry(index);
            }
        }
        finally
        {
            DropLock(flags);
        }
    }

    /// <summary>Sets <paramref name="mark"/> on the entry (or reservation) covering <paramref name="index"/>; nothing if the slot is empty.</summary>
    /// <remarks>Kernel: xa_set_mark(). Context: as <see cref="Store"/>.</remarks>
    public void SetMark(ulong index, XaMark mark)
    {
        var flags = TakeLock();
        try
        {
            SetMarkCore(index, mark);
        }
        finally
        {
            DropLock(flags);
        }
    }

    /// <summary><see cref="SetMark"/> for a caller that holds <see cref="Lock"/>.</summary>
    /// <remarks>Kernel: __xa_set_mark(). Context: Caller holds the xa_lock.</remarks>
    public void SetMarkLocked(ulong index, XaMark mark)
    {
        Lock.AssertHeld();
        SetMarkCore(index, mark);
    }

    /// <summary>Clears <paramref name="mark"/> on the entry covering <paramref name="index"/>.</summary>
    /// <remarks>Kernel: xa_clear_mark(). Context: as <see cref="Store"/>.</remarks>
    public void ClearMark(ulong index, XaMark mark)
    {
        var flags = TakeLock();
        try
        {
            ClearMarkCore(index, mark);
        }
        finally
        {
            DropLock(flags);
        }
    }

    /// <summary><see cref="ClearMark"/> for a caller that holds <see cref="Lock"/>.</summary>
    /// <remarks>Kernel: __xa_clear_mark(). Context: Caller holds the xa_lock.</remarks>
    public void ClearMarkLocked(ulong index, XaMark mark)
    {
        Lock.AssertHeld();
        ClearMarkCore(index, mark);
    }

    /// <summary>Erases everything.</summary>
    /// <remarks>Kernel: xa_destroy(). Context: as <see cref="Store"/>.</remarks>
    public void Destroy()
    {
        var flags = TakeLock();
        try
        {
            if (Volatile.Read(ref _head) is XaNode top)
            {
                // Readers still inside the old tree restart and find it gone.
                RetireSubtree(top);
            }

            Volatile.Write(ref _head, null);
            _rootMarks = 0;
        }
        finally
        {
            DropLock(flags);
        }
    }

    // ---------------- shared bodies ----------------

    private T? FindTyped(ref ulong index, ulong max, int mark)
    {
        var at = index;
        var found = FindCore(ref at, max, mark, raw: false, out _, out _);
        if (found is not null)
        {
            index = at;
        }

        return Unsafe.As<T>(found);
    }

    /// <summary>Stores (or, for null, erases) under the lock, retrying after allocating with the
    /// lock dropped when a node could not be allocated under it: by the flavour the normal API
    /// took (<paramref name="ownLock"/>), or as __xas_nomem() does for a caller that holds it.</summary>
    internal object? StoreHeld(ulong index, int order, object? entry, bool ownLock, ref IrqFlags flags)
    {
        if (entry is null)
        {
            return EraseOrder(index, order);
        }

        var prealloc = 0;
        while (true)
        {
            var old = StoreEntry(index, order, entry, ref prealloc, out var nomem);
            if (!nomem)
            {
                return old;
            }

            if (!ownLock)
            {
                AllocateRelocking(ref prealloc);
                continue;
            }

            DropLock(flags);
            try
            {
                AllocateBlocking(ref prealloc);
            }
            finally
            {
                flags = TakeLock();
            }
        }
    }

    private bool InsertHeld(ulong index, T entry, bool ownLock, ref IrqFlags flags)
    {
        if (Locate(index, out _, out _) is not null)
        {
            return false;
        }

        StoreHeld(index, 0, entry, ownLock, ref flags);
        return true;
    }

    private T? CmpXchgHeld(ulong index, T? old, T? entry, bool ownLock, ref IrqFlags flags)
    {
        // The raw slot is compared: a reservation or a value is not null, so it only matches itself.
        var raw = Locate(index, out _, out _);
        if (ReferenceEquals(raw, old) && (entry is not null || raw is not null))
        {
            StoreHeld(index, 0, entry, ownLock, ref flags);
        }

        return raw as T;
    }
}
