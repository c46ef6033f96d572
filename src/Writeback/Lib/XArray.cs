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
/// reader that meets a retry entry restarts. Model: multi-index entries, value entries and the
/// XaState cursor are not in this first version.</remarks>
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

            while (true)
            {
                // The slot number is masked below the chunk size, which is the array's length:
                // the bounds check can go.
                ref var slots = ref Unsafe.As<XaSlots, object?>(ref node.Slots);
                var e = Volatile.Read(ref Unsafe.Add(ref slots, (int)((index >> node.Shift) & mask)));
                if (e is XaNode child)
                {
                    node = child;
                    continue;
                }

                if (e is XaInternal)
                {
                    if (ReferenceEquals(e, XaInternal.Retry))
                    {
                        break;
                    }

                    return null;
                }

                // Only entries of type T, nodes and internal entries are ever stored, so this
                // skips the generic cast that shared generic code would otherwise pay for.
                return Unsafe.As<T>(e);
            }
        }
    }

    /// <summary>Whether the entry at <paramref name="index"/> has <paramref name="mark"/>.</summary>
    /// <remarks>Kernel: xa_get_mark(). Context: Any context. Takes no lock.</remarks>
    public bool GetMark(ulong index, XaMark mark)
    {
        var head = Volatile.Read(ref _head);
        if (head is not XaNode node)
        {
            return index == 0 && head is not null && RootMarked(mark);
        }

        if (index > MaxIndex(node))
        {
            return false;
        }

        while (true)
        {
            var off = SlotOf(node, index);
            if ((Volatile.Read(ref node.Marks[(int)mark]) & (1UL << off)) == 0)
            {
                return false;
            }

            if (Volatile.Read(ref node.Slots[off]) is XaNode child)
            {
                node = child;
                continue;
            }

            return true;
        }
    }

    /// <summary>Whether any entry has <paramref name="mark"/>.</summary>
    /// <remarks>Kernel: xa_marked(). Context: Any context.</remarks>
    public bool Marked(XaMark mark) => RootMarked(mark);

    /// <summary>The first entry at or after <paramref name="index"/> and not beyond <paramref name="max"/>; <paramref name="index"/> is set to where it was found.</summary>
    /// <remarks>Kernel: xa_find(). Context: Any context. Takes no lock.</remarks>
    public T? Find(ref ulong index, ulong max) => FindCore(ref index, max, -1);

    /// <summary>The first entry with <paramref name="mark"/> at or after <paramref name="index"/> and not beyond <paramref name="max"/>.</summary>
    /// <remarks>Kernel: xa_find() with a mark. Context: Any context. Takes no lock.</remarks>
    public T? FindMarked(ref ulong index, ulong max, XaMark mark) => FindCore(ref index, max, (int)mark);

    /// <summary>Every entry from <paramref name="start"/> to <paramref name="max"/>, ascending.</summary>
    /// <remarks>Kernel: xa_for_each_range(). Context: Any context. Takes no lock; entries stored
    /// or erased meanwhile may or may not be seen, as in the kernel.</remarks>
    public IEnumerable<(ulong Index, T Entry)> Entries(ulong start = 0, ulong max = ulong.MaxValue) => Iterate(start, max, -1);

    /// <summary>Every entry with <paramref name="mark"/> from <paramref name="start"/> to <paramref name="max"/>, ascending.</summary>
    /// <remarks>Kernel: xa_for_each_marked(). Context: Any context. Takes no lock.</remarks>
    public IEnumerable<(ulong Index, T Entry)> EntriesMarked(XaMark mark, ulong start = 0, ulong max = ulong.MaxValue) => Iterate(start, max, (int)mark);

    // ---------------- writers: take the lock ----------------

    /// <summary>Stores <paramref name="entry"/> at <paramref name="index"/> and returns what was there; storing null erases.</summary>
    /// <remarks>Kernel: xa_store(). Context: Any context the lock type allows. Takes and releases the xa_lock.</remarks>
    public T? Store(ulong index, T? entry)
    {
        var flags = TakeLock();
        try
        {
            return entry is null ? EraseLocked(index) : StoreLocked(index, entry);
        }
        finally
        {
            DropLock(flags);
        }
    }

    /// <summary>Erases the entry at <paramref name="index"/> and returns it.</summary>
    /// <remarks>Kernel: xa_erase(). Context: Any context the lock type allows. Takes and releases the xa_lock.</remarks>
    public T? Erase(ulong index)
    {
        var flags = TakeLock();
        try
        {
            return EraseLocked(index);
        }
        finally
        {
            DropLock(flags);
        }
    }

    /// <summary>Stores <paramref name="entry"/> only if <paramref name="index"/> is empty (not even reserved).</summary>
    /// <remarks>Kernel: xa_insert() (false for -EBUSY). Context: as <see cref="Store"/>.</remarks>
    public bool Insert(ulong index, T entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var flags = TakeLock();
        try
        {
            if (LoadRawLocked(index) is not null)
            {
                return false;
            }

            StoreLocked(index, entry);
            return true;
        }
        finally
        {
            DropLock(flags);
        }
    }

    /// <summary>Replaces the entry at <paramref name="index"/> with <paramref name="entry"/> if it is
    /// <paramref name="old"/>, comparing the slot by reference (a reservation matches nothing, not even
    /// null); returns what was there (null for a reservation).</summary>
    /// <remarks>Kernel: xa_cmpxchg(). Context: as <see cref="Store"/>.</remarks>
    public T? CmpXchg(ulong index, T? old, T? entry)
    {
        var flags = TakeLock();
        try
        {
            // The raw slot is compared: a reservation is not null, so it only matches itself.
            var raw = LoadRawLocked(index);
            var current = raw as T;
            if (ReferenceEquals(raw, old))
            {
                if (entry is null)
                {
                    if (raw is not null)
                    {
                        EraseLocked(index);
                    }
                }
                else
                {
                    StoreLocked(index, entry);
                }
            }

            return current;
        }
        finally
        {
            DropLock(flags);
        }
    }

    /// <summary>Reserves an empty index: loads see null, inserts fail, iteration skips it.</summary>
    /// <remarks>Kernel: xa_reserve(). Context: as <see cref="Store"/>.</remarks>
    public void Reserve(ulong index)
    {
        var flags = TakeLock();
        try
        {
            if (LoadRawLocked(index) is null)
            {
                StoreLocked(index, XaInternal.Zero);
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
            if (ReferenceEquals(LoadRawLocked(index), XaInternal.Zero))
            {
                EraseLocked(index);
            }
        }
        finally
        {
            DropLock(flags);
        }
    }

    /// <summary>Sets <paramref name="mark"/> on the entry (or reservation) at <paramref name="index"/>; nothing if the slot is empty.</summary>
    /// <remarks>Kernel: xa_set_mark(). Context: as <see cref="Store"/>.</remarks>
    public void SetMark(ulong index, XaMark mark)
    {
        var flags = TakeLock();
        try
        {
            SetMarkLocked(index, mark);
        }
        finally
        {
            DropLock(flags);
        }
    }

    /// <summary>Clears <paramref name="mark"/> on the entry at <paramref name="index"/>.</summary>
    /// <remarks>Kernel: xa_clear_mark(). Context: as <see cref="Store"/>.</remarks>
    public void ClearMark(ulong index, XaMark mark)
    {
        var flags = TakeLock();
        try
        {
            ClearMarkLocked(index, mark);
        }
        finally
        {
            DropLock(flags);
        }
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
}
