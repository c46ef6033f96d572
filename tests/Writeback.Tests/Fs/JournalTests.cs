using Writeback.Block;
using Writeback.Fs.Buffer;
using Writeback.Fs.Format;
using Writeback.Fs.Journal;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Fs;

/// <summary>The physical journal: committed transactions survive a power cut before checkpoint,
/// a torn one is ignored, and a crash at every flush boundary recovers to a committed prefix.</summary>
public class JournalTests
{
    private static readonly FsGeometry s_geometry = FsGeometry.For(8L << 20);

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void CommittedTransactions_SurviveAPowerCutBeforeCheckpoint(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        var values = new List<byte>();
        var replayed = -1;
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = 8L << 20 });
            var journal = Journal.Create(new BufTarget(disk, mode, s_geometry.BlockSize), s_geometry);
            var target = new BufTarget(disk, mode, s_geometry.BlockSize);
            journal = Journal.Recover(target, s_geometry);
            for (var t = 1; t <= 3; t++)
            {
                var tx = journal.Begin();
                var a = target.Get(s_geometry.DataStart + 1);
                var b = target.Get(s_geometry.DataStart + 2);
                a.Data[0] = (byte)t;
                b.Data[0] = (byte)(t * 10);
                tx.Join(a);
                tx.Join(b);
                Assert.Equal(Errno.None, tx.Commit());
                a.Relse();
                b.Relse();
            }

            disk.PowerCut();
            var fresh = new BufTarget(disk, mode, s_geometry.BlockSize);
            replayed = Journal.Recover(fresh, s_geometry).Replayed;
            foreach (var block in new[] { s_geometry.DataStart + 1, s_geometry.DataStart + 2 })
            {
                Assert.Equal(Errno.None, fresh.Read(block, null, out var bp));
                values.Add(bp!.Data[0]);
                bp.Relse();
            }
        });
        Assert.Equal(3, replayed);
        Assert.Equal([3, 30], values);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void ACrashAtEveryWriteOfTheLog_RecoversAPrefixOfTheCommittedTransactions()
    {
        // dm-log-writes style: rebuild the image after every logged write and recover it.
        using var m = MachineFixture.Create(cpus: 2);
        var problems = new List<string>();
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = 8L << 20 });
            Journal.Create(new BufTarget(disk, CompletionMode.Irq, s_geometry.BlockSize), s_geometry);
            var log = disk.StartWriteLog();
            var target = new BufTarget(disk, CompletionMode.Irq, s_geometry.BlockSize);
            var journal = Journal.Recover(target, s_geometry);
            var committedAt = new List<int>();
            for (var t = 1; t <= 4; t++)
            {
                var tx = journal.Begin();
                var bp = target.Get(s_geometry.DataStart + 5);
                bp.Data[0] = (byte)t;
                tx.Join(bp);
                Assert.Equal(Errno.None, tx.Commit());
                committedAt.Add(log.Entries.Count);
                bp.Relse();
            }

            var entries = log.Entries.Count;
            for (var n = 0; n <= entries; n++)
            {
                var image = log.Rebuild(n);
                var crashed = new MemDisk(BlockLayer.Create(m), new DiskOptions { Name = $"crash{n}", CapacityBytes = 8L << 20 }, image);
                var fresh = new BufTarget(crashed, CompletionMode.Irq, s_geometry.BlockSize);
                Journal.Recover(fresh, s_geometry);
                fresh.Read(s_geometry.DataStart + 5, null, out var bp);
                var value = bp!.Data[0];
                bp.Relse();
                // No checkpoint runs in this test, so the block's home is only ever written by
                // recovery: it must hold exactly the last committed transaction's value.
                var mustHave = committedAt.Count(c => c <= n);
                if (value != mustHave)
                {
                    problems.Add($"crash after {n} log entries: value {value}, {mustHave} transactions had committed");
                }

            }
        });
        Assert.Empty(problems);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void ManyTransactions_WrapTheLogThroughCheckpoints_AndTheLastStateSurvives()
    {
        using var m = MachineFixture.Create(cpus: 2);
        var values = new List<int>();
        long commits = 0;
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = 8L << 20 });
            Journal.Create(new BufTarget(disk, CompletionMode.Task, s_geometry.BlockSize), s_geometry);
            var target = new BufTarget(disk, CompletionMode.Task, s_geometry.BlockSize);
            var journal = Journal.Recover(target, s_geometry);
            for (var t = 1; t <= 200; t++)
            {
                var tx = journal.Begin();
                var held = new List<XfsBuf>();
                for (var k = 0; k < 4; k++)
                {
                    var bp = target.Get(s_geometry.DataStart + (ulong)((t + k) % 7));
                    BitConverter.GetBytes(t).CopyTo(bp.Data, 0);
                    tx.Join(bp);
                    held.Add(bp);
                }

                Assert.Equal(Errno.None, tx.Commit());
                held.ForEach(b => b.Relse());
            }

            commits = journal.Commits;
            disk.PowerCut();
            var fresh = new BufTarget(disk, CompletionMode.Task, s_geometry.BlockSize);
            Journal.Recover(fresh, s_geometry);
            for (ulong b = 0; b < 7; b++)
            {
                fresh.Read(s_geometry.DataStart + b, null, out var bp);
                values.Add(BitConverter.ToInt32(bp!.Data));
                bp.Relse();
            }
        });

        // Block (t + k) % 7 was last written by the latest t with some k in 0..3 hitting it.
        var expected = Enumerable.Range(0, 7).Select(b => Enumerable.Range(1, 200).Last(t => Enumerable.Range(0, 4).Any(k => (t + k) % 7 == b))).ToList();
        Assert.Equal(200, commits);
        Assert.Equal(expected, values);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void Begin_OutsideTaskContext_IsABug()
    {
        using var m = MachineFixture.Create(cpus: 2);
        Exception? failure = null;
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = 8L << 20 });
            var journal = Journal.Create(new BufTarget(disk, CompletionMode.Irq, s_geometry.BlockSize), s_geometry);
            var done = new Completion();
            m.RaiseIrq(1, "disk", () =>
            {
                failure = Record.Exception(() => journal.Begin());
                done.Complete();
            });
            done.WaitForCompletion();
        });
        Assert.IsType<KernelBugException>(failure);
    }
}
