using System.Buffers.Binary;
using Writeback.Block;
using Writeback.Fs;
using Writeback.Fs.Format;
using Writeback.Fs.Inode;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Fs;

/// <summary>Crash consistency of file data and extents: a file workload (buffered and direct
/// writes, appends, fallocate, truncate, hole punch, rename, unlink, block reuse) is crashed at
/// every write the device completed, and at every flush with seeded subsets of the writes the
/// flush had not yet made durable; every crash image mounts, checks clean, keeps every completed
/// operation, and shows in a file only data that file wrote there — never another file's, never
/// stale blocks, and never a written extent whose data did not arrive. A negative control proves
/// the checker can fail; a journal filled to its last block still replays after a crash; planted
/// corruption of extent blocks and inodes is reported, not accepted.</summary>
/// <remarks>The I/O layer (iomap) does not exist yet, so the tests do its part by hand, in its
/// order: allocate (delalloc conversion or direct allocation, giving unwritten extents), write
/// the data with a raw bio and wait, then <see cref="XfsInode.EndWrite"/>, whose commit's
/// preflush makes the data durable before the extent says Written. Every 512-byte sector of file
/// data is stamped with the file, its sector in the file and a generation, so that any sector
/// read back from a crash image says whose data it is. Violations are labelled by the promise
/// they break: (a) an operation whose last transaction completed before the crash is not there
/// (names, sizes, extents); (b) a file shows, inside a written extent, data it never wrote —
/// another file's, stale, or metadata; (c) a written extent's sector holds data this file did
/// not write to that disk sector before the crash, or older data than was already durable there
/// (the extent was logged before its data).</remarks>
public class FileCrashTests
{
    private const int SectorSize = 512;
    private const uint StampMagic = 0x54534346; // "FCST"
    private const int MaxReported = 40;

    [Theory]
    [InlineData(CompletionMode.Irq, 4096)]
    [InlineData(CompletionMode.Task, 4096)]
    [InlineData(CompletionMode.Irq, 512)]
    [InlineData(CompletionMode.Task, 512)]
    public void ACrashAtEveryWrite_OfAFileWorkload_MountsChecksCleanKeepsCompletedOperationsAndShowsOnlyTheFilesOwnData(CompletionMode mode, int blockSize)
    {
        using var m = MachineFixture.Create(cpus: 2);
        var report = new CrashReport();
        m.Run(() =>
        {
            var w = new Workload(m, mode, blockSize, DeviceBytes(blockSize));
            RunFileWorkload(w);
            report = CheckEveryPrefix(w);
        });
        AssertNoViolations(report);
        Assert.True(report.Crashes > 200, $"only {report.Crashes} crash points");
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq, 11UL)]
    [InlineData(CompletionMode.Task, 12UL)]
    public void ACrashAtEveryFlush_WithSeededSubsetsOfTheUnflushedWrites_MountsChecksCleanAndShowsOnlyTheFilesOwnData(CompletionMode mode, ulong seed)
    {
        using var m = MachineFixture.Create(cpus: 2);
        var report = new CrashReport();
        m.Run(() =>
        {
            var w = new Workload(m, mode, 4096, DeviceBytes(4096));
            RunFileWorkload(w);
            report = CheckFlushEpochs(w, seed, samplesPerEpoch: 4);
        });
        AssertNoViolations(report);
        Assert.True(report.Crashes > 100, $"only {report.Crashes} crash images");
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void AJournalFilledToItsLastBlock_StillReplaysEveryCommittedTransactionAfterACrash(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        var report = new CrashReport();
        m.Run(() =>
        {
            // 16 MiB of 4 KiB blocks: a log of 64 blocks, 63 for transactions. After a
            // checkpoint, 21 size changes of three log blocks each (descriptor, inode block,
            // commit) fill it exactly; the 22nd must not be written over the first.
            var w = new Workload(m, mode, 4096, 16L << 20);
            w.Create("f");
            w.Checkpoint();
            for (var i = 1; i <= 24; i++)
            {
                w.Truncate("f", i * SectorSize);
            }

            w.Unmount();
            report = CheckEveryPrefix(w);
        });
        AssertNoViolations(report);
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void EndWriteBeforeTheData_NegativeControl_TheCheckerReportsWrittenExtentsWithoutTheirData(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        var prefix = new CrashReport();
        var torn = new CrashReport();
        m.Run(() =>
        {
            var w = new Workload(m, mode, 4096, DeviceBytes(4096));
            var b = (long)w.BlockSize;

            // x's blocks are freed and y, allocating from the same goal, gets them back plus fresh
            // ones: with the conversion logged before y's data, a crash in between shows x's data
            // (stale blocks) and never-written zeros inside y's size.
            w.Create("x");
            w.DirectWrite("x", 0, 4 * b);
            w.Unlink("x", held: false);
            w.Create("y");
            w.EndWriteBeforeData = true;
            w.DirectWrite("y", 0, 8 * b);
            w.EndWriteBeforeData = false;
            w.Create("z");
            w.DirectWrite("z", 0, b);
            w.Unmount();
            prefix = CheckEveryPrefix(w);
            torn = CheckFlushEpochs(w, seed: 5, samplesPerEpoch: 4);
        });

        // The metadata is consistent either way: only the data promises are broken.
        Assert.DoesNotContain(prefix.Violations, v => v.Contains("mount failed", StringComparison.Ordinal) || v.Contains("fsck", StringComparison.Ordinal));
        Assert.Contains(prefix.Violations, v => v.Contains("(b)", StringComparison.Ordinal) && v.Contains("file y", StringComparison.Ordinal) && v.Contains("file x's", StringComparison.Ordinal));
        Assert.Contains(prefix.Violations, v => v.Contains("(c)", StringComparison.Ordinal) && v.Contains("file y", StringComparison.Ordinal) && v.Contains("zeros", StringComparison.Ordinal));
        Assert.DoesNotContain(prefix.Violations, v => v.Contains("file z", StringComparison.Ordinal));
        Assert.NotEmpty(torn.Violations);
        Assert.All(torn.Violations, v => Assert.Contains("file y", v, StringComparison.Ordinal));
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void AFlippedByteInAnExtentBlock_FailsTheMount_NamingTheInodeAndTheExtentBlock(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        var results = new List<(Errno Err, string? Problem)>();
        ulong ino = 0;
        m.Run(() =>
        {
            var (image, frag, _) = FragmentedImage(m, mode);
            ino = frag.Number;
            var b = frag.ExtentBlocks[0];
            Assert.True(frag.Extents.Count > DiskInode.MaxExtents);

            // A byte of the second extent's disk block, then the header's owner field.
            foreach (var at in new[] { 32 + 24 + 9, 9 })
            {
                var corrupt = image.Clone();
                FlipByte(corrupt, b, at, 4096);
                results.Add(MountImage(m, mode, corrupt));
            }
        });
        Assert.All(results, r =>
        {
            Assert.True(r.Err is Errno.EBADMSG or Errno.EUCLEAN, $"mount gave {r.Err}");
            Assert.Contains($"inode {ino}: extent block 0: checksum mismatch", r.Problem ?? string.Empty, StringComparison.Ordinal);
        });
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void AFlippedByteInAnInode_FailsTheMount_NamingTheInode(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        (Errno Err, string? Problem) sizeFlip = default;
        (Errno Err, string? Problem) freeSlot = default;
        ulong ino = 0;
        ulong freeIno = 0;
        m.Run(() =>
        {
            var (image, frag, g) = FragmentedImage(m, mode);
            ino = frag.Number;
            var perBlock = (ulong)(g.BlockSize / DiskInode.Size);

            // The size field of the fragmented file's inode.
            var corrupt = image.Clone();
            FlipByte(corrupt, g.InodeStart + (ino / perBlock), ((int)(ino % perBlock) * DiskInode.Size) + 17, g.BlockSize);
            sizeFlip = MountImage(m, mode, corrupt);

            // A free (all-zero) slot that becomes non-zero.
            freeIno = g.Inodes - 1;
            corrupt = image.Clone();
            FlipByte(corrupt, g.InodeStart + (freeIno / perBlock), ((int)(freeIno % perBlock) * DiskInode.Size) + 40, g.BlockSize);
            freeSlot = MountImage(m, mode, corrupt);
        });
        Assert.True(sizeFlip.Err is Errno.EBADMSG or Errno.EUCLEAN, $"mount gave {sizeFlip.Err}");
        Assert.Contains($"inode {ino}: checksum mismatch", sizeFlip.Problem ?? string.Empty, StringComparison.Ordinal);
        Assert.True(freeSlot.Err is Errno.EBADMSG or Errno.EUCLEAN, $"mount gave {freeSlot.Err}");
        Assert.Contains($"inode {freeIno}: checksum mismatch", freeSlot.Problem ?? string.Empty, StringComparison.Ordinal);
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void AnotherInodesExtentBlock_InPlaceOfAFilesOwn_FailsTheMountAsNotItsOwner(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        (Errno Err, string? Problem) result = default;
        ulong victim = 0;
        m.Run(() =>
        {
            var (image, frag, g) = FragmentedImage(m, mode, secondFile: true, out var frag2);
            Assert.Equal(Errno.None, MountImage(m, mode, image).Err);
            var other = frag2!;
            victim = other.Number;

            // A block with a valid checksum, but frag's, where frag2's first extent block should be.
            var spb = (ulong)(g.BlockSize / SectorSize);
            var copy = new byte[g.BlockSize];
            image.Read(frag.ExtentBlocks[0] * spb, copy);
            var corrupt = image.Clone();
            corrupt.Write(other.ExtentBlocks[0] * spb, copy);
            result = MountImage(m, mode, corrupt);
        });
        Assert.True(result.Err is Errno.EBADMSG or Errno.EUCLEAN, $"mount gave {result.Err}");
        Assert.Contains($"inode {victim}: extent block 0: bad magic, owner, index or count", result.Problem ?? string.Empty, StringComparison.Ordinal);
        MachineFixture.AssertClean(m);
    }

    private static long DeviceBytes(int blockSize) => blockSize == 512 ? 4L << 20 : 16L << 20;

    // The workload the crash tests share: every kind of file operation, with block reuse.
    private static void RunFileWorkload(Workload w)
    {
        var b = (long)w.BlockSize;
        const long S = SectorSize;
        w.Create("a");
        w.BufferedWrite("a", 0, 3 * b);
        w.BufferedWrite("a", 3 * b, 5 * S);            // append into a new block, partly
        w.BufferedWrite("a", (3 * b) + (5 * S), 6 * S); // append: rewrite of the EOF block and a new one
        w.Create("b");
        w.DirectWrite("b", 0, 2 * b);
        w.BufferedWrite("a", b, 2 * S);                // overwrite of written blocks: no metadata
        w.Fallocate("b", 4 * b, 2 * b, keepSize: true);
        w.Fallocate("b", 2 * b, b, keepSize: false);
        w.BufferedWrite("b", 4 * b, 3 * S);            // into the preallocation past EOF
        w.Truncate("a", (2 * b) + (3 * S));            // down, inside a block
        w.Truncate("a", 6 * b);                        // up: a hole
        w.PunchHole("b", 0, b);
        w.BufferedWrite("b", 3 * b, b);                // into the hole inside the size
        w.DirectWrite("b", 5 * b, b);                  // over the rest of the preallocation: converted, size raised
        w.Create("many");
        w.DirectWrite("many", 0, 42 * b);
        for (var i = 1; i < 41; i += 2)
        {
            w.PunchHole("many", i * b, b);              // 21 extents: extent blocks (two of 512 bytes)
        }

        w.Rename("many", "many2");
        w.Truncate("many2", 23 * b);                   // 12 extents: an extent block rewritten or freed
        w.Unlink("many2", held: false);
        w.Create("e");
        w.BufferedWrite("e", 0, b);                    // the lowest free block: not a busy extent block
        w.Create("c");
        w.BufferedWrite("c", 0, 12 * b);               // reuses many2's blocks
        w.Create("held");
        w.DirectWrite("held", 0, 2 * b);
        w.Unlink("held", held: true);
        w.Release("held");
        w.Create("d");
        w.DirectWrite("d", 0, 3 * b);                  // reuses held's blocks
        w.BufferedWrite("c", 12 * b, 2 * S);            // append after reuse
        w.Unmount();
    }

    // A filesystem with a file of more than eight extents (and optionally a second one), unmounted.
    private static (DiskImage Image, DiskInode Frag, FsGeometry Geometry) FragmentedImage(Machine m, CompletionMode mode) =>
        FragmentedImage(m, mode, secondFile: false, out _);

    private static (DiskImage Image, DiskInode Frag, FsGeometry Geometry) FragmentedImage(Machine m, CompletionMode mode, bool secondFile, out DiskInode? frag2)
    {
        var w = new Workload(m, mode, 4096, 16L << 20);
        var b = (long)w.BlockSize;
        foreach (var name in secondFile ? new[] { "frag", "frag2" } : ["frag"])
        {
            w.Create(name);
            w.DirectWrite(name, 0, 24 * b);
            for (var i = 1; i < 23; i += 2)
            {
                w.PunchHole(name, i * b, b);
            }
        }

        w.Unmount();
        Assert.Equal(Errno.None, w.Fs.Lookup("/frag", out var frag));
        Assert.NotEmpty(frag!.ExtentBlocks);
        frag2 = null;
        if (secondFile)
        {
            Assert.Equal(Errno.None, w.Fs.Lookup("/frag2", out frag2));
            Assert.NotEmpty(frag2!.ExtentBlocks);
        }

        return (w.Disk.DurableImage(), frag, w.Fs.Superblock.Geometry);
    }

    private static void FlipByte(DiskImage image, ulong block, int offset, int blockSize)
    {
        var spb = (ulong)(blockSize / SectorSize);
        var data = new byte[blockSize];
        image.Read(block * spb, data);
        data[offset] ^= 0x5A;
        image.Write(block * spb, data);
    }

    private static (Errno Err, string? Problem) MountImage(Machine m, CompletionMode mode, DiskImage image)
    {
        var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { Name = "corrupt", CapacityBytes = image.CapacityBytes }, image);
        var err = FsMount.Mount(disk, mode, out _, out var problem);
        return (err, problem);
    }

    private static void AssertNoViolations(CrashReport report) =>
        Assert.True(report.Violations.Count == 0, $"{report.Total} violations in {report.Crashes} crash images; the first:\n" + string.Join("\n", report.Violations));

    // Crashes after each of the n first completed writes, n = 0 .. all: everything completed reached the media.
    private static CrashReport CheckEveryPrefix(Workload w)
    {
        var report = new CrashReport();
        var entries = w.Log.Entries;
        var image = w.Log.Rebuild(0);
        var checker = new Checker(w, entries);
        for (var n = 0; n <= entries.Count; n++)
        {
            if (n > 0 && entries[n - 1].Kind == WriteLogEntryKind.Write)
            {
                image.Write(entries[n - 1].Sector, entries[n - 1].Data.Span);
            }

            checker.Check(image, n, durableBefore: n, $"after {n} of {entries.Count} log entries", report);
        }

        return report;
    }

    // Crashes just before each flush (and at the end): everything before the previous flush is
    // durable, FUA writes since are too, and of the other writes since, the empty subset and a
    // seeded sample of subsets reached the media, in log order.
    private static CrashReport CheckFlushEpochs(Workload w, ulong seed, int samplesPerEpoch)
    {
        var report = new CrashReport();
        var entries = w.Log.Entries;
        var checker = new Checker(w, entries);
        var random = new Prandom(seed);
        var durable = w.Log.Rebuild(0);
        var previousFlush = -1;
        foreach (var boundary in w.Log.FlushIndexes.Append(entries.Count))
        {
            var epoch = entries.Skip(previousFlush + 1).Take(boundary - previousFlush - 1).Where(e => e.Kind == WriteLogEntryKind.Write).ToList();
            var cached = epoch.Count(e => (e.Flags & BioOpFlags.Fua) == 0);
            if (cached > 0)
            {
                var tried = new HashSet<string>(StringComparer.Ordinal);
                for (var sample = 0; sample <= samplesPerEpoch; sample++)
                {
                    // Sample 0 is the empty subset: nothing but FUA writes since the last flush.
                    var chosen = epoch.Select(e => (e.Flags & BioOpFlags.Fua) != 0 || (sample > 0 && random.NextUInt64() % 2 == 0)).ToList();
                    var key = string.Concat(chosen.Select(c => c ? '1' : '0'));
                    if (!tried.Add(key))
                    {
                        continue;
                    }

                    var image = durable.Clone();
                    for (var i = 0; i < epoch.Count; i++)
                    {
                        if (chosen[i])
                        {
                            image.Write(epoch[i].Sector, epoch[i].Data.Span);
                        }
                    }

                    checker.Check(image, boundary, durableBefore: previousFlush + 1, $"crash before entry {boundary} of {entries.Count} with the epoch's writes {key} (seed {seed})", report);
                }
            }

            foreach (var e in epoch)
            {
                durable.Write(e.Sector, e.Data.Span);
            }

            previousFlush = boundary;
        }

        return report;
    }

    // A data write the test made: file, sector of the file, generation (0 for zeros), and the
    // log entry that put it on the disk sector.
    private readonly record struct Intent(int FileId, long FileSector, int Gen, int EntryIndex);

    private sealed record FileSnap(int Id, string Label, ulong Ino, long Size, IReadOnlyList<Extent> Extents);

    // After a step: its log entries [Start, End) and the files as their committed inodes say.
    private sealed record Step(string Name, int Start, int End, IReadOnlyDictionary<string, FileSnap> Files);

    private sealed class CrashReport
    {
        public int Crashes { get; set; }

        public int Total { get; set; }

        public List<string> Violations { get; } = [];

        public void Add(string violation)
        {
            Total++;
            if (Violations.Count < MaxReported)
            {
                Violations.Add(violation);
            }
        }
    }

    private sealed class FileState(int id, string label)
    {
        public int Id { get; } = id;

        public string Label { get; } = label;

        public XfsInode? Ip { get; set; }

        // The file's contents as the page cache has them: sector → generation; absent is zeros.
        public Dictionary<long, int> Content { get; } = [];
    }

    /// <summary>The filesystem under test, driven the way the I/O layer will drive it, recording
    /// a step (log entries and committed state) per call that may write, and every data write.</summary>
    private sealed class Workload
    {
        private readonly Dictionary<string, FileState> _files = new(StringComparer.Ordinal);
        private readonly Dictionary<string, FileState> _held = new(StringComparer.Ordinal);
        private readonly Dictionary<int, string> _labels = [];
        private readonly Dictionary<ulong, List<Intent>> _intents = [];
        private int _nextGen;

        public Workload(Machine m, CompletionMode mode, int blockSize, long deviceBytes)
        {
            Mode = mode;
            BlockSize = blockSize;
            Disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = deviceBytes });
            Mkfs.Format(Disk, FsGeometry.For(deviceBytes, blockSize), Guid.Empty, mode);
            Assert.Equal(Errno.None, FsMount.Mount(Disk, mode, out var fs, out _));
            Fs = fs!;
            Log = Disk.StartWriteLog();
            Steps.Add(new Step("start", 0, 0, Snapshot()));
        }

        public CompletionMode Mode { get; }

        public int BlockSize { get; }

        public MemDisk Disk { get; }

        public FsMount Fs { get; }

        public WriteLog Log { get; }

        public List<Step> Steps { get; } = [];

        public IReadOnlyDictionary<ulong, List<Intent>> Intents => _intents;

        public IReadOnlyDictionary<int, string> Labels => _labels;

        /// <summary>The negative control: log the conversion to written before writing the data.</summary>
        public bool EndWriteBeforeData { get; set; }

        private ulong SectorsPerBlock => (ulong)(BlockSize / SectorSize);

        public void Create(string name)
        {
            var f = new FileState(_labels.Count + 1, name);
            _labels[f.Id] = name;
            _files[name] = f;
            Do($"create {name}", () => Fs.Create("/" + name));
            Assert.Equal(Errno.None, Fs.Open("/" + name, out var ip));
            f.Ip = ip;
        }

        // A buffered write: delalloc reservation and i_size now; at writeback, conversion of the
        // delalloc blocks to unwritten ones, the whole blocks written, then the end-write work.
        public void BufferedWrite(string name, long offset, long length)
        {
            var f = _files[name];
            var ip = f.Ip!;
            var what = $"write {name} [{offset}, +{length})";
            // As iomap does: each call reserves the hole at its start, then the write moves on.
            for (var at = offset; at < offset + length;)
            {
                Assert.Equal(Errno.None, ip.ReserveDelalloc(at, offset + length - at, out var mapping));
                at = Math.Min(offset + length, (long)mapping[0].FileEnd * BlockSize);
            }

            ip.WriteSizeAndTimes(offset + length);
            Fill(f, offset, length, ++_nextGen);
            var (start, blocks) = Aligned(offset, length);
            Do($"{what}: convert delalloc", () =>
            {
                while (ip.Map(start, blocks).FirstOrDefault(e => e.State == ExtentState.Delalloc) is { Length: > 0 } d)
                {
                    var err = ip.ConvertDelalloc((long)d.FileBlock * BlockSize, out _);
                    if (err != Errno.None)
                    {
                        return err;
                    }
                }

                return Errno.None;
            });
            WriteAndEnd(f, what, start, blocks, () => { });
        }

        // A direct write of whole blocks: allocation, the data, i_size at completion, end-write work.
        public void DirectWrite(string name, long offset, long length)
        {
            Assert.True(offset % BlockSize == 0 && length % BlockSize == 0, "direct writes are block-aligned");
            var f = _files[name];
            var ip = f.Ip!;
            var what = $"direct write {name} [{offset}, +{length})";
            Do($"{what}: allocate", () => ip.AllocateDirect(offset, length, out _));
            Fill(f, offset, length, ++_nextGen);
            WriteAndEnd(f, what, offset, length, () => ip.WriteSizeAndTimes(offset + length));
        }

        public void Fallocate(string name, long offset, long length, bool keepSize) =>
            Do($"fallocate {name} [{offset}, +{length}){(keepSize ? " keep size" : string.Empty)}", () => _files[name].Ip!.Fallocate(offset, length, keepSize));

        // Truncate as the VFS does it: the partial EOF block's tail zeroed in the page cache and
        // written back first when it is written on disk, then the size change.
        public void Truncate(string name, long newSize)
        {
            Assert.True(newSize % SectorSize == 0, "the workload truncates at sector boundaries");
            var f = _files[name];
            var ip = f.Ip!;
            if (newSize < ip.Size)
            {
                foreach (var s in f.Content.Keys.Where(s => s >= newSize / SectorSize).ToList())
                {
                    f.Content.Remove(s);
                }

                var eofBlock = newSize / BlockSize * BlockSize;
                if (newSize % BlockSize != 0 && ip.Map(eofBlock, BlockSize)[0].State == ExtentState.Written)
                {
                    Do($"truncate {name} to {newSize}: zero the EOF block", () => WriteData(f, eofBlock, BlockSize));
                }
            }

            Do($"truncate {name} to {newSize}", () => ip.Truncate(newSize));
        }

        public void PunchHole(string name, long offset, long length)
        {
            Assert.True(offset % BlockSize == 0 && length % BlockSize == 0, "the workload punches whole blocks");
            var f = _files[name];
            foreach (var s in f.Content.Keys.Where(s => s >= offset / SectorSize && s < (offset + length) / SectorSize).ToList())
            {
                f.Content.Remove(s);
            }

            Do($"punch {name} [{offset}, +{length})", () => f.Ip!.PunchHole(offset, length));
        }

        public void Rename(string from, string to)
        {
            var f = _files[from];
            _files.Remove(from);
            _files[to] = f;
            Do($"rename {from} {to}", () => Fs.Rename("/" + from, "/" + to));
        }

        // Unlinks a file; held, it stays open until Release (an orphan the mount frees after a crash).
        public void Unlink(string name, bool held)
        {
            var f = _files[name];
            _files.Remove(name);
            if (held)
            {
                _held[name] = f;
            }
            else
            {
                Assert.Equal(Errno.None, Fs.Irele(f.Ip!));
            }

            Do($"unlink {name}{(held ? " (held open)" : string.Empty)}", () => Fs.Unlink("/" + name));
        }

        public void Release(string name)
        {
            var f = _held[name];
            _held.Remove(name);
            Do($"release {name}", () => Fs.Irele(f.Ip!));
        }

        /// <summary>Writes the journal's blocks home and empties it.</summary>
        public void Checkpoint() => Do("checkpoint", Fs.Journal.Checkpoint);

        public void Unmount()
        {
            foreach (var f in _files.Values)
            {
                Assert.Equal(Errno.None, Fs.Irele(f.Ip!));
            }

            Do("unmount", Fs.Unmount);
        }

        private void WriteAndEnd(FileState f, string what, long start, long length, Action beforeEnd)
        {
            var ip = f.Ip!;
            if (EndWriteBeforeData)
            {
                beforeEnd();
                Do($"{what}: end write (before the data)", () => ip.EndWrite(start, length));
                Do($"{what}: data", () => WriteData(f, start, length));
                return;
            }

            Do($"{what}: data", () => WriteData(f, start, length));
            beforeEnd();
            Do($"{what}: end write", () => ip.EndWrite(start, length));
        }

        // Writes the page cache's copy of whole blocks to where they are mapped, one bio per
        // extent, waiting for each; records which log entry put what on each disk sector.
        private Errno WriteData(FileState f, long start, long length)
        {
            foreach (var piece in f.Ip!.Map(start, length))
            {
                Assert.True(piece.IsAllocated, $"file {f.Label}: writing into {piece}, which has no blocks");
                var data = new byte[(int)piece.Length * BlockSize];
                var firstSector = (long)piece.FileBlock * BlockSize / SectorSize;
                var sectors = data.Length / SectorSize;
                for (var i = 0; i < sectors; i++)
                {
                    if (f.Content.TryGetValue(firstSector + i, out var gen))
                    {
                        SectorStamp.Write(data.AsSpan(i * SectorSize, SectorSize), StampMagic, f.Id, firstSector + i, gen);
                    }
                }

                var before = Log.Entries.Count;
                var bio = new Bio(Disk, BioOp.Write) { Sector = piece.DiskBlock * SectorsPerBlock };
                bio.AddVec(data);
                var err = bio.SubmitWait();
                if (err != Errno.None)
                {
                    return err;
                }

                var written = Log.Entries.Skip(before).Where(e => e.Kind == WriteLogEntryKind.Write).ToList();
                for (var i = 0; i < sectors; i++)
                {
                    var diskSector = bio.Sector + (ulong)i;
                    var entry = written.Single(e => e.Sector <= diskSector && diskSector < e.Sector + (ulong)(e.Data.Length / SectorSize));
                    if (!_intents.TryGetValue(diskSector, out var list))
                    {
                        list = [];
                        _intents[diskSector] = list;
                    }

                    list.Add(new Intent(f.Id, firstSector + i, f.Content.GetValueOrDefault(firstSector + i), entry.Index));
                }
            }

            return Errno.None;
        }

        private void Fill(FileState f, long offset, long length, int gen)
        {
            Assert.True(offset % SectorSize == 0 && length % SectorSize == 0, "the workload writes whole sectors");
            for (var s = offset / SectorSize; s < (offset + length) / SectorSize; s++)
            {
                f.Content[s] = gen;
            }
        }

        private (long Start, long Length) Aligned(long offset, long length)
        {
            var start = offset / BlockSize * BlockSize;
            var end = (offset + length + BlockSize - 1) / BlockSize * BlockSize;
            return (start, end - start);
        }

        private void Do(string name, Func<Errno> action)
        {
            var start = Log.Entries.Count;
            var err = action();
            Assert.True(err == Errno.None, $"{name}: {err}");
            Steps.Add(new Step(name, start, Log.Entries.Count, Snapshot()));
        }

        private SortedDictionary<string, FileSnap> Snapshot()
        {
            var files = new SortedDictionary<string, FileSnap>(StringComparer.Ordinal);
            foreach (var (name, f) in _files)
            {
                Assert.Equal(Errno.None, Fs.Lookup("/" + name, out var inode));
                files[name] = new FileSnap(f.Id, f.Label, inode!.Number, inode.FileSize, [.. inode.Extents]);
            }

            return files;
        }
    }

    /// <summary>Mounts a crash image and checks it against the workload's record.</summary>
    private sealed class Checker
    {
        private readonly Workload _w;
        private readonly int[] _commits;
        private readonly ulong _spb;

        public Checker(Workload w, IReadOnlyList<WriteLogEntry> entries)
        {
            _w = w;
            _spb = (ulong)(w.BlockSize / SectorSize);
            var header = w.Fs.Superblock.Geometry.LogStart * _spb;

            // A transaction ends with its commit block: a FUA write into the log (the journal
            // header, also FUA, is not one).
            _commits = [.. w.Steps.Select(s => entries.Skip(s.Start).Take(s.End - s.Start)
                .Count(e => e.Kind == WriteLogEntryKind.Write && (e.Flags & BioOpFlags.Fua) != 0 && e.Sector != header))];
        }

        /// <summary>Checks the image of a crash before log entry <paramref name="crashAt"/>, in
        /// which every write before entry <paramref name="durableBefore"/> is known to be.</summary>
        public void Check(DiskImage image, int crashAt, int durableBefore, string where, CrashReport report)
        {
            var crashed = new MemDisk(_w.Disk.Layer, new DiskOptions { Name = "crash", CapacityBytes = image.CapacityBytes }, image);
            if (FsMount.Mount(crashed, _w.Mode, out var fs, out var problem) != Errno.None)
            {
                report.Add($"{where}: mount failed: {problem}");
                return;
            }

            report.Crashes++;
            foreach (var p in Fsck.Check(fs!))
            {
                report.Add($"{where}: fsck: {p}");
            }

            var done = _w.Steps.FindLastIndex(s => s.End <= crashAt);
            var inside = _w.Steps.FindIndex(s => s.Start < crashAt && crashAt < s.End);
            where = $"{where} (last completed step: {_w.Steps[done].Name}{(inside < 0 ? string.Empty : "; inside: " + _w.Steps[inside].Name)})";
            var got = Files(fs!);
            var expected = _w.Steps[done].Files;
            var after = inside < 0 ? null : _w.Steps[inside].Files;
            var matches = Same(got, expected) || (after is not null && (Same(got, after) || (_commits[inside] > 1 && Between(got, expected, after))));
            if (!matches)
            {
                report.Add($"{where}: (a) the files are {Describe(got)}; expected {Describe(expected)}{(after is null ? string.Empty : " or " + Describe(after))}");
            }

            foreach (var (name, (ino, size, extents)) in got)
            {
                var id = Owner(name, ino, expected) ?? (after is null ? null : Owner(name, ino, after));
                if (id is null)
                {
                    report.Add($"{where}: (a) /{name} (inode {ino}) is in no state the workload went through");
                    continue;
                }

                CheckData(crashed, id.Value, size, extents, crashAt, durableBefore, where, report);
            }
        }

        private static int? Owner(string name, ulong ino, IReadOnlyDictionary<string, FileSnap> files) =>
            files.TryGetValue(name, out var f) && f.Ino == ino ? f.Id : null;

        // (b) and (c): each sector of a written extent holds this file's data for that sector,
        // written there by this file before the crash, and no older than the newest data that
        // was durably written to that disk sector.
        private void CheckData(MemDisk crashed, int id, long size, IReadOnlyList<Extent> extents, int crashAt, int durableBefore, string where, CrashReport report)
        {
            var label = _w.Labels[id];
            foreach (var e in extents.Where(e => e.State == ExtentState.Written))
            {
                var data = new byte[(int)(e.Length * _spb * SectorSize)];
                crashed.ReadContent(e.DiskBlock * _spb, data);
                for (var i = 0; i < data.Length / SectorSize; i++)
                {
                    var fileSector = (long)(e.FileBlock * _spb) + i;
                    var diskSector = (e.DiskBlock * _spb) + (ulong)i;
                    var c = SectorStamp.Read(data.AsSpan(i * SectorSize, SectorSize), StampMagic);
                    var at = $"{where}: file {label}, sector {fileSector} (disk sector {diskSector}, {(fileSector * SectorSize < size ? "inside" : "past")} its size {size})";
                    if (c.Kind == SectorKind.Garbage)
                    {
                        report.Add($"{at}: (b) a written extent holds data that no file wrote (metadata or a torn stamp)");
                        continue;
                    }

                    if (c.Kind == SectorKind.Stamp && (c.FileId != id || c.FileSector != fileSector))
                    {
                        var whose = _w.Labels.TryGetValue(c.FileId, out var other) ? other : "?";
                        report.Add($"{at}: (b) holds file {whose}'s data for its sector {c.FileSector} (generation {c.Gen})");
                        continue;
                    }

                    var gen = c.Kind == SectorKind.Zeros ? 0 : c.Gen;
                    var history = _w.Intents.GetValueOrDefault(diskSector) ?? [];
                    var source = history.LastOrDefault(x => x.EntryIndex < crashAt && x.FileId == id && x.FileSector == fileSector && x.Gen == gen);
                    if (source == default)
                    {
                        report.Add($"{at}: (c) the extent is written but holds {(gen == 0 ? "zeros" : $"generation {gen}")}, which this file never wrote there: its data did not arrive first");
                        continue;
                    }

                    var newest = history.LastOrDefault(x => x.EntryIndex < durableBefore);
                    if (newest != default && source.EntryIndex < newest.EntryIndex)
                    {
                        report.Add($"{at}: (c) holds generation {gen} from log entry {source.EntryIndex}, but entry {newest.EntryIndex} (file {_w.Labels[newest.FileId]}, generation {newest.Gen}) was durable");
                    }
                }
            }
        }

        private static Dictionary<string, (ulong Ino, long Size, IReadOnlyList<Extent> Extents)> Files(FsMount fs)
        {
            var files = new Dictionary<string, (ulong, long, IReadOnlyList<Extent>)>(StringComparer.Ordinal);
            Assert.Equal(Errno.None, fs.ReadDir("/", out var entries));
            foreach (var (name, _) in entries)
            {
                if (fs.Lookup("/" + name, out var inode) == Errno.None && inode is not null)
                {
                    files[name] = (inode.Number, inode.FileSize, inode.Extents);
                }
            }

            return files;
        }

        private static bool Same(Dictionary<string, (ulong Ino, long Size, IReadOnlyList<Extent> Extents)> got, IReadOnlyDictionary<string, FileSnap> want) =>
            got.Count == want.Count && got.All(g => want.TryGetValue(g.Key, out var w) && w.Ino == g.Value.Ino && w.Size == g.Value.Size && w.Extents.SequenceEqual(g.Value.Extents));

        // Inside an operation of several transactions: the names of one side, each file's size
        // one side's, and each block mapped as on one side or the other.
        private static bool Between(Dictionary<string, (ulong Ino, long Size, IReadOnlyList<Extent> Extents)> got, IReadOnlyDictionary<string, FileSnap> before, IReadOnlyDictionary<string, FileSnap> after)
        {
            var names = got.Keys.Order(StringComparer.Ordinal).ToList();
            if (!names.SequenceEqual(before.Keys, StringComparer.Ordinal) && !names.SequenceEqual(after.Keys, StringComparer.Ordinal))
            {
                return false;
            }

            foreach (var (name, g) in got)
            {
                var b = before.GetValueOrDefault(name);
                var a = after.GetValueOrDefault(name);
                if ((b is null || b.Ino != g.Ino || b.Size != g.Size) && (a is null || a.Ino != g.Ino || a.Size != g.Size))
                {
                    return false;
                }

                var mine = Blocks(g.Extents);
                var bb = Blocks(b?.Extents ?? []);
                var ab = Blocks(a?.Extents ?? []);
                foreach (var block in mine.Keys.Union(bb.Keys).Union(ab.Keys))
                {
                    var m = mine.GetValueOrDefault(block);
                    if (m != bb.GetValueOrDefault(block) && m != ab.GetValueOrDefault(block))
                    {
                        return false;
                    }
                }
            }

            return true;
        }

        private static Dictionary<ulong, (ulong Disk, ExtentState State)> Blocks(IReadOnlyList<Extent> extents)
        {
            var blocks = new Dictionary<ulong, (ulong, ExtentState)>();
            foreach (var e in extents)
            {
                for (var i = 0UL; i < e.Length; i++)
                {
                    blocks[e.FileBlock + i] = (e.DiskBlock + i, e.State);
                }
            }

            return blocks;
        }

        private static string Describe(Dictionary<string, (ulong Ino, long Size, IReadOnlyList<Extent> Extents)> files) =>
            "{" + string.Join("; ", files.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"{f.Key}#{f.Value.Ino} size {f.Value.Size} [{string.Join(' ', f.Value.Extents.Select(Short))}]")) + "}";

        private static string Describe(IReadOnlyDictionary<string, FileSnap> files) =>
            "{" + string.Join("; ", files.Select(f => $"{f.Key}#{f.Value.Ino} size {f.Value.Size} [{string.Join(' ', f.Value.Extents.Select(Short))}]")) + "}";

        private static string Short(Extent e) => $"{e.FileBlock}+{e.Length}@{e.DiskBlock}{(e.State == ExtentState.Written ? "w" : "u")}";
    }
}
