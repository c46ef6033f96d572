using System.Threading;

namespace Writeback.Block;

/// <summary>A lock-free list of bios: any CPU may add, any CPU may take everything.</summary>
/// <remarks>Kernel: struct llist_head, llist_add() (returns whether the list was empty),
/// llist_del_all() and llist_reverse_order(). The list is LIFO; a taker that wants completion
/// order reverses what it took.</remarks>
internal sealed class BioLlist
{
    private Bio? _first;

    public bool IsEmpty => Volatile.Read(ref _first) is null;

    /// <summary>Pushes <paramref name="bio"/>; true if the list was empty.</summary>
    public bool Add(Bio bio)
    {
        while (true)
        {
            var first = Volatile.Read(ref _first);
            bio.Next = first;
            if (ReferenceEquals(Interlocked.CompareExchange(ref _first, bio, first), first))
            {
                return first is null;
            }
        }
    }

    /// <summary>Takes everything, oldest first (llist_del_all() + llist_reverse_order()).</summary>
    public Bio? DelAllFifo()
    {
        Bio? reversed = null;
        for (var bio = Interlocked.Exchange(ref _first, null); bio is not null;)
        {
            var next = bio.Next;
            bio.Next = reversed;
            reversed = bio;
            bio = next;
        }

        return reversed;
    }
}
