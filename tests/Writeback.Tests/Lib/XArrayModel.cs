using System.Numerics;
using Writeback.Lib;
using Item = Writeback.Tests.Lib.XArrayPropertyTests.Item;

namespace Writeback.Tests.Lib;

/// <summary>The reference for <see cref="XArrayPropertyTests"/>: what lib/xarray.c does, on a
/// sorted dictionary of aligned power-of-two ranges.</summary>
/// <remarks>Every slot content is an entry covering [First, First + 2^Order - 1]: an item, a
/// value entry (<see cref="ValueEntry"/>) or a reservation (<see cref="Reserved"/>, the kernel's
/// XA_ZERO_ENTRY, always order 0). Ranges are aligned, so two of them either nest or are
/// disjoint. A store of a non-NULL content over the aligned range R: if an entry strictly
/// contains R, its content is replaced over its whole range, keeping its range and marks
/// (xas_store() with xa_sibs = 0 in a larger entry's slot); otherwise every entry overlapping R
/// (all inside R) goes and one entry for R takes the union of their marks (xas_squash_marks()).
/// Storing NULL removes every entry overlapping R, each whole, with its marks. Reads see only
/// items: a value or a reservation loads as NULL, is skipped by iteration and matches no
/// cmpxchg; both are occupied for insert and reserve and can carry marks. Height and node count
/// are exact: an entry of order k lives in a node of shift k - k % chunkShift, the kernel frees
/// empty nodes and shrinks the top at once, and a lone order-0 entry at index 0 lives in the head.</remarks>
internal sealed class XArrayModel
{
    private readonly SortedDictionary<ulong, Entry> _entries = [];

    /// <summary>The same entries by first index, for lookups.</summary>
    private readonly Dictionary<ulong, Entry> _byFirst = [];

    /// <summary>How many entries there are of each order, and a bit per order in use, so that a lookup tries only those.</summary>
    private readonly int[] _orders = new int[64];

    private ulong _ordersInUse;

    /// <summary>The entries as an array, ascending, rebuilt after a change: searches bisect it.</summary>
    private Entry[]? _sorted;

    /// <summary>The reservation marker (XA_ZERO_ENTRY).</summary>
    public static object Reserved { get; } = new ReservedEntry();

    public bool IsEmpty => _entries.Count == 0;

    public int Count => _entries.Count;

    /// <summary>The entries, ascending.</summary>
    public IReadOnlyList<Entry> All => _sorted ??= [.. _entries.Values];

    /// <summary>The entry whose range holds <paramref name="index"/>, or null.</summary>
    public Entry? Covering(ulong index)
    {
        for (var orders = _ordersInUse; orders != 0; orders &= orders - 1)
        {
            var order = BitOperations.TrailingZeroCount(orders);
            if (_byFirst.TryGetValue(index & ~Mask(order), out var e) && e.Order == order)
            {
                return e;
            }
        }

        return null;
    }

    public Item? Load(ulong index) => Covering(index)?.Content as Item;

    public bool Marked(XaMark m) => _entries.Values.Any(e => e.HasMark(m));

    /// <summary>xa_store() / xa_erase() at one index: NULL erases the covering entry whole.</summary>
    public Item? Store(ulong index, object? content) => StoreOrder(index, 0, content);

    /// <summary>xas_store() through a cursor of <paramref name="order"/>: returns the item that covered the aligned range's first index.</summary>
    public Item? StoreOrder(ulong index, int order, object? content)
    {
        var first = index & ~Mask(order);
        var previous = Load(first);
        if (content is null)
        {
            RemoveOverlapping(first, first + Mask(order));
        }
        else
        {
            Put(first, order, content);
        }

        return previous;
    }

    /// <summary>xa_store_range(): the largest aligned pieces from <paramref name="first"/> upward, each stored in turn.</summary>
    public Item? StoreRange(ulong first, ulong last, Item? entry)
    {
        var previous = Load(first);
        if (entry is null)
        {
            RemoveOverlapping(first, last);
            return previous;
        }

        var at = first;
        while (true)
        {
            var order = at == 0 ? 63 : BitOperations.TrailingZeroCount(at);
            while (order > 0 && last - at < Mask(order))
            {
                order--;
            }

            Put(at, order, entry);
            var end = at + Mask(order);
            if (end >= last)
            {
                return previous;
            }

            at = end + 1;
        }
    }

    public bool Insert(ulong index, Item entry)
    {
        if (Covering(index) is not null)
        {
            return false;
        }

        Put(index, 0, entry);
        return true;
    }

    /// <summary>xa_cmpxchg(): the covering content is compared by reference; a value or a
    /// reservation matches nothing (not even NULL) and reads back as NULL.</summary>
    public Item? CmpXchg(ulong index, Item? old, Item? entry)
    {
        var current = Covering(index)?.Content;
        if (current is not null and not Item)
        {
            return null;
        }

        if (ReferenceEquals(current, old) && (entry is not null || current is not null))
        {
            Store(index, entry);
        }

        return (Item?)current;
    }

    public void Reserve(ulong index)
    {
        if (Covering(index) is null)
        {
            Put(index, 0, Reserved);
        }
    }

    public void Release(ulong index)
    {
        if (Covering(index) is { } e && ReferenceEquals(e.Content, Reserved))
        {
            Remove(e);
        }
    }

    public void SetMark(ulong index, XaMark m) => Covering(index)?.SetMark(m, true);

    public void ClearMark(ulong index, XaMark m) => Covering(index)?.SetMark(m, false);

    /// <summary>Items in [start, max], optionally only those with a mark, each once at max(start, its first index).</summary>
    public IEnumerable<(ulong Index, Item Entry)> Entries(ulong start, ulong max, XaMark? mark)
    {
        // Ranges are disjoint, so their last indexes ascend with their first: bisect for the first one that reaches start.
        var sorted = All;
        var lo = 0;
        var hi = sorted.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (sorted[mid].Last < start)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        for (var i = lo; i < sorted.Count; i++)
        {
            var e = sorted[i];
            var at = Math.Max(start, e.First);
            if (at > max)
            {
                yield break;
            }

            if (e.Content is Item item && (mark is not { } m || e.HasMark(m)))
            {
                yield return (at, item);
            }
        }
    }

    /// <summary>Whether any entry overlaps [first, last].</summary>
    public bool AnyOverlapping(ulong first, ulong last) =>
        Covering(first) is not null || _entries.Keys.Any(k => k >= first && k <= last);

    /// <summary>Levels the kernel's tree has: enough for the highest index in use and for the node each entry lives in.</summary>
    public int Height(int shift)
    {
        if (_entries.Count == 0 || (_entries.Count == 1 && _entries.Values.First() is { First: 0, Order: 0 }))
        {
            return 0;
        }

        var top = 0;
        var maxLast = 0UL;
        foreach (var e in _entries.Values)
        {
            top = Math.Max(top, LevelShift(e.Order, shift));
            maxLast = Math.Max(maxLast, e.Last);
        }

        while (Coverage(top, shift) < maxLast)
        {
            top += shift;
        }

        return (top / shift) + 1;
    }

    /// <summary>Nodes the kernel's tree has: at each level, one per distinct prefix above it among
    /// the entries that live at that level or below.</summary>
    public int NodeCount(int shift)
    {
        var height = Height(shift);
        var nodes = 0;
        var prefixes = new HashSet<ulong>();
        for (var level = 0; level < height; level++)
        {
            var levelShift = level * shift;
            var bits = levelShift + shift;
            prefixes.Clear();
            foreach (var e in _entries.Values)
            {
                if (LevelShift(e.Order, shift) <= levelShift)
                {
                    prefixes.Add(bits >= 64 ? 0 : e.First >> bits);
                }
            }

            nodes += prefixes.Count;
        }

        return nodes;
    }

    /// <summary>Every entry as it is now, to tell later which ones an operation changed.</summary>
    public Dictionary<ulong, (int Order, object Content, int Marks)> Snapshot() =>
        _entries.Values.ToDictionary(e => e.First, e => (e.Order, e.Content, e.Marks));

    public static ulong Mask(int order) => order >= 64 ? ulong.MaxValue : (1UL << order) - 1;

    private static int LevelShift(int order, int shift) => order - (order % shift);

    private static ulong Coverage(int levelShift, int shift) =>
        levelShift + shift >= 64 ? ulong.MaxValue : (1UL << (levelShift + shift)) - 1;

    /// <summary>Stores non-NULL <paramref name="content"/> over the aligned range (see the class remarks).</summary>
    private void Put(ulong first, int order, object content)
    {
        if (Covering(first) is { } outer && outer.Order > order)
        {
            outer.Content = content;
            return;
        }

        var last = first + Mask(order);
        var marks = 0;
        foreach (var inside in _entries.Values.Where(e => e.First >= first && e.First <= last).ToList())
        {
            marks |= inside.Marks;
            Remove(inside);
        }

        var added = new Entry(first, order, content) { Marks = marks };
        _entries.Add(first, added);
        _byFirst.Add(first, added);
        _sorted = null;
        if (_orders[order]++ == 0)
        {
            _ordersInUse |= 1UL << order;
        }
    }

    private void RemoveOverlapping(ulong first, ulong last)
    {
        if (Covering(first) is { } outer)
        {
            Remove(outer);
        }

        foreach (var inside in _entries.Values.Where(e => e.First >= first && e.First <= last).ToList())
        {
            Remove(inside);
        }
    }

    private void Remove(Entry e)
    {
        _entries.Remove(e.First);
        _byFirst.Remove(e.First);
        _sorted = null;
        if (--_orders[e.Order] == 0)
        {
            _ordersInUse &= ~(1UL << e.Order);
        }
    }

    /// <summary>A value entry (xa_mk_value()).</summary>
    public sealed record ValueEntry(ulong Value);

    /// <summary>One slot content and the aligned range it covers.</summary>
    public sealed class Entry(ulong first, int order, object content)
    {
        public ulong First { get; } = first;

        public int Order { get; } = order;

        public ulong Last => First + Mask(Order);

        public object Content { get; set; } = content;

        /// <summary>Bit m set when the entry has mark m.</summary>
        public int Marks { get; set; }

        public bool HasMark(XaMark m) => (Marks & (1 << (int)m)) != 0;

        public void SetMark(XaMark m, bool on) => Marks = on ? Marks | (1 << (int)m) : Marks & ~(1 << (int)m);

        public override string ToString() => $"[{First:X}, {Last:X}] {Content}{(Marks == 0 ? "" : $" marks {Marks}")}";
    }

    private sealed class ReservedEntry
    {
        public override string ToString() => "reserved";
    }
}
