using Writeback.Block;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Mm;

/// <summary>Page-cache work with interrupts injected at runtime points: each mode stays
/// lockdep-clean and correct, and the forced plain lock with IRQ completion deadlocks for real.</summary>
public class InjectedIrqTests
{
    public static TheoryData<CompletionMode, ulong> ModesAndSeeds => new()
    {
        { CompletionMode.Irq, 1 }, { CompletionMode.Irq, 2 }, { CompletionMode.Irq, 3 },
        { CompletionMode.Task, 1 }, { CompletionMode.Task, 2 }, { CompletionMode.Task, 3 },
    };

    [Theory]
    [MemberData(nameof(ModesAndSeeds))]
    public void WritesAndWriteback_UnderInjectedInterrupts_AreCleanAndCorrect(CompletionMode mode, ulong seed)
    {
        using var m = MachineFixture.Create(seed: seed, cpus: 3, configure: o => o with { IrqInjectionProbability = 0.02 });
        var readBack = new byte[32 * 4096];
        var expected = Enumerable.Range(0, readBack.Length).Select(i => (byte)(i * 13)).ToArray();
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m);
            var disk = new MemDisk(layer, new DiskOptions { CapacityBytes = 1 << 20 });
            var bdev = new BlockDeviceCache(PageCache.Create(m, new PageCacheOptions { Mode = mode }), disk);
            m.IrqInjector = () =>
            {
                // What another device's completion does in this mode: in IRQ mode it takes
                // i_pages (irqsave); in task mode completions never touch it in interrupt context.
                if (mode == CompletionMode.Irq)
                {
                    var flags = bdev.Mapping.LockPagesIrqSave();
                    bdev.Mapping.UnlockPagesIrqRestore(flags);
                }

                bdev.Mapping.GetFolio(3)?.Put();
            };
            var writer = m.Spawn("writer", () => bdev.Write(0, expected), 1);
            var flusher = m.Spawn("flusher", () => bdev.Writepages(bdev.Mapping, new WritebackControl { SyncMode = WbSyncMode.None }), 2);
            writer.WaitForExit();
            flusher.WaitForExit();
            Assert.Equal(Errno.None, bdev.Open().WriteAndWaitRange(0, long.MaxValue));
            disk.ReadContent(0, readBack);
            m.IrqInjector = null;
        });
        Assert.Equal(expected, readBack);
        Assert.True(m.Cpus.Sum(c => c.Interrupts) > 20, "few interrupts were injected");
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void ForcedPlainLock_WithAnInterruptTakingIPages_DeadlocksForReal()
    {
        // With lockdep off nothing warns first: the interrupt spins on the lock its own CPU holds.
        using var m = MachineFixture.Create(cpus: 1, lockdep: LockdepMode.Off, configure: o => o with { IrqInjectionProbability = 0.2 });
        var failure = MachineFixture.RunGuarded(m, () =>
        {
            var cache = PageCache.Create(m, new PageCacheOptions { Mode = CompletionMode.Irq, ForcePlainLock = true });
            var mapping = new AddressSpace(cache);
            m.IrqInjector = () =>
            {
                var flags = mapping.LockPagesIrqSave();
                mapping.UnlockPagesIrqRestore(flags);
            };
            for (ulong i = 0; i < 2000; i++)
            {
                var folio = cache.AllocFolio();
                mapping.AddFolio(folio, i);
                folio.Unlock();
            }
        });
        Assert.IsType<MachineFailedException>(failure);
        Assert.Contains("spinlock recursion", failure!.Message, StringComparison.Ordinal);
    }
}
