using Writeback.Kernel;

namespace Writeback.Lib;

/// <summary>A cursor into an <see cref="XArray{T}"/>: the advanced API, for callers that walk,
/// store and mark at one position, hold the lock across several steps, or drop it mid-walk.</summary>
/// <remarks>Kernel: struct xa_state, XA_STATE(), XA_STATE_ORDER() and the xas_*() functions in
/// lib/xarray.c. The cursor is at <see cref="Index"/> and is in one of four states: restart (the
/// next operation walks from the head: after construction, <see cref="Set"/>, <see cref="Reset"/>,
/// <see cref="Pause"/> or a successful <see cref="Nomem"/>), walked (it remembers the slot its last
/// walk ended at), bounds (the walk ran off the tree or past its limit) and error
/// (<see cref="Error"/>; every operation does nothing until the state is set again). Reads take no
/// lock; <see cref="Store"/>, <see cref="SetMark"/> and <see cref="ClearMark"/> need the array's
/// lock held. A store whose nodes cannot be allocated under the lock sets
/// <see cref="Errno.ENOMEM"/>; the caller drops the lock and calls <see cref="Nomem"/>, which
/// allocates (and may sleep) and asks for a retry — the kernel's
/// <c>do { lock; store; unlock; } while (xas_nomem())</c> loop.
/// Model: reads resolve what the kernel leaves to the caller: a retry entry restarts the walk
/// inside the call (there is no xas_retry()), a sibling slot reads as the multi-index entry it
/// belongs to, and reservations and value entries read as null (<see cref="TryLoadValue"/> reads
/// a value). The cursor is a class, not an on-stack struct; one cursor is used by one thread.</remarks>
public sealed class XaState<T>
    where T : class
{
    private XaNode? _node;
    private int _slot;
    private Status _status;
    private int _prealloc;

    /// <summary>A cursor at <paramref name="index"/> (XA_STATE()).</summary>
    public XaState(XArray<T> array, ulong index) : this(array, index, 0)
    {
    }

    /// <summary>A cursor for the multi-index entry of <paramref name="order"/> holding
    /// <paramref name="index"/> (XA_STATE_ORDER()); the index is aligned down to the order.</summary>
    public XaState(XArray<T> array, ulong index, int order)
    {
        ArgumentNullException.ThrowIfNull(array);
        Array = array;
        SetOrder(index, order);
    }

    private enum Status
    {
        Restart,
        Walked,
        Bounds,
        Error,
    }

    /// <summary>The array the cursor walks.</summary>
    public XArray<T> Array { get; }

    /// <summary>The index the cursor is at (xa_index).</summary>
    public ulong Index { get; private set; }

    /// <summary>The order stores through this cursor use (0: a single index).</summary>
    public int Order { get; private set; }

    /// <summary>The error the cursor holds (xas_error()), or <see cref="Errno.None"/>.</summary>
    public Errno Error { get; private set; }

    /// <summary>True when the next operation walks from the head (XAS_RESTART).</summary>
    public bool IsRestart => _status == Status.Restart;

    /// <summary>True when the last walk ran off the tree or past its limit (XAS_BOUNDS).</summary>
    public bool IsBounds => _status == Status.Bounds;

    /// <summary>True when the cursor does not sit at a walked slot: restart, bounds or error (xas_invalid()).</summary>
    public bool IsInvalid => _status != Status.Walked;

    /// <summary>Moves the cursor to <paramref name="index"/> and clears any error (xas_set()).</summary>
    public void Set(ulong index)
    {
        Index = index;
        Restart();
    }

    /// <summary>Moves the cursor to the entry of <paramref name="order"/> holding <paramref name="index"/> (xas_set_order()).</summary>
    public void SetOrder(ulong index, int order)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(order);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(order, 63);
        Order = order;
        Set(index & ~((1UL << order) - 1));
    }

    /// <summary>Forgets the walk so that the next operation starts from the head, keeping the index (xas_reset()).</summary>
    public void Reset() => Restart();

    /// <summary>Puts the cursor in the error state (xas_set_err()).</summary>
    public void SetError(Errno error)
    {
        ArgumentOutOfRangeException.ThrowIfEqual(error, Errno.None);
        Error = error;
        _status = Status.Error;
    }

    /// <summary>The entry covering <see cref="Index"/> (xas_load()); sets bounds when the index is beyond the tree.</summary>
    /// <remarks>Context: Any context. Takes no lock.</remarks>
    public T? Load() => Walk() as T;

    /// <summary>Re-reads the slot the last walk ended at (xas_reload()): the page cache's check
    /// that a folio it took a reference on is still the one in the array.</summary>
    /// <remarks>Context: Any context. Takes no lock.</remarks>
    public T? Reload()
    {
        if (_status != Status.Walked)
        {
            return Load();
        }

        // A retry entry means the node left the tree: the kernel hands it to the caller, who
        // retries; here the walk is redone, so the answer is the live entry.
        var entry = Array.SlotContent(_node, _slot);
        return ReferenceEquals(entry, XaInternal.Retry) ? Load() : entry as T;
    }

    /// <summary>Whether a value entry covers <see cref="Index"/>, and its integer.</summary>
    /// <remarks>Context: Any context. Takes no lock.</remarks>
    public bool TryLoadValue(out ulong value)
    {
        if (Walk() is XaInternal { IsValue: true } v)
        {
            value = v.Payload;
            return true;
        }

        value = 0;
        return false;
    }

    /// <summary>Stores <paramref name="entry"/> over the cursor's range (null erases every entry
    /// overlapping it) and returns what covered <see cref="Index"/>; on allocation failure sets
    /// <see cref="Errno.ENOMEM"/> and changes nothing.</summary>
    /// <remarks>Kernel: xas_store(). Context: Caller holds the xa_lock.</remarks>
    public T? Store(T? entry) => StoreSlot(entry) as T;

    /// <summary>Stores the value entry <paramref name="value"/> over the cursor's range.</summary>
    /// <remarks>Kernel: xas_store(xas, xa_mk_value(value)). Context: Caller holds the xa_lock.</remarks>
    public T? StoreValue(ulong value)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(value, (ulong)long.MaxValue);
        return StoreSlot(XaInternal.Value(value)) as T;
    }

    /// <summary>The next entry: at <see cref="Index"/> if the cursor is at restart, otherwise
    /// after the entry it is at; null (restart past <paramref name="max"/>, bounds at the end) if none.</summary>
    /// <remarks>Kernel: xas_find(). Context: Any context. Takes no lock.</remarks>
    public T? Find(ulong max) => FindNext(max, -1);

    /// <summary>As <see cref="Find"/>, for entries with <paramref name="mark"/>; skips unmarked subtrees.</summary>
    /// <remarks>Kernel: xas_find_marked(). Context: Any context. Takes no lock.</remarks>
    public T? FindMarked(ulong max, XaMark mark) => FindNext(max, (int)mark);

    /// <summary>Moves to the next index (wrapping from <see cref="ulong.MaxValue"/> to 0) and
    /// returns its entry, or null for a hole; from restart it reads <see cref="Index"/> itself.</summary>
    /// <remarks>Kernel: xas_next(). Context: Any context. Takes no lock.</remarks>
    public T? Next() => Step(1);

    /// <summary>Moves to the previous index (wrapping from 0 to <see cref="ulong.MaxValue"/>); from restart it reads <see cref="Index"/> itself.</summary>
    /// <remarks>Kernel: xas_prev(). Context: Any context. Takes no lock.</remarks>
    public T? Prev() => Step(ulong.MaxValue);

    /// <summary>Whether the entry covering <see cref="Index"/> has <paramref name="mark"/>.</summary>
    /// <remarks>Kernel: xas_get_mark(). Context: Any context. Takes no lock.</remarks>
    public bool GetMark(XaMark mark) => _status != Status.Error && Array.GetMark(Index, mark);

    /// <summary>Sets <paramref name="mark"/> on the entry covering <see cref="Index"/>.</summary>
    /// <remarks>Kernel: xas_set_mark(). Context: Caller holds the xa_lock.</remarks>
    public void SetMark(XaMark mark)
    {
        Array.Lock.AssertHeld();
        if (_status != Status.Error)
        {
            Array.SetMarkCore(Index, mark);
        }
    }

    /// <summary>Clears <paramref name="mark"/> on the entry covering <see cref="Index"/>.</summary>
    /// <remarks>Kernel: xas_clear_mark(). Context: Caller holds the xa_lock.</remarks>
    public void ClearMark(XaMark mark)
    {
        Array.Lock.AssertHeld();
        if (_status != Status.Error)
        {
            Array.ClearMarkCore(Index, mark);
        }
    }

    /// <summary>Readies the cursor for the lock to be dropped mid-walk: the next operation walks
    /// from the head, at the index after the entry (and all of its sibling slots) the cursor is at;
    /// bounds if that wraps past <see cref="ulong.MaxValue"/>. Does nothing unless walked.</summary>
    /// <remarks>Kernel: xas_pause().</remarks>
    public void Pause()
    {
        if (_status != Status.Walked)
        {
            return;
        }

        var next = EndOfWalkedEntry() + 1;
        Index = next;
        _status = next == 0 ? Status.Bounds : Status.Restart;
    }

    /// <summary>If the cursor holds <see cref="Errno.ENOMEM"/>, allocates a node (this may sleep,
    /// so the lock must be dropped), clears the error and returns true: retry the operation.
    /// Otherwise forgets any preallocated node and returns false.</summary>
    /// <remarks>Kernel: xas_nomem(xas, GFP_KERNEL). Context: Process context, lock not held. May sleep.</remarks>
    public bool Nomem()
    {
        if (Error != Errno.ENOMEM)
        {
            _prealloc = 0;
            return false;
        }

        if (!Array.TryAllocateBlocking())
        {
            return false;
        }

        _prealloc++;
        Restart();
        return true;
    }

    /// <summary>The last index of the entry (or hole) the cursor is at, read now; never before
    /// <see cref="Index"/>, even if the array changed since the walk.</summary>
    private ulong EndOfWalkedEntry() => _node is null ? Index : Math.Max(Index, Array.EntryLast(_node, _slot, Index));

    private void Restart()
    {
        Error = Errno.None;
        _status = Status.Restart;
        _node = null;
        _slot = 0;
    }

    private object? Walk()
    {
        if (_status == Status.Error)
        {
            return null;
        }

        var entry = Array.Locate(Index, out _node, out _slot);
        _status = _node is null && !Array.AtHead(Index) ? Status.Bounds : Status.Walked;
        return entry;
    }

    private object? StoreSlot(object? entry)
    {
        Array.Lock.AssertHeld();
        if (_status == Status.Error)
        {
            return null;
        }

        object? old;
        if (entry is null)
        {
            old = Array.EraseOrder(Index, Order);
        }
        else
        {
            old = Array.StoreEntry(Index, Order, entry, ref _prealloc, out var nomem);
            if (nomem)
            {
                SetError(Errno.ENOMEM);
                return null;
            }
        }

        Walk();
        return old;
    }

    private T? FindNext(ulong max, int mark)
    {
        if (_status is Status.Error or Status.Bounds)
        {
            return null;
        }

        var from = Index;
        if (_status == Status.Walked)
        {
            from = EndOfWalkedEntry() + 1;
            if (from == 0)
            {
                _status = Status.Bounds;
                return null;
            }
        }

        if (from > max)
        {
            _status = Status.Bounds;
            return null;
        }

        var found = Array.FindCore(ref from, max, mark, raw: false, out _node, out _slot);
        if (found is null)
        {
            _node = null;
            if (max == ulong.MaxValue)
            {
                _status = Status.Bounds;
            }
            else
            {
                Index = max + 1;
                _status = Status.Restart;
            }

            return null;
        }

        Index = from;
        _status = Status.Walked;
        return found as T;
    }

    private T? Step(ulong delta)
    {
        if (_status == Status.Error)
        {
            return null;
        }

        if (_status != Status.Restart)
        {
            Index = unchecked(Index + delta);
        }

        return Load();
    }
}
