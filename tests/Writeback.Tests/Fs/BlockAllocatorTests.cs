using Writeback.Block;
using Writeback.Fs.Alloc;
using Writeback.Fs.Buffer;
using Writeback.Fs.Format;
using Writeback.Fs.Journal;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Fs;

/// <summary>The free-space bitmap: contiguous allocation near a goal, ENOSPC, frees, and
/// persistence through the journal across a power cut.</summary>
public class BlockAllocatorTests
{
    private static readonly FsGeometry s_geometry = FsGeometry.For(8L << 20);

    [Fact]
    public void Allocate_IsContiguousAtTheGoal_AndSeveralAllocationsFitOneTransaction()
    {
        using var m = MachineFixture.Create(cpus: 2);
        var got = new List<(ulong Start, ulong Length)>();
        long freeBefore = 0;
        long freeAfter = 0;
        m.Run(() =>
        {
            var (_, journal, alloc) = Mount(m, out _);
            freeBefore = alloc.FreeBlocks;
            var tx = journal.Begin();
            foreach (var (count, goal) in new[] { (8UL, s_geometry.DataStart + 100), (8UL, s_geometry.DataStart + 100), (4UL, 0UL) })
            {
                Assert.Equal(Errno.None, alloc.Allocate(tx, count, goal, out var start, out var length));
                got.Add((start, length));
            }

            Assert.Equal(Errno.None, tx.Commit());
            freeAfter = alloc.FreeBlocks;
        });
        var d = s_geometry.DataStart;
        Assert.Equal([(d + 100, 8UL), (d + 108, 8UL), (d, 4UL)], got);
        Assert.Equal(freeBefore - 20, freeAfter);
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void FreedMetadataBlocks_AreBusyUntilACheckpoint_AndAnAllocationThatNeedsThemForcesOne(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = 8L << 20 });
            Mkfs.Format(disk, s_geometry, Guid.Empty, mode);
            Assert.Equal(Errno.None, Writeback.Fs.FsMount.Mount(disk, mode, out var fs, out _));
            Assert.Equal(Errno.None, fs!.Mkdir("/d"));
            Assert.Equal(Errno.None, fs.Create("/d/x"));
            Assert.Equal(Errno.None, fs.Lookup("/d", out var dir));
            var dirBlock = dir!.Extents[0].DiskBlock;
            Assert.Equal(Errno.None, fs.Unlink("/d/x"));
            Assert.Equal(Errno.None, fs.Rmdir("/d"));

            // The directory block is free in the bitmap but busy: its logged copy is still in the journal.
            Assert.False(fs.Allocator.IsUsed(dirBlock));
            Assert.Equal(1, fs.Allocator.BusyBlocks);
            Assert.Equal(Errno.None, fs.Create("/f"));
            Assert.Equal(Errno.None, fs.Open("/f", out var f));
            var available = fs.Allocator.AvailableBlocks;
            Assert.Equal(Errno.None, f!.Fallocate(0, (available - 1) * s_geometry.BlockSize, keepSize: true));
            Assert.DoesNotContain(f.Extents, e => e.DiskBlock <= dirBlock && dirBlock < e.DiskBlock + e.Length);
            Assert.Equal(1, fs.Allocator.BusyBlocks);

            Assert.Equal(Errno.None, fs.Irele(f));
            Assert.Empty(Writeback.Fs.Fsck.Check(fs));

            // Take every other free block: only the busy one is left, and allocating it
            // checkpoints the journal first.
            var got = new List<ulong>();
            Assert.Equal(Errno.None, fs.RunTransaction(tx =>
            {
                while (fs.Allocator.FreeBlocks > fs.Allocator.BusyBlocks)
                {
                    Assert.Equal(Errno.None, fs.Allocator.Allocate(tx, (ulong)(fs.Allocator.FreeBlocks - fs.Allocator.BusyBlocks), 0, out _, out _));
                }

                var err = fs.Allocator.Allocate(tx, 1, 0, out var last, out _);
                got.Add(last);
                return err;
            }));
            Assert.Equal([dirBlock], got);
            Assert.Equal(0, fs.Allocator.BusyBlocks);
            Assert.Equal(0, fs.Allocator.FreeBlocks);
        });
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void Allocate_WhenFull_IsEnospc_AndFreedBlocksAreReused()
    {
        using var m = MachineFixture.Create(cpus: 2);
        var results = new List<Errno>();
        ulong reused = 0;
        m.Run(() =>
        {
            var (_, journal, alloc) = Mount(m, out _);
            var tx = journal.Begin();
            results.Add(alloc.Allocate(tx, (ulong)alloc.FreeBlocks, 0, out var start, out var length));
            Assert.Equal((ulong)(s_geometry.Blocks - s_geometry.DataStart), length);
            results.Add(alloc.Allocate(tx, 1, 0, out _, out _));
            alloc.Free(tx, start + 10, 3);
            results.Add(alloc.Allocate(tx, 3, 0, out reused, out _));
            Assert.Equal(Errno.None, tx.Commit());
        });
        Assert.Equal([Errno.None, Errno.ENOSPC, Errno.None], results);
        Assert.Equal(s_geometry.DataStart + 10, reused);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void CommittedAllocations_SurviveAPowerCut_ThroughJournalRecovery()
    {
        using var m = MachineFixture.Create(cpus: 2);
        var usedAfter = new List<bool>();
        m.Run(() =>
        {
            var (_, journal, alloc) = Mount(m, out var disk);
            var tx = journal.Begin();
            alloc.Allocate(tx, 5, s_geometry.DataStart + 40, out _, out _);
            Assert.Equal(Errno.None, tx.Commit());
            disk.PowerCut();
            var target = new BufTarget(disk, CompletionMode.Irq, s_geometry.BlockSize);
            Journal.Recover(target, s_geometry);
            var reopened = BlockAllocator.Open(target, s_geometry);
            usedAfter.AddRange(Enumerable.Range(38, 9).Select(i => reopened.IsUsed(s_geometry.DataStart + (ulong)i)));
        });
        Assert.Equal([false, false, true, true, true, true, true, false, false], usedAfter);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void Free_OfAFreeBlock_IsABug()
    {
        using var m = MachineFixture.Create(cpus: 2);
        Exception? failure = null;
        m.Run(() =>
        {
            var (_, journal, alloc) = Mount(m, out _);
            var tx = journal.Begin();
            failure = Record.Exception(() => alloc.Free(tx, s_geometry.DataStart + 3, 1));
            tx.Commit();
        });
        Assert.IsType<KernelBugException>(failure);
    }

    private static (BufTarget Target, Journal Journal, BlockAllocator Alloc) Mount(Machine m, out MemDisk disk)
    {
        disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = 8L << 20 });
        Mkfs.Format(disk, s_geometry, Guid.Empty);
        var target = new BufTarget(disk, CompletionMode.Irq, s_geometry.BlockSize);
        var journal = Journal.Recover(target, s_geometry);
        return (target, journal, BlockAllocator.Open(target, s_geometry));
    }
}
