using Writeback.Block;
using Writeback.Fs;
using Writeback.Fs.Format;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;
using Writeback.Workloads.Torture;

namespace Writeback.Tests.Fs;

/// <summary>The fsx-style oracle (<see cref="OracleRun"/>, in the library since it became
/// <c>wbsim torture</c>): seeded random sequences of file operations — buffered, direct and
/// dontcache reads and writes of any alignment, truncate, fallocate, punch hole, fsync, close and
/// reopen, drop caches, sync, unmount and mount — on a few files, checked after every step against
/// a byte array and a size per file, in both completion modes and every task-completion variant;
/// and the regressions it found.</summary>
/// <remarks>The rows run the classic mix (<see cref="OracleMix.Classic"/>), whose sequences are
/// the ones these seeds drew before the oracle moved, so that the seeds that found the bugs below
/// keep replaying them; the full mix (appends, rename, unlink) runs in TortureTests. A failure
/// prints the violation: what, the seed, the settings, the last operations and the
/// <c>wbsim torture</c> command that replays it (FSX_FULL_LOG=1 lists every operation). The seed
/// also picks the setting: 512-byte blocks when seed % 3 == 2 (4096 otherwise), injected
/// interrupts when seed % 3 == 0, tight dirty limits (background writeback and throttling) for
/// even seeds.</remarks>
public class FsxTests
{
    public static TheoryData<CompletionMode, TaskCompletionVariant, ulong> Runs
    {
        get
        {
            var data = new TheoryData<CompletionMode, TaskCompletionVariant, ulong>();
            for (var seed = 1UL; seed <= 6; seed++)
            {
                // The variant only matters in task mode.
                data.Add(CompletionMode.Irq, TaskCompletionVariant.Merged, seed);
            }

            foreach (var variant in Enum.GetValues<TaskCompletionVariant>())
            {
                for (var seed = 1UL; seed <= 3; seed++)
                {
                    data.Add(CompletionMode.Task, variant, seed);
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void RandomOperations_ReadBackExactlyWhatTheByteArrayModelHolds(CompletionMode mode, TaskCompletionVariant variant, ulong seed)
    {
        var options = new TortureOptions
        {
            Completion = mode,
            Variant = variant,
            Mix = OracleMix.Classic,
            LogTail = Environment.GetEnvironmentVariable("FSX_FULL_LOG") == "1" ? int.MaxValue : 30,
        };
        var run = new OracleRun(options, seed).Execute();
        Assert.True(run.IsClean, run.Violation?.Text);
        if (mode == CompletionMode.Task)
        {
            Assert.Equal(0, run.ConvWorkqueueItems);
            Assert.Equal(0, run.DioWorkqueueItems);
        }
        else
        {
            Assert.True(run.BufferedBytesWritten > 0, $"seed {seed}: the run wrote nothing through the cache");
            Assert.True(run.ConvWorkqueueItems > 0, $"seed {seed}: buffered writes into new blocks queued no xfs-conv work in IRQ mode");
        }
    }

    // Found by the oracle (seed 2, every mode and variant): with blocks smaller than a page, a
    // direct write of one block into a cached folio left the folio cached and uptodate with that
    // block zeroed, so buffered reads saw zeros instead of the written data.
    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void DirectWrite_OfOneSmallBlockInACachedFolio_IsSeenByABufferedRead(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var fs = SmallBlockFs(m, mode);
            Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.Create, out var f));
            var expected = Fill(4096, 0xa1);
            Assert.Equal(Errno.None, f!.Write(0, expected, out _));
            Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.Direct, out var d));
            var block = Fill(512, 0xb2);
            Assert.Equal(Errno.None, d!.Write(512, block, out _));
            block.CopyTo(expected, 512);

            var back = new byte[4096];
            Assert.Equal(Errno.None, f.Read(0, back, out var read));
            Assert.Equal(4096, read);
            Assert.Equal(expected, back);
            Assert.Equal(Errno.None, d.Close());
            Assert.Equal(Errno.None, f.Close());
        });
        MachineFixture.AssertClean(m);
    }

    // Found with the one above: with blocks smaller than a page, a hole punched wholly past EOF
    // but starting in the EOF block zeroed the cached EOF block's data below EOF too.
    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void PunchHole_PastEofInTheEofBlock_KeepsTheDataBelowEof(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var fs = SmallBlockFs(m, mode);
            Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.Create, out var f));
            // Eight 512-byte blocks, the last one partly: the folio is uptodate, EOF is at 4000.
            var expected = Fill(4000, 0xc3);
            Assert.Equal(Errno.None, f!.Write(0, expected, out _));
            Assert.Equal(Errno.None, f.PunchHole(4010, 90));
            Assert.Equal(4000, f.Size);

            var back = new byte[4000];
            Assert.Equal(Errno.None, f.Read(0, back, out var read));
            Assert.Equal(4000, read);
            Assert.Equal(expected, back);
            Assert.Equal(Errno.None, f.Close());
        });
        MachineFixture.AssertClean(m);
    }

    // Found by the oracle (task mode, seeds 1 and 3, every variant): a writeback completion's
    // transaction (unwritten conversion, on-disk size) that fills the log checkpoints inside the
    // bio task-completion worker, and the checkpoint waits for asynchronous buffer writes whose
    // flagged completions are queued behind it on that same worker: the machine deadlocks.
    [Theory]
    [InlineData(CompletionMode.Irq, TaskCompletionVariant.Merged)]
    [InlineData(CompletionMode.Task, TaskCompletionVariant.Merged)]
    [InlineData(CompletionMode.Task, TaskCompletionVariant.V4)]
    [InlineData(CompletionMode.Task, TaskCompletionVariant.V5)]
    [InlineData(CompletionMode.Task, TaskCompletionVariant.Cpumask)]
    public void AppendsWithFsync_FillingASmallLog_CheckpointWithoutDeadlock(CompletionMode mode, TaskCompletionVariant variant)
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m, new BlockLayerOptions { Variant = variant, Checked = true }), new DiskOptions { CapacityBytes = 8L << 20 });
            FileSystem.Mkfs(disk, FsGeometry.For(8L << 20, logBlocks: 64), mode);
            var cache = PageCache.Create(m, new PageCacheOptions { Mode = mode });
            Assert.Equal(Errno.None, FileSystem.Mount(disk, cache, out var fs, out _));
            Assert.Equal(Errno.None, fs!.Open("/f", OpenFlags.Create, out var f));
            var block = Fill(4096, 0xd4);
            for (var i = 0; i < 100; i++)
            {
                // Each append's writeback completion converts its blocks and raises the on-disk
                // size in a transaction; the log fills every few dozen of them.
                Assert.Equal(Errno.None, f!.Write(i * 4096L, block, out _));
                Assert.Equal(Errno.None, f.Fsync());
            }

            Assert.Equal(100 * 4096L, f!.Inode.DiskSize);
            Assert.Equal(Errno.None, f.Close());
        });
        MachineFixture.AssertClean(m);
    }

    private static FileSystem SmallBlockFs(Machine m, CompletionMode mode)
    {
        var disk = new MemDisk(BlockLayer.Create(m, new BlockLayerOptions { Checked = true }), new DiskOptions { CapacityBytes = 8L << 20 });
        FileSystem.Mkfs(disk, FsGeometry.For(8L << 20, blockSize: 512), mode);
        var cache = PageCache.Create(m, new PageCacheOptions { Mode = mode });
        Assert.Equal(Errno.None, FileSystem.Mount(disk, cache, out var fs, out var problem));
        Assert.Null(problem);
        return fs!;
    }

    private static byte[] Fill(int length, int seed)
    {
        var data = new byte[length];
        for (var i = 0; i < length; i++)
        {
            data[i] = (byte)(seed + (i * 7) + (i >> 8) + 1);
        }

        return data;
    }
}
