using Writeback.Block;
using Writeback.Fs.Alloc;
using Writeback.Fs.Buffer;
using Writeback.Fs.Dir;
using Writeback.Fs.Format;
using Writeback.Fs.Inode;
using Writeback.Fs.Journal;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Fs;

/// <summary>Directory entries: add, look up, list, remove, the name errors, growth past a block,
/// and survival through journal recovery.</summary>
public class DirectoryBlocksTests
{
    private static readonly FsGeometry s_geometry = FsGeometry.For(8L << 20, blockSize: 512);

    [Fact]
    public void Entries_AddLookUpListRemove_AcrossSeveralBlocks_AndSurviveAPowerCut()
    {
        using var m = MachineFixture.Create(cpus: 2);
        var listed = new List<string>();
        var afterCut = new List<string>();
        var errors = new List<Errno>();
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = 8L << 20 });
            Mkfs.Format(disk, s_geometry, Guid.Empty);
            var (journal, table, dirs) = Open(disk);
            var tx = journal.Begin();
            table.Allocate(tx, 0x41ED, 0, out var dir);
            tx.Commit();

            // 60 names of ~20 bytes need about three 512-byte blocks.
            for (var i = 0; i < 60; i++)
            {
                var t = journal.Begin();
                table.Read(dir!.Number, out dir, out _);
                Assert.Equal(Errno.None, dirs.Add(t, dir!, $"file-number-{i:D4}", 100 + (ulong)i, out _));
                Assert.Equal(Errno.None, t.Commit());
            }

            table.Read(dir!.Number, out dir, out _);
            var tx2 = journal.Begin();
            errors.Add(dirs.Add(tx2, dir!, "file-number-0007", 5, out _));
            errors.Add(dirs.Add(tx2, dir!, new string('x', 256), 5, out _));
            errors.Add(dirs.Remove(tx2, dir!, "file-number-0003"));
            errors.Add(dirs.Remove(tx2, dir!, "no-such-name"));
            tx2.Commit();
            errors.Add(dirs.Lookup(dir!, "file-number-0042", out var ino));
            Assert.Equal(142UL, ino);
            listed.AddRange(dirs.List(dir!).Select(e => e.Name));

            disk.PowerCut();
            var (_, table2, dirs2) = Open(disk);
            table2.Read(dir!.Number, out var dirAfter, out _);
            afterCut.AddRange(dirs2.List(dirAfter!).Select(e => e.Name));
        });
        Assert.Equal([Errno.EEXIST, Errno.ENAMETOOLONG, Errno.None, Errno.ENOENT, Errno.None], errors);
        Assert.Equal(59, listed.Count);
        Assert.DoesNotContain("file-number-0003", listed);
        Assert.Equal(listed, afterCut);
        MachineFixture.AssertClean(m);
    }

    private static (Journal Journal, InodeTable Table, DirectoryBlocks Dirs) Open(MemDisk disk)
    {
        var target = new BufTarget(disk, CompletionMode.Irq, s_geometry.BlockSize);
        var journal = Journal.Recover(target, s_geometry);
        var table = InodeTable.Open(target, s_geometry);
        var alloc = BlockAllocator.Open(target, s_geometry);
        return (journal, table, new DirectoryBlocks(target, s_geometry, table, alloc));
    }
}
