using System.Buffers.Binary;
using Writeback.Block;
using Writeback.Fs.Buffer;
using Writeback.Kernel;
using Writeback.Lib;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Fs;

/// <summary>The metadata buffer cache: verified reads and writes, asynchronous completion on the
/// buffer workqueue in IRQ mode and inline in task mode, and what reclaim may and may not evict.</summary>
public class BufTargetTests
{
    /// <summary>A block whose first four bytes are the CRC-32C of the rest.</summary>
    private sealed class CrcVerifier : IBufVerifier
    {
        public string Name => "crc";

        public Errno VerifyRead(XfsBuf buffer) =>
            BinaryPrimitives.ReadUInt32LittleEndian(buffer.Data) == Crc32c.Compute(buffer.Data.AsSpan(4)) ? Errno.None : Errno.EBADMSG;

        public Errno VerifyWrite(XfsBuf buffer)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(buffer.Data, Crc32c.Compute(buffer.Data.AsSpan(4)));
            return Errno.None;
        }
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void AsyncWrites_CompleteOnTheWorkqueueInIrqMode_InlineInTaskMode_AndReadBackVerified(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        long workItems = -1;
        long deferred = -1;
        var readBack = new List<byte>();
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m);
            var disk = new MemDisk(layer, new DiskOptions { CapacityBytes = 1 << 20 });
            var target = new BufTarget(disk, mode);
            var verifier = new CrcVerifier();
            for (ulong b = 0; b < 8; b++)
            {
                var bp = target.Get(b);
                bp.Verifier = verifier;
                bp.Data[100] = (byte)(b + 1);
                bp.MarkDirty();
                bp.Relse();
            }

            Assert.Equal(Errno.None, target.FlushDirty());
            workItems = target.WorkqueueItems;
            deferred = layer.Stats().Deferred;

            // A fresh cache reads the blocks from the disk and verifies them.
            var cold = new BufTarget(disk, mode);
            for (ulong b = 0; b < 8; b++)
            {
                Assert.Equal(Errno.None, cold.Read(b, verifier, out var bp));
                readBack.Add(bp!.Data[100]);
                bp.Relse();
            }
        });
        Assert.Equal(mode == CompletionMode.Irq ? 8 : 0, workItems);
        Assert.Equal(mode == CompletionMode.Task ? 8 : 0, deferred);
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8], readBack);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void Read_OfACorruptedBlock_ReportsTheBadChecksum()
    {
        using var m = MachineFixture.Create(cpus: 2);
        var err = Errno.None;
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m);
            var disk = new MemDisk(layer, new DiskOptions { CapacityBytes = 1 << 20 });
            var target = new BufTarget(disk, CompletionMode.Irq);
            var bp = target.Get(3);
            bp.Verifier = new CrcVerifier();
            bp.Data[10] = 42;
            Assert.Equal(Errno.None, target.WriteSync(bp));
            bp.Relse();

            // Flip a byte on the media, then read it through a fresh cache.
            var raw = new Bio(disk, BioOp.Write) { Sector = 3 * 8 + 1, EndIoHandler = _ => { } };
            raw.AddVec(Enumerable.Repeat((byte)0xFF, 512).ToArray());
            var done = new Completion();
            raw.EndIoHandler = _ => done.Complete();
            raw.Submit();
            done.WaitForCompletion();
            err = new BufTarget(disk, CompletionMode.Irq).Read(3, new CrcVerifier(), out _);
        });
        Assert.Equal(Errno.EBADMSG, err);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void Reclaim_EvictsOnlyCleanUnreferencedBuffers_AndCountsRereads()
    {
        using var m = MachineFixture.Create(cpus: 2);
        (int Indexed, int Reclaimable) counts = default;
        long evictions = 0;
        long rereads = 0;
        var heldStillThere = false;
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m);
            var disk = new MemDisk(layer, new DiskOptions { CapacityBytes = 1 << 20 });
            var target = new BufTarget(disk, CompletionMode.Task, reclaimableLimitBytes: 4 * 4096);
            var held = target.Get(100);
            held.MarkDirty();
            for (ulong b = 0; b < 10; b++)
            {
                Assert.Equal(Errno.None, target.Read(b, null, out var bp));
                bp!.Relse();
            }

            counts = target.Count;
            evictions = target.Evictions;
            Assert.Equal(Errno.None, target.Read(0, null, out var again));
            again!.Relse();
            rereads = target.Rereads;
            held.Relse();

            // Released but dirty: it stays in the index, never in the reclaimable tier.
            target.Shrink(0);
            heldStillThere = target.Count.Indexed == 1 && held.Test(BufFlags.Dirty);
        });
        Assert.Equal((1, 4), counts);
        Assert.Equal(6, evictions);
        Assert.Equal(1, rereads);
        Assert.True(heldStillThere);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void Reclaim_EvictsTheLeastRecentlyUsedFirst()
    {
        using var m = MachineFixture.Create(cpus: 2);
        var rereads = new List<long>();
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m);
            var disk = new MemDisk(layer, new DiskOptions { CapacityBytes = 1 << 20 });
            var target = new BufTarget(disk, CompletionMode.Task, reclaimableLimitBytes: 4 * 4096);
            void Touch(ulong b)
            {
                Assert.Equal(Errno.None, target.Read(b, null, out var bp));
                bp!.Relse();
            }

            for (ulong b = 0; b < 4; b++)
            {
                Touch(b);
            }

            Touch(0);
            Touch(4);
            Touch(0);
            rereads.Add(target.Rereads);
            Touch(1);
            rereads.Add(target.Rereads);
        });

        // Block 0 was used again just before block 4 arrived, so block 1 went instead.
        Assert.Equal([0L, 1L], rereads);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void FailedAsyncWrite_ReportsTheErrorAndKeepsTheBufferDirty()
    {
        using var m = MachineFixture.Create(cpus: 2);
        var err = Errno.None;
        var stillDirty = false;
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m);
            var disk = new MemDisk(layer, new DiskOptions { CapacityBytes = 1 << 20 });
            var target = new BufTarget(disk, CompletionMode.Irq);
            var bp = target.Get(5);
            bp.MarkDirty();
            bp.Relse();
            disk.AddFault(new FaultRule { Op = BioOp.Write, Count = 1 });
            err = target.FlushDirty();
            stillDirty = target.Get(5) is var again && again.Test(BufFlags.Dirty);
            again.Relse();
        });
        Assert.Equal(Errno.EIO, err);
        Assert.True(stillDirty);
        MachineFixture.AssertClean(m);
    }
}
