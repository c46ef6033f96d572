using Writeback.Block;
using Writeback.Fs.Buffer;
using Writeback.Fs.Format;
using Writeback.Fs.Inode;
using Writeback.Fs.Journal;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Fs;

/// <summary>On-disk inodes: the record round trip, allocation and freeing in transactions,
/// survival through journal recovery, and checksum failures.</summary>
public class InodeTableTests
{
    private static readonly FsGeometry s_geometry = FsGeometry.For(8L << 20);

    [Fact]
    public void Record_RoundTrips_WithExtents()
    {
        var inode = new DiskInode
        {
            Number = 7, Mode = 0x81A4, Nlink = 2, Generation = 3, FileSize = 12345, AtimeNs = 1, MtimeNs = 2, CtimeNs = 3,
            Extents = [new Extent(0, 900, 4, ExtentState.Written), new Extent(10, 1200, 2, ExtentState.Unwritten)],
        };
        var slot = new byte[DiskInode.Size];
        inode.Encode(slot);
        Assert.Equal(Errno.None, DiskInode.Decode(slot, 7, out var back, out _));
        Assert.Equal(inode, back);
        slot[30] ^= 1;
        Assert.Equal(Errno.EBADMSG, DiskInode.Decode(slot, 7, out _, out var problem));
        Assert.Contains("checksum", problem, StringComparison.Ordinal);
        Assert.Equal(Errno.None, DiskInode.Decode(new byte[DiskInode.Size], 7, out var free, out _));
        Assert.Null(free);
    }

    [Fact]
    public void AllocatedInodes_SurviveAPowerCut_AndFreedOnesCanBeReused()
    {
        using var m = MachineFixture.Create(cpus: 2);
        var numbers = new List<ulong>();
        DiskInode? written = null;
        DiskInode? recovered = null;
        var usedAfter = 0;
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = 8L << 20 });
            Mkfs.Format(disk, s_geometry, Guid.Empty);
            var target = new BufTarget(disk, CompletionMode.Task, s_geometry.BlockSize);
            var journal = Journal.Recover(target, s_geometry);
            var table = InodeTable.Open(target, s_geometry);
            var tx = journal.Begin();
            for (var i = 0; i < 3; i++)
            {
                Assert.Equal(Errno.None, table.Allocate(tx, 0x81A4, m.NowNs, out var inode));
                numbers.Add(inode!.Number);
            }

            written = new DiskInode { Number = numbers[1], Mode = 0x81A4, Nlink = 1, FileSize = 4096, Extents = [new Extent(0, s_geometry.DataStart, 1, ExtentState.Written)] };
            table.Write(tx, written);
            table.Free(tx, numbers[0]);
            Assert.Equal(Errno.None, table.Read(numbers[1], out var inTx, out _, tx));
            Assert.Equal(written, inTx);
            Assert.Equal(Errno.None, tx.Commit());

            disk.PowerCut();
            var fresh = new BufTarget(disk, CompletionMode.Task, s_geometry.BlockSize);
            Journal.Recover(fresh, s_geometry);
            var reopened = InodeTable.Open(fresh, s_geometry);
            usedAfter = reopened.Used;
            Assert.Equal(Errno.None, reopened.Read(numbers[1], out recovered, out _));
            var tx2 = Journal.Recover(fresh, s_geometry).Begin();
            Assert.Equal(Errno.None, reopened.Allocate(tx2, 0x41ED, m.NowNs, out var again));
            Assert.Equal(numbers[0], again!.Number);
            tx2.Commit();
        });
        Assert.Equal([2UL, 3UL, 4UL], numbers); // inode 1 is the root directory mkfs made
        Assert.Equal(written, recovered);
        Assert.Equal(3, usedAfter);
        MachineFixture.AssertClean(m);
    }
}
