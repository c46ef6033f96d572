using Writeback.Block;
using Writeback.Fs;
using Writeback.Fs.Format;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Fs;

/// <summary>The file API end to end: buffered and direct I/O through iomap, writeback with its
/// completion in each mode, fsync, remount.</summary>
public class FileSystemTests
{
    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void BufferedWrite_Fsync_Remount_ReadsBack_AndTheCompletionWorkGoesWhereTheModeSays(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        FsStats? stats = null;
        m.Run(() =>
        {
            var (disk, cache, fs) = FsFixture.Fresh(m, mode);
            Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.Create, out var f));
            var data = FsFixture.Pattern(1, 300_000);
            Assert.Equal(Errno.None, f!.Write(0, data, out var written));
            Assert.Equal(data.Length, written);
            Assert.Equal(data.Length, f.Size);
            Assert.Equal(0, f.Inode.DiskSize);
            Assert.Equal(Errno.None, f.Fsync());
            Assert.Equal(data.Length, f.Inode.DiskSize);
            Assert.All(f.Inode.Extents, e => Assert.Equal(Writeback.Fs.Inode.ExtentState.Written, e.State));

            var back = new byte[data.Length + 100];
            Assert.Equal(Errno.None, f.Read(0, back, out var read));
            Assert.Equal(data.Length, read);
            Assert.Equal(data, back[..read]);
            Assert.Equal(Errno.None, f.Close());
            stats = fs.Stats;

            Assert.Equal(Errno.None, fs.Unmount());
            disk.PowerCut();
            Assert.Equal(Errno.None, FileSystem.Mount(disk, cache, out var again, out _));
            Assert.Equal(Errno.None, again!.Open("/f", OpenFlags.None, out var g));
            Assert.Equal(data.Length, g!.Size);
            Array.Clear(back);
            Assert.Equal(Errno.None, g.Read(0, back, out read));
            Assert.Equal(data, back[..read]);
            Assert.Equal(Errno.None, g.Close());
            Assert.Empty(Writeback.Fs.Fsck.Check(again.Meta));
        });
        Assert.True(stats!.Ioends > 0);
        Assert.True(stats.IoendsWithCompletionWork > 0);
        if (mode == CompletionMode.Irq)
        {
            Assert.True(stats.ConvWorkqueueItems > 0);
            Assert.Equal(stats.IoendsWithCompletionWork, stats.IoendListItems);
        }
        else
        {
            Assert.Equal(0, stats.ConvWorkqueueItems);
            Assert.Equal(0, stats.IoendListItems);
        }

        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void DirectWrites_IntoAHole_AndOverwrites_ReadBackThroughBothPaths(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var (_, _, fs) = FsFixture.Fresh(m, mode);
            Assert.Equal(Errno.None, fs.Open("/d", OpenFlags.Create | OpenFlags.Direct, out var d));
            var data = FsFixture.Pattern(2, 64 * 1024);
            Assert.Equal(Errno.EINVAL, d!.Write(100, data, out _));
            Assert.Equal(Errno.None, d.Write(0, data, out var written));
            Assert.Equal(data.Length, written);
            Assert.Equal(data.Length, d.Size);
            Assert.Equal(data.Length, d.Inode.DiskSize);

            // An asynchronous pure overwrite.
            var over = FsFixture.Pattern(3, 8192);
            var done = new Completion();
            var result = Errno.EIO;
            Assert.Equal(Errno.None, d.WriteDirectAsync(4096, over, (e, _) =>
            {
                result = e;
                done.Complete();
            }));
            done.WaitForCompletion();
            Assert.Equal(Errno.None, result);
            over.CopyTo(data, 4096);

            Assert.Equal(Errno.None, fs.Open("/d", OpenFlags.None, out var buffered));
            var back = new byte[data.Length];
            Assert.Equal(Errno.None, buffered!.Read(0, back, out var read));
            Assert.Equal(data, back[..read]);
            Array.Clear(back);
            Assert.Equal(Errno.None, d.Read(0, back, out read));
            Assert.Equal(data, back[..read]);
            Assert.Equal(Errno.None, buffered.Close());
            Assert.Equal(Errno.None, d.Close());
            if (mode == CompletionMode.Task)
            {
                Assert.Equal(0, fs.Stats.DioWorkqueueItems);
            }
        });
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void LargeWrites_MakeLargeFolios_AndPartialOperationsOnThemKeepTheRest(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var (_, _, fs) = FsFixture.Fresh(m, mode);
            Assert.Equal(Errno.None, fs.Open("/big", OpenFlags.Create, out var f));
            var model = FsFixture.Pattern(5, 1 << 20);
            Assert.Equal(Errno.None, f!.Write(0, model, out _));
            var orders = f.Aops.Mapping.Pages.Entries().Select(e => e.Entry.Order).Distinct().ToList();
            Assert.Equal([Writeback.Fs.Iomap.IomapBufferedIo.MaxFolioOrder], orders);

            // A small overwrite, a hole punched and a direct write, each inside one large folio.
            var small = FsFixture.Pattern(6, 3000);
            Assert.Equal(Errno.None, f.Write(70_000, small, out _));
            small.CopyTo(model, 70_000);
            Assert.Equal(Errno.None, f.PunchHole(200_000, 10_000));
            Array.Clear(model, 200_000, 10_000);
            Assert.Equal(Errno.None, fs.Open("/big", OpenFlags.Direct, out var d));
            var direct = FsFixture.Pattern(7, 8192);
            Assert.Equal(Errno.None, d!.Write(401_408, direct, out _));
            direct.CopyTo(model, 401_408);
            Assert.Equal(Errno.None, f.Truncate(900_001));
            Array.Clear(model, 900_001, model.Length - 900_001);

            void Check(string when)
            {
                var back = new byte[1 << 20];
                Assert.Equal(Errno.None, f.Read(0, back, out var read));
                Assert.Equal(900_001, read);
                var bad = Enumerable.Range(0, read).FirstOrDefault(i => back[i] != model[i], -1);
                Assert.True(bad < 0, $"{when}: byte {bad} reads {(bad < 0 ? 0 : back[bad])}, model {(bad < 0 ? 0 : model[bad])}");
            }

            Check("cached");
            Assert.Equal(Errno.None, f.Fsync());
            fs.DropCaches();
            Check("after fsync and drop_caches");
            Assert.Equal(Errno.None, d.Close());
            Assert.Equal(Errno.None, f.Close());
            Assert.Empty(Writeback.Fs.Fsck.Check(fs.Meta));
        });
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void AShortBufferedWrite_GivesBackTheDelallocItDidNotReach(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var (disk, _, fs) = FsFixture.Fresh(m, mode);
            Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.Create, out var f));
            Assert.Equal(Errno.None, f!.Write(0, FsFixture.Pattern(8, 4096), out _));
            Assert.Equal(Errno.None, f.Fsync());
            fs.DropCaches();
            var block = f.Inode.Extents[0].DiskBlock;
            Assert.Equal(0, fs.Meta.Allocator.ReservedBlocks);

            // The write starts inside block 0, which must be read first — and the read fails.
            disk.AddFault(new FaultRule { Op = BioOp.Read, FirstSector = block * 8, LastSector = (block * 8) + 7, Count = 1 });
            Assert.Equal(Errno.EIO, f.Write(2048, new byte[64 * 1024], out var written));
            Assert.Equal(0, written);
            Assert.Equal(0, fs.Meta.Allocator.ReservedBlocks);
            Assert.DoesNotContain(f.Inode.Extents, e => e.State == Writeback.Fs.Inode.ExtentState.Delalloc);
            Assert.Equal(4096, f.Size);
            Assert.Equal(Errno.None, f.Close());
            Assert.Empty(Writeback.Fs.Fsck.Check(fs.Meta));
        });
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void BadInput_IsAClearError_AndChangesNothing()
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var (_, _, fs) = FsFixture.Fresh(m, CompletionMode.Irq);
            Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.Create, out var f));
            var data = FsFixture.Pattern(4, 10_000);
            Assert.Equal(Errno.None, f!.Write(0, data, out _));
            Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.Direct, out var d));
            var errors = new List<Errno>
            {
                f.Write(-1, data, out _),
                f.Read(-5, new byte[10], out _),
                f.Write(FsFile.MaxFileSize - 10, data, out _),
                f.Write(long.MaxValue - 1, new byte[4], out _),
                f.Truncate(-1),
                f.Truncate(FsFile.MaxFileSize + 1),
                f.Fallocate(0, 0),
                f.PunchHole(-1, 10),
                d!.Write(100, new byte[4096], out _),
                d.Write(0, new byte[100], out _),
                d.Read(512, new byte[4096], out _),
                f.WriteDirectAsync(0, new byte[4096], (_, _) => { }),
                fs.Open("/", OpenFlags.None, out _),
                fs.Open("/missing", OpenFlags.None, out _),
                fs.Open("/f", OpenFlags.Create | OpenFlags.Exclusive, out _),
            };
            Assert.Equal(Errno.None, d.Close());
            Assert.Equal(Errno.EBADF, d.Close());
            errors.Add(d.Write(0, new byte[4096], out _));
            errors.Add(d.Fsync());
            Assert.Equal(
                [Errno.EINVAL, Errno.EINVAL, Errno.EFBIG, Errno.EFBIG, Errno.EINVAL, Errno.EFBIG, Errno.EINVAL, Errno.EINVAL,
                 Errno.EINVAL, Errno.EINVAL, Errno.EINVAL, Errno.EINVAL, Errno.EISDIR, Errno.ENOENT, Errno.EEXIST,
                 Errno.EBADF, Errno.EBADF],
                errors);

            // Nothing changed.
            Assert.Equal(data.Length, f.Size);
            var back = new byte[data.Length];
            Assert.Equal(Errno.None, f.Read(0, back, out var read));
            Assert.Equal(data.Length, read);
            Assert.Equal(data, back);
            Assert.Equal(Errno.None, f.Close());
            Assert.Empty(Writeback.Fs.Fsck.Check(fs.Meta));
        });
        MachineFixture.AssertClean(m);
    }
}
