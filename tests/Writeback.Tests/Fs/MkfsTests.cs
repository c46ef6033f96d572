using Writeback.Block;
using Writeback.Fs.Format;
using Writeback.Kernel;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Fs;

/// <summary>mkfs and the superblock: the geometry, the round trip, survival of a power cut and a
/// process restart, and a clear error for a device that does not hold a (current, intact) filesystem.</summary>
public class MkfsTests
{
    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    [InlineData(65536)]
    public void Format_ThenRead_GivesTheSameSuperblock_EvenAfterAPowerCut(int blockSize)
    {
        using var m = MachineFixture.Create(cpus: 2);
        Superblock? written = null;
        Superblock? read = null;
        var err = Errno.EIO;
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = 64L << 20 });
            written = Mkfs.Format(disk, FsGeometry.For(64L << 20, blockSize), new Guid(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
            disk.PowerCut();
            err = Mkfs.ReadSuperblock(disk, out read, out _);
        });
        Assert.Equal(Errno.None, err);
        Assert.Equal(written, read);
        Assert.Equal(written!.Geometry, read!.Geometry);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void Geometry_LaysOutLogBitmapInodesThenData()
    {
        var g = FsGeometry.For(64L << 20);
        Assert.Equal(16384UL, g.Blocks);
        Assert.Equal(1UL, g.LogStart);
        Assert.Equal(256UL, g.LogBlocks);
        Assert.Equal(257UL, g.BitmapStart);
        Assert.Equal(1UL, g.BitmapBlocks);
        Assert.Equal(258UL, g.InodeStart);
        Assert.Equal(4096UL, g.Inodes);
        Assert.Equal(258UL + 256, g.DataStart);
    }

    [Theory]
    [InlineData(1000, 4096)]
    [InlineData(64 << 20, 3000)]
    [InlineData(64 << 20, 131072)]
    public void Geometry_RejectsBadSizes_WithAClearMessage(long deviceBytes, int blockSize)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => FsGeometry.For(deviceBytes, blockSize));
        Assert.StartsWith("mkfs:", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadSuperblock_OfAnUnformattedDevice_SaysItIsNotAWritebackFilesystem()
    {
        var (err, problem) = ReadAfter(_ => { });
        Assert.Equal(Errno.EINVAL, err);
        Assert.Contains("not a Writeback filesystem", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadSuperblock_OfANewerVersion_SaysSo()
    {
        var (err, problem) = ReadAfter(disk => WriteSector0(disk, sb => sb with { Version = Superblock.CurrentVersion + 1 }));
        Assert.Equal(Errno.EINVAL, err);
        Assert.Contains("newer than this tool's", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadSuperblock_WithAFlippedByte_ReportsTheChecksum()
    {
        var (err, problem) = ReadAfter(disk => WriteSector0(disk, sb => sb, corrupt: 20));
        Assert.Equal(Errno.EBADMSG, err);
        Assert.Contains("checksum mismatch", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void FileDisk_FormattedThenReopened_StillHoldsTheFilesystem()
    {
        var path = Path.Combine(Path.GetTempPath(), $"wb-mkfs-{Guid.NewGuid():N}.img");
        try
        {
            Superblock? written = null;
            using (var m = MachineFixture.Create(cpus: 2))
            {
                m.Run(() =>
                {
                    using var disk = new FileDisk(BlockLayer.Create(m), path, new DiskOptions { CapacityBytes = 16L << 20 });
                    written = Mkfs.Format(disk, FsGeometry.For(16L << 20), Guid.Empty);
                });
            }

            Superblock? read = null;
            using (var m = MachineFixture.Create(cpus: 2))
            {
                m.Run(() =>
                {
                    using var disk = new FileDisk(BlockLayer.Create(m), path);
                    Assert.Equal(Errno.None, Mkfs.ReadSuperblock(disk, out read, out _));
                });
            }

            Assert.Equal(written, read);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static (Errno Err, string Problem) ReadAfter(Action<MemDisk> prepare)
    {
        using var m = MachineFixture.Create(cpus: 2);
        var err = Errno.None;
        string? problem = null;
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = 16L << 20 });
            prepare(disk);
            err = Mkfs.ReadSuperblock(disk, out _, out problem);
        });
        MachineFixture.AssertClean(m);
        return (err, problem ?? "");
    }

    private static void WriteSector0(MemDisk disk, Func<Superblock, Superblock> change, int corrupt = -1)
    {
        var sb = change(new Superblock { Geometry = FsGeometry.For(16L << 20) });
        var block = new byte[512];
        sb.Encode(block);
        if (corrupt >= 0)
        {
            block[corrupt] ^= 0x40;
        }

        var done = new Completion();
        var bio = new Bio(disk, BioOp.Write) { EndIoHandler = _ => done.Complete() };
        bio.AddVec(block);
        bio.Submit();
        done.WaitForCompletion();
    }
}
