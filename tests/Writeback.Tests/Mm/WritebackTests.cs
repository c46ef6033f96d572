using System.Threading;
using Writeback.Block;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Mm;

/// <summary>writeback_iter under concurrency: tag invariants, the livelock an integrity pass must
/// not fall into, and truncation against writeback (KERNEL-REFERENCE.md §5.2).</summary>
public class WritebackTests
{
    /// <summary>Both modes, three seeds; seeds 3 and 4 run with interrupts injected at 2 % of the
    /// runtime points, each doing what another device's completion does in that mode.</summary>
    public static TheoryData<CompletionMode, ulong> ModesAndSeeds => new()
    {
        { CompletionMode.Irq, 1 }, { CompletionMode.Irq, 2 }, { CompletionMode.Irq, 3 }, { CompletionMode.Irq, 4 },
        { CompletionMode.Task, 1 }, { CompletionMode.Task, 2 }, { CompletionMode.Task, 3 }, { CompletionMode.Task, 4 },
    };

    [Theory]
    [MemberData(nameof(ModesAndSeeds))]
    public void WritersAndWriteback_KeepTheTagInvariants(CompletionMode mode, ulong seed)
    {
        using var m = CreateMachine(seed, cpus: 3);
        m.Run(() =>
        {
            var (bdev, _) = Setup(m, mode);
            for (var round = 0; round < 4; round++)
            {
                var writer = m.Spawn("writer", () =>
                {
                    for (var i = 0; i < 40; i++)
                    {
                        bdev.Write((i * 7919 % 64) * 4096L, new byte[100]);
                    }
                }, 1);
                var flusher = m.Spawn("flusher", () => bdev.Writepages(bdev.Mapping, new WritebackControl { SyncMode = round % 2 == 0 ? WbSyncMode.None : WbSyncMode.All }), 2);
                writer.WaitForExit();
                flusher.WaitForExit();
                bdev.Mapping.WaitRange(0, long.MaxValue);
                bdev.Mapping.AssertTagInvariants();
            }

            Assert.Equal(Errno.None, bdev.Mapping.WriteAndWaitRange(0, long.MaxValue));
            bdev.Mapping.AssertTagInvariants();
            Assert.False(bdev.Mapping.Tagged(PageCacheTag.Dirty));
        });
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [MemberData(nameof(ModesAndSeeds))]
    public void IntegrityPass_WithAWriterDirtyingAheadAndBehind_TerminatesAndWritesWhatWasDirty(CompletionMode mode, ulong seed)
    {
        // The writer never stops dirtying pages ahead of and behind the pass's cursor; TOWRITE
        // tagging bounds the pass to what was dirty when it began.
        const int pages = 128;
        using var m = CreateMachine(seed, cpus: 3);
        var missed = new List<string>();
        m.Run(() =>
        {
            var (bdev, disk) = Setup(m, mode);
            var versions = new int[pages];
            for (var p = 0; p < pages; p++)
            {
                Stamp(bdev, versions, p);
            }

            var stop = 0;
            var writer = m.Spawn("writer", () =>
            {
                for (var i = 0; Volatile.Read(ref stop) == 0; i++)
                {
                    Stamp(bdev, versions, (int)((ulong)i * 2654435761UL % pages));
                }
            }, 1);
            var atStart = versions.ToArray();
            var wbc = new WritebackControl { SyncMode = WbSyncMode.All };
            bdev.Writepages(bdev.Mapping, wbc);
            bdev.Mapping.WaitRange(0, long.MaxValue);
            Volatile.Write(ref stop, 1);
            writer.WaitForExit();
            var sector = new byte[512];
            for (var p = 0; p < pages; p++)
            {
                disk.ReadContent((ulong)p * 8, sector);
                var onDisk = BitConverter.ToInt32(sector);
                if (onDisk < atStart[p])
                {
                    missed.Add($"page {p}: disk has version {onDisk}, {atStart[p]} was dirty when the pass began");
                }
            }
        });
        Assert.Empty(missed);
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void Truncate_WaitsForWriteback_RemovesTheTail_AndZeroesAPartialFolio(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        long pagesLeft = -1;
        var tail = new byte[4096];
        m.Run(() =>
        {
            var (bdev, _) = Setup(m, mode);
            bdev.Write(0, Enumerable.Repeat((byte)0xAB, 10 * 4096).ToArray());
            bdev.Mapping.FdatawriteRange(0, long.MaxValue);
            bdev.Mapping.TruncatePages((4 * 4096) + 100);
            pagesLeft = bdev.Mapping.NrPages;
            bdev.Mapping.AssertTagInvariants();
            var folio = bdev.Mapping.GetFolio(4)!;
            folio.Data.CopyTo(tail, 0);
            folio.Put();
        });
        Assert.Equal(5, pagesLeft);
        Assert.All(tail.Take(100), b => Assert.Equal(0xAB, b));
        Assert.All(tail.Skip(100), b => Assert.Equal(0, b));
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [MemberData(nameof(ModesAndSeeds))]
    public void TruncateDuringWriteback_LosesNothingBelowAndKeepsNothingAbove(CompletionMode mode, ulong seed)
    {
        const int pages = 64;
        const int keep = 32;
        using var m = CreateMachine(seed, cpus: 3);
        var wrong = new List<string>();
        m.Run(() =>
        {
            var (bdev, disk) = Setup(m, mode);
            var versions = new int[pages];
            for (var p = 0; p < pages; p++)
            {
                Stamp(bdev, versions, p);
            }

            var flusher = m.Spawn("flusher", () =>
            {
                for (var i = 0; i < 6; i++)
                {
                    bdev.Writepages(bdev.Mapping, new WritebackControl { SyncMode = WbSyncMode.None });
                    m.Msleep(1);
                }
            }, 1);
            var writer = m.Spawn("writer", () =>
            {
                for (var i = 0; i < 200; i++)
                {
                    Stamp(bdev, versions, i % keep);
                }
            }, 2);
            bdev.Mapping.TruncatePages(keep * 4096L);
            writer.WaitForExit();
            flusher.WaitForExit();
            Assert.Equal(Errno.None, bdev.Mapping.WriteAndWaitRange(0, long.MaxValue));
            bdev.Mapping.AssertTagInvariants();
            var at = (ulong)keep;
            if (bdev.Mapping.Pages.Find(ref at, ulong.MaxValue) is not null)
            {
                wrong.Add($"page {at} is still cached after the truncate");
            }

            var sector = new byte[512];
            for (var p = 0; p < keep; p++)
            {
                disk.ReadContent((ulong)p * 8, sector);
                if (BitConverter.ToInt32(sector) != versions[p])
                {
                    wrong.Add($"page {p}: disk has version {BitConverter.ToInt32(sector)}, last written {versions[p]}");
                }
            }
        });
        Assert.Empty(wrong);
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [MemberData(nameof(ModesAndSeeds))]
    public void RandomOperations_KeepTheTagInvariantsAfterEveryStep(CompletionMode mode, ulong seed)
    {
        using var m = CreateMachine(seed, cpus: 2);
        var log = new List<string>();
        m.Run(() =>
        {
            var (bdev, disk) = Setup(m, mode);
            var layer = disk.Layer;
            var random = new Random((int)seed);
            for (var step = 0; step < 120; step++)
            {
                var page = random.Next(48);
                var op = random.Next(6);
                log.Add($"{step}: op {op} page {page}");
                switch (op)
                {
                    case 0:
                    case 1:
                        bdev.Write((page * 4096L) + random.Next(4000), new byte[1 + random.Next(9000)], dontcache: random.Next(4) == 0);
                        break;
                    case 2:
                        bdev.Writepages(bdev.Mapping, new WritebackControl { SyncMode = WbSyncMode.None, NrToWrite = 1 + random.Next(8), RangeCyclic = true });
                        break;
                    case 3:
                        bdev.Writepages(bdev.Mapping, new WritebackControl { SyncMode = WbSyncMode.All, RangeStart = page * 4096L, RangeEnd = (page + 8) * 4096L });
                        break;
                    case 4:
                        bdev.Mapping.TruncatePages((page * 4096L) + random.Next(4096));
                        break;
                    default:
                        bdev.Read(page * 4096L, new byte[1 + random.Next(5000)]);
                        break;
                }

                bdev.Mapping.WaitRange(0, long.MaxValue);
                layer.FlushDeferred();
                bdev.Mapping.AssertTagInvariants();
            }

            Assert.Equal(Errno.None, bdev.Mapping.WriteAndWaitRange(0, long.MaxValue));
            var cached = new byte[4096];
            var onDisk = new byte[4096];
            foreach (var (index, folio) in bdev.Mapping.Pages.Entries())
            {
                disk.ReadContent(index * 8, onDisk);
                folio.Data.CopyTo(cached, 0);
                Assert.True(cached.AsSpan().SequenceEqual(onDisk), $"page {index} differs from the disk after fsync");
            }
        });
        MachineFixture.AssertClean(m);
    }

    private static Machine CreateMachine(ulong seed, int cpus) =>
        MachineFixture.Create(seed: seed, cpus: cpus, configure: o => o with { IrqInjectionProbability = seed >= 3 ? 0.02 : 0 });

    private static (BlockDeviceCache Bdev, MemDisk Disk) Setup(Machine m, CompletionMode mode)
    {
        var layer = BlockLayer.Create(m);
        var disk = new MemDisk(layer, new DiskOptions { CapacityBytes = 1 << 20, Latency = LatencyModel.Constant(30_000) });
        var bdev = new BlockDeviceCache(PageCache.Create(m, new PageCacheOptions { Mode = mode }), disk);
        m.IrqInjector = () =>
        {
            // Another device's completion: in IRQ mode it takes i_pages in hardirq; in task mode
            // completions never do, so it only looks a folio up.
            if (mode == CompletionMode.Irq)
            {
                var flags = bdev.Mapping.LockPagesIrqSave();
                bdev.Mapping.UnlockPagesIrqRestore(flags);
            }

            bdev.Mapping.GetFolio(1)?.Put();
        };
        return (bdev, disk);
    }

    /// <summary>Writes the page's next version, then publishes it: a published version is always in the cache.</summary>
    private static void Stamp(BlockDeviceCache bdev, int[] versions, int page)
    {
        var v = Volatile.Read(ref versions[page]) + 1;
        bdev.Write(page * 4096L, BitConverter.GetBytes(v));
        Volatile.Write(ref versions[page], v);
    }
}
