using System.Runtime.CompilerServices;
using System.Threading;
using Writeback.Kernel;

namespace Writeback.Mm;

/// <summary>A machine's page cache: the completion design (and so the i_pages lock flavour),
/// the hashed folio wait table, and folio allocation.</summary>
/// <remarks>Kernel: the mm/filemap.c and mm/page-writeback.c globals (folio_wait_table, the
/// i_pages lock class). Create one per machine, inside its run.</remarks>
public sealed class PageCache
{
    private const int WaitTableSize = 256;
    private static readonly LockClassKey s_waitKey = LockClassKey.ForName("&folio_wait_table[i]");
    private readonly WaitQueueHead[] _waitTable;
    private long _dropbehindRemoved;
    private long _dropbehindSkipped;

    private PageCache(Machine machine, PageCacheOptions options)
    {
        Machine = machine;
        Options = options;
        _waitTable = [.. Enumerable.Range(0, WaitTableSize).Select(_ => new WaitQueueHead(s_waitKey))];
    }

    /// <summary>The lock class of every mapping's i_pages lock (&amp;mapping-&gt;i_pages), as lockdep and lock_stat name it.</summary>
    public static LockClassKey PagesLockClass { get; } = LockClassKey.ForName("&mapping->i_pages");

    /// <summary>The machine.</summary>
    public Machine Machine { get; }

    /// <summary>The options.</summary>
    public PageCacheOptions Options { get; }

    /// <summary>True when i_pages is taken with interrupts disabled (IRQ mode, not forced plain).</summary>
    public bool IrqSafeLock => Options.Mode == CompletionMode.Irq && !Options.ForcePlainLock;

    /// <summary>Dropbehind folios removed from the cache when their writeback ended.</summary>
    public long DropbehindRemoved => Interlocked.Read(ref _dropbehindRemoved);

    /// <summary>Dropbehind folios left in the cache because writeback ended where the removal
    /// cannot run (not in task context, or the folio lock was taken).</summary>
    public long DropbehindSkipped => Interlocked.Read(ref _dropbehindSkipped);

    /// <summary>Sets up the page cache of <paramref name="machine"/>.</summary>
    public static PageCache Create(Machine machine, PageCacheOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(machine);
        return new PageCache(machine, options ?? new PageCacheOptions());
    }

    /// <summary>A new folio of 2^<paramref name="order"/> pages, zeroed, with one reference, in no mapping.</summary>
    /// <remarks>Kernel: filemap_alloc_folio().</remarks>
    public Folio AllocFolio(int order = 0) => new(this, order);

    internal WaitQueueHead WaitQueueOf(Folio folio) => _waitTable[RuntimeHelpers.GetHashCode(folio) & (WaitTableSize - 1)];

    internal void CountDropbehind(bool removed)
    {
        if (removed)
        {
            Interlocked.Increment(ref _dropbehindRemoved);
        }
        else
        {
            Interlocked.Increment(ref _dropbehindSkipped);
        }
    }
}
