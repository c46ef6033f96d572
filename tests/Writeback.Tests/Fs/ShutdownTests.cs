using System.Runtime.ExceptionServices;
using Writeback.Block;
using Writeback.Fs;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Fs;

/// <summary>Filesystem shutdown (XFS's xfs_force_shutdown and the godown ioctl), in both
/// completion modes: a failed metadata write — a log write, a checkpoint's write home or flush, a
/// writeback completion's transaction — or <see cref="FileSystem.Shutdown"/> stops the
/// filesystem; every operation after it returns EIO and nothing more reaches the device; closing
/// files and unmounting still work and drop everything cached; and after a power cut the next
/// mount recovers exactly the last committed state, which checks clean. Also: metadata bios carry
/// REQ_META, which is what lets a fault rule aim at them.</summary>
public class ShutdownTests
{
    private const int Kib = 1024;

    public static TheoryData<CompletionMode, string> Operations()
    {
        var data = new TheoryData<CompletionMode, string>();
        foreach (var mode in new[] { CompletionMode.Irq, CompletionMode.Task })
        {
            foreach (var op in new[] { "create", "mkdir", "rename", "rename-over", "unlink", "link", "truncate", "fallocate" })
            {
                data.Add(mode, op);
            }
        }

        return data;
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void MetadataBios_CarryReqMeta_AndFileDataBiosDoNot(CompletionMode mode)
    {
        OnMachine(m =>
        {
            var (disk, fs) = Fresh(m, mode);
            var log = disk.StartWriteLog();
            Assert.Equal(Errno.None, fs.Meta.Mkdir("/d"));
            Assert.Equal(Errno.None, fs.Open("/d/f", OpenFlags.Create, out var f));
            Assert.Equal(Errno.None, f!.Write(0, FsFixture.Pattern(1, 64 * Kib), out _));
            Assert.Equal(Errno.None, f.Fsync());
            Assert.Equal(Errno.None, fs.Meta.Journal.Checkpoint());
            var spb = (ulong)(f.Inode.BlockSize / BlockDevice.SectorSize);
            var data = f.Inode.Extents.Select(e => (First: e.DiskBlock * spb, End: (e.DiskBlock + e.Length) * spb)).ToList();
            Assert.Equal(Errno.None, f.Close());

            var writes = log.Entries.Where(e => e.Kind == WriteLogEntryKind.Write).ToList();
            var isData = writes.ToLookup(w => data.Any(r => w.Sector >= r.First && w.Sector < r.End));
            Assert.NotEmpty(isData[true]);
            Assert.NotEmpty(isData[false]);
            Assert.All(isData[true], w => Assert.False((w.Flags & BioOpFlags.Meta) != 0, $"a file data write at sector {w.Sector} carries REQ_META"));
            Assert.All(isData[false], w => Assert.True((w.Flags & BioOpFlags.Meta) != 0, $"a metadata write at sector {w.Sector} lacks REQ_META"));
            Assert.Equal(Errno.None, fs.Unmount());
        });
    }

    [Theory]
    [MemberData(nameof(Operations))]
    public void OneShotMetadataWriteFault_FailsTheOperationWithEio_ShutsDown_AndRecoveryGivesThePreOperationState(CompletionMode mode, string op)
    {
        OnMachine(m =>
        {
            var (disk, fs) = Fresh(m, mode);
            Populate(fs);
            var before = Snapshot(fs);
            Assert.Equal(Errno.None, fs.Open("/d/a", OpenFlags.None, out var a));
            Assert.Equal(Errno.None, fs.Open("/b", OpenFlags.None, out var b));

            disk.AddFault(new FaultRule { Op = BioOp.Write, Metadata = true, Count = 1 });
            var err = op switch
            {
                "create" => fs.Meta.Create("/d/new"),
                "mkdir" => fs.Meta.Mkdir("/e/sub"),
                "rename" => fs.Meta.Rename("/d/a", "/e/a2"),
                "rename-over" => fs.Meta.Rename("/b", "/d/a"),
                "unlink" => fs.Meta.Unlink("/b"),
                "link" => fs.Meta.Link("/b", "/e/b2"),
                "truncate" => a!.Truncate(16 * Kib),
                _ => a!.Fallocate(40 * Kib, 64 * Kib),
            };
            Assert.Equal(Errno.EIO, err);
            Assert.True(fs.IsShutdown);
            Assert.Equal(1, disk.FaultsInjected);
            Assert.Contains("shut down", m.Dmesg, StringComparison.Ordinal);

            var completed = disk.Completed;
            AssertEverythingFails(fs, b!);
            Assert.Equal(Errno.None, a!.Close());
            Assert.Equal(Errno.None, b!.Close());
            Assert.Equal(Errno.None, fs.Unmount());
            Assert.Equal(completed, disk.Completed);
            AssertDropped(fs);

            var again = PowerCutAndMount(m, mode, disk);
            Assert.Equal(before, Snapshot(again));
            Assert.Equal(Errno.None, again.Unmount());
        });
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void ExplicitShutdown_WithDirtyData_WritesNothing_CleansTheFoliosWithEio_AndTheLastCloseOfAnUnlinkedFileFreesNothing(CompletionMode mode)
    {
        OnMachine(m =>
        {
            var (disk, fs) = Fresh(m, mode);
            Populate(fs);
            Assert.Equal(Errno.None, fs.Open("/d/c", OpenFlags.None, out var orphan));
            Assert.Equal(Errno.None, orphan!.Write(0, FsFixture.Pattern(9, 24 * Kib), out _));
            Assert.Equal(Errno.None, orphan.Fsync());
            Assert.Equal(Errno.None, fs.Meta.Unlink("/d/c"));
            Assert.True(fs.Meta.IsHeldOrphan(orphan.Inode.Number));
            var before = Snapshot(fs);

            // Dirty data of every kind: an overwrite, an append into new blocks, a new file.
            Assert.Equal(Errno.None, fs.Open("/d/a", OpenFlags.None, out var a));
            Assert.Equal(Errno.None, a!.Write(4 * Kib, FsFixture.Pattern(10, 8 * Kib), out _));
            Assert.Equal(Errno.None, fs.Open("/b", OpenFlags.None, out var b));
            Assert.Equal(Errno.None, b!.Write(20 * Kib, FsFixture.Pattern(11, 100 * Kib), out _));
            Assert.Equal(Errno.None, fs.Open("/e/fresh", OpenFlags.Create, out var fresh));
            Assert.Equal(Errno.None, fresh!.Write(0, FsFixture.Pattern(12, 16 * Kib), out _));
            before["/e/fresh"] = Describe([]);
            Assert.True(fs.Cache.NrDirty > 0);

            var completed = disk.Completed;
            Assert.True(fs.Shutdown());
            Assert.False(fs.Shutdown());
            Assert.True(fs.IsShutdown && fs.Meta.IsShutdown && fs.Meta.Journal.IsShutdown && fs.Meta.Buffers.IsShutdown);

            // fsync writes back first: the folios fail without I/O and end clean, the error recorded.
            Assert.Equal(Errno.EIO, b.Fsync());
            AssertCleanAndIdle(b.Aops.Mapping);
            Assert.NotEqual(0u, b.Aops.Mapping.WbErr.Value);
            Assert.Equal(Errno.EIO, a.Fdatasync());
            AssertCleanAndIdle(a.Aops.Mapping);
            AssertEverythingFails(fs, fresh);

            foreach (var f in new[] { a, b, fresh, orphan })
            {
                Assert.Equal(Errno.None, f.Close());
            }

            Assert.Equal(Errno.None, fs.Unmount());
            Assert.Equal(completed, disk.Completed);
            AssertDropped(fs);
            Assert.NotEqual(0u, fs.SbWbErr.Value);

            var again = PowerCutAndMount(m, mode, disk);
            Assert.Equal(before, Snapshot(again));
            Assert.Equal(Errno.None, again.Unmount());
        });
    }

    [Theory]
    [InlineData(CompletionMode.Irq, BioOp.Write)]
    [InlineData(CompletionMode.Task, BioOp.Write)]
    [InlineData(CompletionMode.Irq, BioOp.Flush)]
    [InlineData(CompletionMode.Task, BioOp.Flush)]
    public void FailedCheckpoint_ShutsDown_AndTheLogStillRecoversEveryCommit(CompletionMode mode, BioOp failing)
    {
        OnMachine(m =>
        {
            var (disk, fs) = Fresh(m, mode);
            Populate(fs);
            Assert.Equal(Errno.None, fs.Meta.Rename("/b", "/e/b"));
            var before = Snapshot(fs);

            // Only the checkpoint's own I/O: writes home (outside the log) or its cache flush.
            var g = fs.Meta.Superblock.Geometry;
            var spb = (ulong)(g.BlockSize / BlockDevice.SectorSize);
            disk.AddFault(failing == BioOp.Write
                ? new FaultRule { Op = BioOp.Write, Metadata = true, FirstSector = (g.LogStart + g.LogBlocks) * spb, Count = 1 }
                : new FaultRule { Op = BioOp.Flush, Metadata = true, Count = 1 });
            Assert.Equal(Errno.EIO, fs.Meta.Journal.Checkpoint());
            Assert.True(fs.IsShutdown);
            Assert.Equal(1, disk.FaultsInjected);
            var completed = disk.Completed;
            Assert.Equal(Errno.EIO, fs.Meta.Journal.Checkpoint());
            Assert.Equal(Errno.EIO, fs.Meta.Create("/z"));
            Assert.Equal(Errno.None, fs.Unmount());
            Assert.Equal(completed, disk.Completed);
            AssertDropped(fs);

            var again = PowerCutAndMount(m, mode, disk);
            Assert.Equal(before, Snapshot(again));
            Assert.Equal(Errno.None, again.Unmount());
        });
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void MetadataFault_InAWritebackCompletionsTransaction_ShutsDownFromTheCompletion_AndExposesNothing(CompletionMode mode)
    {
        var stats = default(FsStats);
        OnMachine(m =>
        {
            var (disk, fs) = Fresh(m, mode);
            Populate(fs);
            Assert.Equal(Errno.None, fs.Open("/b", OpenFlags.None, out var b));

            // Preallocated past EOF: writing there maps without a transaction, so the first
            // metadata write is the completion's (unwritten conversion and on-disk size).
            Assert.Equal(Errno.None, b!.Fallocate(20 * Kib, 44 * Kib, keepSize: true));
            Assert.Equal(Errno.None, b.Fsync());
            var before = Snapshot(fs);
            Assert.Equal(Errno.None, b.Write(20 * Kib, FsFixture.Pattern(20, 44 * Kib), out _));
            disk.AddFault(new FaultRule { Op = BioOp.Write, Metadata = true, Count = 1 });
            Assert.Equal(Errno.EIO, b.Fdatasync());
            Assert.True(fs.IsShutdown);
            Assert.Equal(1, disk.FaultsInjected);
            AssertCleanAndIdle(b.Aops.Mapping);
            Assert.Equal(Errno.None, b.Close());
            Assert.Equal(Errno.None, fs.Unmount());
            AssertDropped(fs);
            stats = fs.Stats;

            var again = PowerCutAndMount(m, mode, disk);
            Assert.Equal(before, Snapshot(again));
            Assert.Equal(Errno.None, again.Unmount());
        });
        if (mode == CompletionMode.Task)
        {
            Assert.Equal(0, stats!.ConvWorkqueueItems);
        }
        else
        {
            Assert.True(stats!.ConvWorkqueueItems > 0, "the failing transaction should have run on the xfs-conv worker");
        }
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void RunTransaction_FailingWithEioAfterJoiningABuffer_ShutsDownInsteadOfCommitting_ButNotBeforeJoining(CompletionMode mode)
    {
        OnMachine(m =>
        {
            var (_, fs) = Fresh(m, mode);
            var g = fs.Meta.Superblock.Geometry;
            var commits = fs.Meta.Journal.Commits;
            var clean = fs.Meta.Journal.CleanCommits;
            Assert.Equal(Errno.EIO, fs.Meta.RunTransaction(_ => Errno.EIO));
            Assert.False(fs.IsShutdown);

            // Nothing joined: a clean transaction, ended without a log write.
            Assert.Equal(commits, fs.Meta.Journal.Commits);
            Assert.Equal(clean + 1, fs.Meta.Journal.CleanCommits);

            commits = fs.Meta.Journal.Commits;
            Assert.Equal(Errno.EIO, fs.Meta.RunTransaction(tx =>
            {
                Assert.Equal(Errno.None, fs.Meta.Buffers.Read(g.InodeStart, null, out var bp));
                tx.Join(bp!, releaseAtCommit: true);
                bp!.Data[^1] ^= 0xFF;
                return Errno.EIO;
            }));
            Assert.True(fs.IsShutdown);
            Assert.Equal(commits, fs.Meta.Journal.Commits);
            Assert.Equal(Errno.EIO, fs.Meta.RunTransaction(_ => Errno.None));
            Assert.Equal(Errno.None, fs.Unmount());
        });
    }

    // ---------------------------------------------------------------- helpers

    private static void OnMachine(Action<Machine> body)
    {
        using var m = MachineFixture.Create(cpus: 2);
        var failure = MachineFixture.RunGuarded(m, () => body(m));
        if (failure is not null)
        {
            ExceptionDispatchInfo.Capture(failure).Throw();
        }

        MachineFixture.AssertClean(m);
    }

    private static (MemDisk Disk, FileSystem Fs) Fresh(Machine m, CompletionMode mode)
    {
        var (disk, _, fs) = FsFixture.Fresh(m, mode, cacheOptions: new PageCacheOptions { Mode = mode, DirtyWritebackCentisecs = 0 });
        return (disk, fs);
    }

    // /d/a (40 KiB), /d/c (empty), /b (20 KiB), /e: all committed, data on disk.
    private static void Populate(FileSystem fs)
    {
        Assert.Equal(Errno.None, fs.Meta.Mkdir("/d"));
        Assert.Equal(Errno.None, fs.Meta.Mkdir("/e"));
        foreach (var (path, seed, length) in new[] { ("/d/a", 1, 40 * Kib), ("/d/c", 2, 0), ("/b", 3, 20 * Kib) })
        {
            Assert.Equal(Errno.None, fs.Open(path, OpenFlags.Create, out var f));
            if (length > 0)
            {
                Assert.Equal(Errno.None, f!.Write(0, FsFixture.Pattern(seed, length), out _));
            }

            Assert.Equal(Errno.None, f!.Fsync());
            Assert.Equal(Errno.None, f.Close());
        }
    }

    // Every name, and for a file its size and contents.
    private static Dictionary<string, string> Snapshot(FileSystem fs)
    {
        var tree = new Dictionary<string, string>(StringComparer.Ordinal);
        var pending = new Stack<string>();
        pending.Push("/");
        while (pending.TryPop(out var dir))
        {
            Assert.Equal(Errno.None, fs.Meta.ReadDir(dir, out var entries));
            foreach (var (name, _) in entries)
            {
                var path = dir == "/" ? "/" + name : dir + "/" + name;
                Assert.Equal(Errno.None, fs.Meta.Lookup(path, out var inode));
                if (inode!.IsDirectory)
                {
                    tree[path] = "dir";
                    pending.Push(path);
                    continue;
                }

                Assert.Equal(Errno.None, fs.Open(path, OpenFlags.None, out var f));
                var data = new byte[f!.Size];
                Assert.Equal(Errno.None, f.Read(0, data, out var read));
                Assert.Equal(data.Length, read);
                Assert.Equal(Errno.None, f.Close());
                tree[path] = Describe(data);
            }
        }

        return tree;
    }

    private static string Describe(byte[] data) => $"file:{data.Length}:{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(data))}";

    private static void AssertEverythingFails(FileSystem fs, FsFile f)
    {
        var buffer = new byte[4 * Kib];
        var results = new Dictionary<string, Errno>(StringComparer.Ordinal)
        {
            ["open"] = fs.Open("/b", OpenFlags.None, out _),
            ["open-create"] = fs.Open("/x", OpenFlags.Create, out _),
            ["create"] = fs.Meta.Create("/x"),
            ["mkdir"] = fs.Meta.Mkdir("/x"),
            ["unlink"] = fs.Meta.Unlink("/d/a"),
            ["rmdir"] = fs.Meta.Rmdir("/e"),
            ["rename"] = fs.Meta.Rename("/d", "/x"),
            ["link"] = fs.Meta.Link("/b", "/x"),
            ["lookup"] = fs.Meta.Lookup("/b", out _),
            ["readdir"] = fs.Meta.ReadDir("/", out _),
            ["iget"] = fs.Meta.Iget(f.Inode.Number, out _),
            ["read"] = f.Read(0, buffer, out _),
            ["write"] = f.Write(0, buffer, out _),
            ["truncate"] = f.Truncate(1),
            ["fallocate"] = f.Fallocate(0, 4 * Kib),
            ["punch"] = f.PunchHole(0, 4 * Kib),
            ["fsync"] = f.Fsync(),
            ["fdatasync"] = f.Fdatasync(),
            ["syncfs"] = f.Syncfs(),
            ["sync"] = fs.Sync(),
            ["checkpoint"] = fs.Meta.Journal.Checkpoint(),
        };
        Assert.All(results, r => Assert.True(r.Value == Errno.EIO, $"{r.Key} after shutdown gave {r.Value}"));
    }

    private static void AssertCleanAndIdle(AddressSpace mapping)
    {
        Assert.False(mapping.Tagged(PageCacheTag.Dirty), "a folio is still dirty after writeback on a shut-down filesystem");
        Assert.False(mapping.Tagged(PageCacheTag.Writeback), "a folio is still under writeback on a shut-down filesystem");
        mapping.AssertTagInvariants();
    }

    // After the unmount of a shut-down filesystem nothing of it stays cached.
    private static void AssertDropped(FileSystem fs)
    {
        Assert.Empty(fs.Meta.CachedInodes());
        Assert.Equal((0, 0), fs.Meta.Buffers.Count);
        Assert.Equal(0, fs.Cache.NrCached);
        Assert.Equal(0, fs.Cache.NrDirty);
        Assert.Equal(0, fs.Cache.NrWriteback);
        Assert.Equal(Errno.EIO, fs.Open("/b", OpenFlags.None, out _));
    }

    private static FileSystem PowerCutAndMount(Machine m, CompletionMode mode, MemDisk disk)
    {
        disk.ClearFaults();
        disk.PowerCut();
        var cache = PageCache.Create(m, new PageCacheOptions { Mode = mode, DirtyWritebackCentisecs = 0 });
        Assert.Equal(Errno.None, FileSystem.Mount(disk, cache, out var fs, out var problem));
        Assert.Null(problem);
        Assert.False(fs!.IsShutdown);
        Assert.Empty(Fsck.Check(fs.Meta));
        return fs;
    }
}
