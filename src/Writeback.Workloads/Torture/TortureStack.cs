using Writeback.Block;
using Writeback.Fs;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Workloads.Torture;

/// <summary>What the torture runs build and do the same way: the page cache, the mount, and the
/// work of another device's completion in an injected interrupt.</summary>
internal static class TortureStack
{
    /// <summary>A page cache in <paramref name="mode"/>; with <paramref name="tightDirtyLimits"/>,
    /// small dirty limits (256 KiB background, 1 MiB throttle), so that background writeback and
    /// throttling run under the operations.</summary>
    public static PageCache NewCache(Machine m, CompletionMode mode, bool tightDirtyLimits) => PageCache.Create(m, tightDirtyLimits
        ? new PageCacheOptions { Mode = mode, DirtyBackgroundBytes = 256L << 10, DirtyBytes = 1L << 20 }
        : new PageCacheOptions { Mode = mode });

    /// <summary>Mounts <paramref name="disk"/> with <paramref name="cache"/>; a failure is a violation.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public static FileSystem Mount(SimulatedDisk disk, PageCache cache)
    {
        var err = FileSystem.Mount(disk, cache, out var fs, out var problem);
        if (err != Errno.None)
        {
            OracleChecks.Fail($"mount returned {err}: {problem}");
        }

        return fs!;
    }

    /// <summary>What another device's completion does to <paramref name="mapping"/> in an injected
    /// interrupt: in IRQ mode it takes i_pages (irqsave); in task mode completions never touch it
    /// from an interrupt, so only a folio lookup runs.</summary>
    /// <remarks>Context: Hardirq (the engine's injected interrupt).</remarks>
    public static void OtherDevicesCompletion(AddressSpace? mapping, CompletionMode mode)
    {
        if (mapping is null)
        {
            return;
        }

        if (mode == CompletionMode.Irq)
        {
            // AddressSpace.LockPagesIrqSave(), which is internal to the model library.
            if (mapping.Cache.IrqSafeLock)
            {
                var flags = mapping.Pages.Lock.LockIrqSave();
                mapping.Pages.Lock.UnlockIrqRestore(flags);
            }
            else
            {
                mapping.Pages.Lock.Lock();
                mapping.Pages.Lock.Unlock();
            }
        }
        else
        {
            mapping.GetFolio(0)?.Put();
        }
    }
}
