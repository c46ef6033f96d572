using System.Buffers.Binary;
using Writeback.Block;
using Writeback.Fs;
using Writeback.Fs.Inode;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Fs;

/// <summary>What the file API promises about durability and ordering, in both completion modes:
/// fdatawait returning means the extent conversion and on-disk size are done (not queued);
/// buffered and direct I/O on the same range stay coherent; a crash at every write and every
/// flush keeps what completed fsyncs, fdatasyncs and O_DSYNC writes covered and never shows
/// another file's data; writeback errors reach every open file once (fstests generic/441 and
/// generic/487) and leave no folio dirty or under writeback; direct-write errors reach the
/// caller; lockdep stays quiet and the completion workqueues are used only in IRQ mode.</summary>
/// <remarks>The crash test stamps every 512-byte sector it writes with the file, the sector's
/// offset in the file and a generation (one per write call), so that any sector read back from a
/// crash image says whose data it is and which write put it there.</remarks>
public class FileDurabilityTests
{
    private const int SectorSize = 512;
    private const int Kib = 1024;
    private const uint StampMagic = 0x52554446; // "FDUR"
    private const int MaxReported = 30;
    private const long DeviceBytes = 16L << 20;

    // ---------------------------------------------------------------- 1. ordering

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void AppendsIntoUnwrittenSpace_AreConvertedAndSizedOnDisk_ByTheTimeFdatawaitOrFdatasyncReturns(CompletionMode mode)
    {
        const int Files = 12;
        using var m = MachineFixture.Create(cpus: 2);
        FsStats? stats = null;
        var expected = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var durable = new List<string>();
        m.Run(() =>
        {
            var (disk, _, fs) = Fresh(m, mode);
            var files = new List<FsFile>();
            var ranges = new List<List<(long Pos, int Length)>>();
            for (var i = 0; i < Files; i++)
            {
                Assert.Equal(Errno.None, fs.Open($"/f{i}", OpenFlags.Create, out var f));
                Assert.Equal(Errno.None, f!.Write(0, Pattern(i, 8 * Kib), out _));
                Assert.Equal(Errno.None, f.Fsync());
                Assert.Equal(8 * Kib, f.Inode.DiskSize);

                // Preallocated past EOF: unwritten blocks that the size does not cover.
                Assert.Equal(Errno.None, f.Fallocate(8 * Kib, 56 * Kib, keepSize: true));
                Assert.Equal(8 * Kib, f.Size);
                Assert.All(f.Inode.Map(8 * Kib, 56 * Kib), e => Assert.Equal(ExtentState.Unwritten, e.State));
                files.Add(f);
            }

            // Appends into the preallocation (some in pieces, ending mid-block), and an overwrite
            // of written blocks beside them: ioends that need a transaction and ones that do not.
            for (var i = 0; i < Files; i++)
            {
                var f = files[i];
                var content = new byte[8 * Kib];
                Pattern(i, 8 * Kib).CopyTo(content, 0);
                var written = new List<(long Pos, int Length)>();
                ranges.Add(written);
                void Put(long pos, byte[] data)
                {
                    written.Add((pos, data.Length));
                    Assert.Equal(Errno.None, f.Write(pos, data, out var n));
                    Assert.Equal(data.Length, n);
                    if (pos + data.Length > content.Length)
                    {
                        Array.Resize(ref content, (int)(pos + data.Length));
                    }

                    data.CopyTo(content, (int)pos);
                }

                Put(1 * Kib, Pattern(100 + i, 1 * Kib));
                Put(8 * Kib, Pattern(200 + i, 10 * Kib));
                Put(18 * Kib, Pattern(300 + i, (6 * Kib) + (i * SectorSize)));
                if (i % 3 == 0)
                {
                    // A gap of unwritten blocks left alone, then more data: two runs.
                    Put(40 * Kib, Pattern(400 + i, 5 * Kib));
                }

                expected[$"/f{i}"] = content;
                Assert.True(f.Inode.DiskSize < f.Size);
            }

            // Even files: start writeback of all of them first (many ioends in flight at once),
            // then wait on each and look at once. Odd files: fdatasync.
            for (var i = 0; i < Files; i += 2)
            {
                Assert.Equal(Errno.None, files[i].Aops.Mapping.FdatawriteRange(0, long.MaxValue));
            }

            for (var i = 0; i < Files; i++)
            {
                var f = files[i];
                if (i % 2 == 0)
                {
                    Assert.Equal(Errno.None, f.Aops.Mapping.FdatawaitRange(0, long.MaxValue));
                }
                else
                {
                    Assert.Equal(Errno.None, f.Fdatasync());
                    durable.Add($"/f{i}");
                }

                // Checked before anything else can run: the transaction is done, not queued.
                Assert.Equal(f.Size, f.Inode.DiskSize);
                foreach (var (pos, length) in ranges[i])
                {
                    Assert.All(f.Inode.Map(pos, length), e => Assert.True(e.State == ExtentState.Written, $"/f{i}: {e}, written at [{pos}, +{length}), is not a written extent after the wait"));
                }

                var blockEnd = (f.Size + f.Inode.BlockSize - 1) / f.Inode.BlockSize * f.Inode.BlockSize;
                if (blockEnd < 64 * Kib)
                {
                    Assert.All(f.Inode.Map(blockEnd, (64 * Kib) - blockEnd), e => Assert.Equal(ExtentState.Unwritten, e.State));
                }

                Assert.False(f.Aops.Mapping.Tagged(PageCacheTag.Dirty));
                Assert.False(f.Aops.Mapping.Tagged(PageCacheTag.Writeback));
                f.Aops.Mapping.AssertTagInvariants();
                Assert.Equal(expected[$"/f{i}"], ReadBuffered(f, 0, (int)f.Size));
            }

            // What the fdatasyncs promised is on the media: a power cut keeps it.
            var image = disk.DurableImage();
            var (_, again) = MountImage(m, mode, disk.Layer, image, "durable");
            foreach (var path in durable)
            {
                Assert.Equal(expected[path], ReadAll(again, path));
            }

            foreach (var f in files)
            {
                Assert.Equal(Errno.None, f.Close());
            }

            stats = fs.Stats;
        });
        Assert.True(stats!.IoendsWithCompletionWork >= Files, $"{stats.IoendsWithCompletionWork} ioends needed completion work");
        if (mode == CompletionMode.Irq)
        {
            Assert.True(stats.ConvWorkqueueItems > 0, "the xfs-conv worker was never used");
            Assert.True(stats.IoendListItems >= Files);
        }
        else
        {
            Assert.Equal(0, stats.ConvWorkqueueItems);
            Assert.Equal(0, stats.IoendListItems);
        }

        MachineFixture.AssertClean(m);
    }

    // ---------------------------------------------------------------- 2. coherence

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void BufferedAndDirectIo_OnTheSameRange_SeeEachOthersData(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var (disk, _, fs) = Fresh(m, mode);
            Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.Create, out var b));
            Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.Direct, out var d));

            // A buffered write, not synced: a direct read sees it.
            var model = Pattern(1, 32 * Kib);
            Assert.Equal(Errno.None, b!.Write(0, model, out _));
            Assert.True(b.Aops.Mapping.Tagged(PageCacheTag.Dirty));
            Assert.Equal(model, ReadDirect(d!, 0, 32 * Kib));

            // Pages cached by a buffered read; a direct write; a buffered read sees the new data.
            Assert.Equal(model, ReadBuffered(b, 0, 32 * Kib));
            var over = Pattern(2, 8 * Kib);
            Assert.Equal(Errno.None, d!.Write(8 * Kib, over, out _));
            over.CopyTo(model, 8 * Kib);
            Assert.Equal(model, ReadBuffered(b, 0, 32 * Kib));

            // The same with an asynchronous direct write, and one into a hole past EOF.
            Assert.Equal(model, ReadBuffered(b, 0, 32 * Kib));
            var asyncOver = Pattern(3, 4 * Kib);
            Assert.Equal(Errno.None, WriteAsyncAndWait(d, 16 * Kib, asyncOver).Err);
            asyncOver.CopyTo(model, 16 * Kib);
            var past = Pattern(4, 8 * Kib);
            Assert.Equal(Errno.None, WriteAsyncAndWait(d, 40 * Kib, past).Err);
            Array.Resize(ref model, 48 * Kib);
            past.CopyTo(model, 40 * Kib);
            Assert.Equal(model, ReadBuffered(b, 0, 48 * Kib));

            // An unaligned buffered write over a block, then a direct write of that block and
            // its neighbour, then buffered and direct reads.
            var small = Pattern(5, 700);
            Assert.Equal(Errno.None, b.Write((20 * Kib) + 100, small, out _));
            small.CopyTo(model, (20 * Kib) + 100);
            Assert.Equal(model, ReadDirect(d, 0, 48 * Kib));
            var both = Pattern(6, 8 * Kib);
            Assert.Equal(Errno.None, d.Write(20 * Kib, both, out _));
            both.CopyTo(model, 20 * Kib);
            Assert.Equal(model, ReadBuffered(b, 0, 48 * Kib));
            Assert.Equal(model, ReadDirect(d, 0, 48 * Kib));

            // Seeded mixed sequences against a byte-array model.
            var random = new Prandom(mode == CompletionMode.Irq ? 41UL : 42UL);
            for (var step = 0; step < 160; step++)
            {
                MixedStep(fs, b, d, random, ref model, step);
            }

            Assert.Equal(Errno.None, b.Fsync());
            Assert.Equal(model.LongLength, b.Inode.DiskSize);
            fs.DropCaches();
            Assert.Equal(model, ReadBuffered(b, 0, model.Length));
            Assert.Equal(model, ReadDirect(d, 0, RoundUp(model.Length, 4 * Kib)));
            Assert.Equal(Errno.None, b.Close());
            Assert.Equal(Errno.None, d.Close());
            Assert.Equal(Errno.None, fs.Unmount());

            var (_, again) = MountImage(m, mode, disk.Layer, disk.DurableImage(), "remount");
            Assert.Equal(model, ReadAll(again, "/f"));
        });
        MachineFixture.AssertClean(m);
    }

    // ---------------------------------------------------------------- 3. crash durability

    [Theory]
    [InlineData(CompletionMode.Irq, 21UL)]
    [InlineData(CompletionMode.Task, 22UL)]
    public void ACrashAtEveryWriteAndEveryFlush_KeepsWhatCompletedSyncsCovered_AndShowsNoOtherFilesData(CompletionMode mode, ulong seed)
    {
        using var m = MachineFixture.Create(cpus: 2);
        var prefix = new Report();
        var epochs = new Report();
        var lost = new Report();
        var foreign = new Report();
        var entries = 0;
        var flushes = 0;
        m.Run(() =>
        {
            var w = new Recorder(m, mode);
            RunDurabilityWorkload(w);
            entries = w.Log.Entries.Count;
            flushes = w.Log.FlushIndexes.Count;
            prefix = CheckEveryPrefix(w);
            epochs = CheckFlushEpochs(w, seed, samplesPerEpoch: 3);
            (lost, foreign) = NegativeControls(w);
        });
        AssertNoViolations(prefix);
        AssertNoViolations(epochs);

        // The checker is not blind: the unmount's writes taken away, and another file's block in
        // place of one of a's, are reported.
        Assert.Contains(lost.Violations, v => v.Contains("/a, sector 0", StringComparison.Ordinal));
        Assert.Contains(foreign.Violations, v => v.Contains("/a, sector", StringComparison.Ordinal) && v.Contains("holds file b's data", StringComparison.Ordinal));
        Assert.True(prefix.Crashes > 100, $"only {prefix.Crashes} crash points in {entries} log entries");
        Assert.True(flushes > 10, $"only {flushes} flushes");
        Assert.True(epochs.Crashes > flushes, $"only {epochs.Crashes} flush-epoch images for {flushes} flushes");
        MachineFixture.AssertClean(m);
    }

    // ---------------------------------------------------------------- 4. errors

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void AWritebackError_IsReportedOnceToEveryOpenFile_AndLeavesNoFolioDirtyOrUnderWriteback(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        var results = new Dictionary<string, List<Errno>>(StringComparer.Ordinal);
        void Note(string what, Errno e)
        {
            if (!results.TryGetValue(what, out var list))
            {
                list = [];
                results[what] = list;
            }

            list.Add(e);
        }

        var failure = MachineFixture.RunGuarded(m, () =>
        {
            var (disk, _, fs) = Fresh(m, mode);
            var dataArea = DataAreaFault(fs);
            Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.Create, out var w));
            Assert.Equal(Errno.None, w!.Write(0, Pattern(1, 16 * Kib), out _));
            Assert.Equal(Errno.None, w.Fsync());
            var handles = Enumerable.Range(0, 10).Select(_ =>
            {
                Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.None, out var h));
                return h!;
            }).ToList();
            var mapping = w.Aops.Mapping;

            // generic/487's half: writeback fails with nobody looking (an overwrite and an append).
            Assert.Equal(Errno.None, w.Write(0, Pattern(2, 32 * Kib), out _));
            disk.AddFault(dataArea);
            mapping.FdatawriteRange(0, long.MaxValue);
            Note("fdatawait (legacy bits)", mapping.FdatawaitRange(0, long.MaxValue));
            AssertCleanAndIdle(mapping);

            // The failed append exposed nothing: no size, no written extent.
            Assert.Equal(16 * Kib, w.Inode.DiskSize);
            Assert.All(w.Inode.Map(16 * Kib, 16 * Kib), e => Assert.NotEqual(ExtentState.Written, e.State));
            disk.ClearFaults();

            // A power cut now: the image checks clean and holds the last data that was written.
            var (_, crashed) = MountImage(m, mode, disk.Layer, disk.DurableImage(), "after-error");
            Assert.Equal(Pattern(1, 16 * Kib), ReadAll(crashed, "/f"));

            // Opened while the error is unseen: it is told.
            Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.None, out var unseen));
            Note("opened while unseen, 1st", unseen!.Fsync());
            Note("opened while unseen, 2nd", unseen.Fsync());
            foreach (var h in handles)
            {
                Note("handle 1st", h.Fsync());
            }

            foreach (var h in handles)
            {
                Note("handle 2nd", h.Fsync());
            }

            Note("writer 1st", w.Fsync());
            Note("writer 2nd", w.Fsync());

            // Opened after everyone saw it: nothing.
            Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.None, out var after));
            Note("opened after all saw", after!.Fsync());

            // generic/441: a new error with every file open, found by the first file's fsync.
            Assert.Equal(Errno.None, w.Write(32 * Kib, Pattern(3, 8 * Kib), out _));
            Assert.Equal(Errno.None, w.Write(4 * Kib, Pattern(4, 4 * Kib), out _));
            disk.AddFault(dataArea);
            foreach (var h in handles.Append(w).Append(unseen).Append(after))
            {
                Note("441 1st", h.Fsync());
            }

            AssertCleanAndIdle(mapping);
            Assert.Equal(16 * Kib, w.Inode.DiskSize);
            disk.ClearFaults();
            foreach (var h in handles.Append(w).Append(unseen).Append(after))
            {
                Note("441 2nd", h.Fsync());
            }

            // The device works again: rewritten data is durable and reads back.
            var data = Pattern(5, 40 * Kib);
            Assert.Equal(Errno.None, w.Write(0, data, out _));
            Assert.Equal(Errno.None, w.Fsync());
            Assert.Equal(data.LongLength, w.Inode.DiskSize);
            Assert.All(w.Inode.Map(0, data.Length), e => Assert.Equal(ExtentState.Written, e.State));
            fs.DropCaches();
            Assert.Equal(data, ReadBuffered(handles[3], 0, data.Length));
            foreach (var h in handles.Append(w).Append(unseen).Append(after))
            {
                Assert.Equal(Errno.None, h.Close());
            }
        });
        Assert.True(failure is null, failure?.ToString());
        Assert.Equal(new[] { Errno.EIO }, results["fdatawait (legacy bits)"]);
        Assert.Equal(new[] { Errno.EIO }, results["opened while unseen, 1st"]);
        Assert.Equal(new[] { Errno.None }, results["opened while unseen, 2nd"]);
        Assert.Equal(Enumerable.Repeat(Errno.EIO, 10), results["handle 1st"]);
        Assert.Equal(Enumerable.Repeat(Errno.None, 10), results["handle 2nd"]);
        Assert.Equal(new[] { Errno.EIO }, results["writer 1st"]);
        Assert.Equal(new[] { Errno.None }, results["writer 2nd"]);
        Assert.Equal(new[] { Errno.None }, results["opened after all saw"]);
        Assert.Equal(Enumerable.Repeat(Errno.EIO, 13), results["441 1st"]);
        Assert.Equal(Enumerable.Repeat(Errno.None, 13), results["441 2nd"]);
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void DirectAndDsyncWriteErrors_AreReturnedByTheWrite_AndByTheAsyncCallback_AndExposeNothing(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        var syncOverwrite = Errno.None;
        var syncExtend = Errno.None;
        (Errno Err, long Bytes) asyncOverwrite = default;
        (Errno Err, long Bytes) asyncHole = default;
        var directFsync = Errno.EIO;
        var bufferedFsync = Errno.EIO;
        var dsyncWrite = Errno.None;
        var dsyncRetry = Errno.EIO;
        FsStats? stats = null;
        var failure = MachineFixture.RunGuarded(m, () =>
        {
            var (disk, _, fs) = Fresh(m, mode);
            Assert.Equal(Errno.None, fs.Open("/d", OpenFlags.Create | OpenFlags.Direct, out var d));
            Assert.Equal(Errno.None, fs.Open("/d", OpenFlags.None, out var b));
            var old = Pattern(1, 16 * Kib);
            Assert.Equal(Errno.None, d!.Write(0, old, out _));
            Assert.Equal(old, ReadBuffered(b!, 0, 16 * Kib));

            disk.AddFault(DataAreaFault(fs));
            syncOverwrite = d.Write(0, Pattern(2, 8 * Kib), out var written);
            Assert.Equal(0, written);
            syncExtend = d.Write(16 * Kib, Pattern(3, 8 * Kib), out written);
            Assert.Equal(0, written);
            asyncOverwrite = WriteAsyncAndWait(d, 8 * Kib, Pattern(4, 4 * Kib));
            asyncHole = WriteAsyncAndWait(d, 32 * Kib, Pattern(5, 8 * Kib));
            Assert.Equal(0, d.Aops.DioInFlight);

            // A direct write's error goes to its caller, not into the mapping's writeback errors.
            directFsync = d.Fsync();
            bufferedFsync = b!.Fsync();

            // An O_DSYNC buffered write's writeback error is returned by the write itself.
            Assert.Equal(Errno.None, fs.Open("/s", OpenFlags.Create | OpenFlags.Dsync, out var s));
            dsyncWrite = s!.Write(0, Pattern(7, 6 * Kib), out var dsyncWritten);
            Assert.Equal(6 * Kib, dsyncWritten);
            Assert.Equal(0, s.Inode.DiskSize);
            AssertCleanAndIdle(s.Aops.Mapping);
            disk.ClearFaults();
            dsyncRetry = s.Write(0, Pattern(8, 6 * Kib), out _);
            Assert.Equal(6 * Kib, s.Inode.DiskSize);
            Assert.Equal(Errno.None, s.Close());

            // Nothing of the failed writes shows: the size and the old data stay, and the blocks
            // the extending writes allocated are not written extents.
            Assert.Equal(16 * Kib, d.Size);
            Assert.Equal(16 * Kib, d.Inode.DiskSize);
            Assert.DoesNotContain(d.Inode.Extents, e => e.State == ExtentState.Written && (long)e.FileEnd * d.Inode.BlockSize > 16 * Kib);
            Assert.Equal(old, ReadBuffered(b!, 0, 16 * Kib));
            Assert.Equal(old, ReadDirect(d, 0, 16 * Kib));
            var (_, crashed) = MountImage(m, mode, disk.Layer, disk.DurableImage(), "after-error");
            Assert.Equal(old, ReadAll(crashed, "/d"));

            // And the file works afterwards.
            var data = Pattern(6, 40 * Kib);
            Assert.Equal(Errno.None, d.Write(0, data, out _));
            Assert.Equal(Errno.None, d.Fsync());
            Assert.Equal(data, ReadBuffered(b!, 0, data.Length));
            Assert.Equal(Errno.None, b!.Close());
            Assert.Equal(Errno.None, d.Close());
            stats = fs.Stats;
        });
        Assert.True(failure is null, failure?.ToString());
        Assert.Equal(Errno.EIO, syncOverwrite);
        Assert.Equal(Errno.EIO, syncExtend);
        Assert.Equal((Errno.EIO, 0L), asyncOverwrite);
        Assert.Equal((Errno.EIO, 0L), asyncHole);
        Assert.Equal(Errno.None, directFsync);
        Assert.Equal(Errno.None, bufferedFsync);
        Assert.Equal(Errno.EIO, dsyncWrite);
        Assert.Equal(Errno.None, dsyncRetry);
        if (mode == CompletionMode.Irq)
        {
            // An error is completion work: it never completes in the interrupt.
            Assert.True(stats!.DioWorkqueueItems >= 2, $"{stats.DioWorkqueueItems} dio completions queued");
        }
        else
        {
            Assert.Equal(0, stats!.DioWorkqueueItems);
        }

        MachineFixture.AssertClean(m);
    }

    // ---------------------------------------------------------------- 5. contexts and lockdep

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void ConcurrentAppendsAndAsyncDirectWrites_AreLockdepClean_AndUseTheWorkqueuesOnlyInIrqMode(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 3);
        FsStats? stats = null;
        var mismatches = new List<string>();
        m.Run(() =>
        {
            var (_, _, fs) = Fresh(m, mode);
            var appender = m.Spawn("appender", () =>
            {
                for (var i = 0; i < 4; i++)
                {
                    Assert.Equal(Errno.None, fs.Open($"/a{i}", OpenFlags.Create, out var f));
                    for (var round = 0; round < 6; round++)
                    {
                        Assert.Equal(Errno.None, f!.Write(round * 6 * Kib, Pattern((i * 10) + round, 6 * Kib), out _));
                        Assert.Equal(Errno.None, round % 2 == 0 ? f.Fdatasync() : f.Fsync());
                        Assert.Equal(f.Size, f.Inode.DiskSize);
                    }

                    Assert.Equal(Errno.None, f!.Close());
                }
            }, 1);
            var direct = m.Spawn("direct", () =>
            {
                Assert.Equal(Errno.None, fs.Open("/d", OpenFlags.Create | OpenFlags.Direct, out var d));
                var model = new byte[64 * Kib];
                for (var i = 0; i < 16; i++)
                {
                    // Extending writes into holes, then overwrites of what they wrote.
                    var at = i < 8 ? i * 8 * Kib : (i - 8) * 8 * Kib;
                    var data = Pattern(100 + i, 8 * Kib);
                    Assert.Equal(Errno.None, WriteAsyncAndWait(d!, at, data).Err);
                    data.CopyTo(model, at);
                }

                Assert.Equal(Errno.None, d!.Fsync());
                if (!model.AsSpan().SequenceEqual(ReadDirect(d, 0, 64 * Kib)))
                {
                    mismatches.Add("/d differs from what was written");
                }

                Assert.Equal(Errno.None, d.Close());
            }, 2);
            appender.WaitForExit();
            direct.WaitForExit();
            for (var i = 0; i < 4; i++)
            {
                var expected = new byte[36 * Kib];
                for (var round = 0; round < 6; round++)
                {
                    Pattern((i * 10) + round, 6 * Kib).CopyTo(expected, round * 6 * Kib);
                }

                Assert.Equal(Errno.None, fs.Open($"/a{i}", OpenFlags.None, out var f));
                if (!expected.AsSpan().SequenceEqual(ReadBuffered(f!, 0, expected.Length)))
                {
                    mismatches.Add($"/a{i} differs from what was written");
                }

                Assert.Equal(Errno.None, f!.Close());
            }

            stats = fs.Stats;
        });
        Assert.Empty(mismatches);
        Assert.True(stats!.DioInlineCompletions > 0, "no direct-I/O completion ran inline");
        if (mode == CompletionMode.Irq)
        {
            Assert.True(stats.ConvWorkqueueItems > 0, "appends did not use the xfs-conv workqueue");
            Assert.True(stats.IoendListItems > 0, "appends did not use the inode's ioend list");
            Assert.True(stats.DioWorkqueueItems > 0, "async direct writes into holes did not use the dio workqueue");
        }
        else
        {
            Assert.Equal(0, stats.ConvWorkqueueItems);
            Assert.Equal(0, stats.IoendListItems);
            Assert.Equal(0, stats.DioWorkqueueItems);
        }

        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void AppendsWithFdatasync_UntilTheJournalCheckpoints_DoNotDeadlockTheCompletion(CompletionMode mode)
    {
        // Each append + fdatasync logs two transactions: the delalloc conversion at submission
        // (process context) and the conversion and size at completion (in task mode, inside the
        // flagged bio's end-io). Enough of them fill the journal, so some transaction must
        // checkpoint it; that must not wait for I/O that only the waiting completion can complete.
        using var m = MachineFixture.Create(cpus: 2);
        var done = 0;
        var failure = MachineFixture.RunGuarded(m, () =>
        {
            var (_, _, fs) = Fresh(m, mode);
            Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.Create, out var f));
            for (var i = 0; i < 48; i++)
            {
                Assert.Equal(Errno.None, f!.Write(i * 4L * Kib, Pattern(i, 4 * Kib), out _));
                Assert.Equal(Errno.None, f.Fdatasync());
                done++;
            }

            Assert.Equal(Errno.None, f!.Close());
        });
        Assert.True(failure is null, $"after {done} appends: {failure}");
        Assert.Equal(48, done);
        MachineFixture.AssertClean(m);
    }

    // ---------------------------------------------------------------- helpers

    private static (MemDisk Disk, PageCache Cache, FileSystem Fs) Fresh(Machine m, CompletionMode mode, bool periodicWriteback = true)
    {
        var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = DeviceBytes });
        FileSystem.Mkfs(disk, mode: mode);
        var cache = PageCache.Create(m, new PageCacheOptions { Mode = mode, DirtyWritebackCentisecs = periodicWriteback ? 500 : 0 });
        Assert.Equal(Errno.None, FileSystem.Mount(disk, cache, out var fs, out var problem));
        Assert.Null(problem);
        return (disk, cache, fs!);
    }

    private static (MemDisk Disk, FileSystem Fs) MountImage(Machine m, CompletionMode mode, BlockLayer layer, DiskImage image, string name)
    {
        var disk = new MemDisk(layer, new DiskOptions { Name = name, CapacityBytes = image.CapacityBytes }, image);
        var cache = PageCache.Create(m, new PageCacheOptions { Mode = mode, DirtyWritebackCentisecs = 0 });
        Assert.Equal(Errno.None, FileSystem.Mount(disk, cache, out var fs, out var problem));
        Assert.Null(problem);
        Assert.Empty(Fsck.Check(fs!.Meta));
        return (disk, fs);
    }

    private static byte[] ReadAll(FileSystem fs, string path)
    {
        Assert.Equal(Errno.None, fs.Open(path, OpenFlags.None, out var f));
        var data = ReadBuffered(f!, 0, (int)f!.Size);
        Assert.Equal(Errno.None, f.Close());
        return data;
    }

    private static byte[] ReadBuffered(FsFile f, long pos, int length)
    {
        var data = new byte[length];
        Assert.Equal(Errno.None, f.Read(pos, data, out var read));
        return data[..read];
    }

    private static byte[] ReadDirect(FsFile d, long pos, int length)
    {
        var data = new byte[length];
        Assert.Equal(Errno.None, d.Read(pos, data, out var read));
        return data[..read];
    }

    // An asynchronous direct write, waited for: the result the callback was given.
    private static (Errno Err, long Bytes) WriteAsyncAndWait(FsFile d, long pos, byte[] data)
    {
        var done = new Completion();
        var result = (Err: Errno.EAGAIN, Bytes: -1L);
        var submitted = d.WriteDirectAsync(pos, data, (e, n) =>
        {
            result = (e, n);
            done.Complete();
        });
        Assert.Equal(Errno.None, submitted);
        done.WaitForCompletion();
        return result;
    }

    // Every data write on the device fails.
    private static FaultRule DataAreaFault(FileSystem fs)
    {
        var g = fs.Meta.Superblock.Geometry;
        return new FaultRule { Op = BioOp.Write, FirstSector = g.DataStart * (ulong)(g.BlockSize / SectorSize) };
    }

    private static void AssertCleanAndIdle(AddressSpace mapping)
    {
        Assert.False(mapping.Tagged(PageCacheTag.Dirty), "a folio is still dirty after the failed writeback");
        Assert.False(mapping.Tagged(PageCacheTag.Writeback), "a folio is still under writeback after the failed writeback");
        mapping.AssertTagInvariants();
    }

    private static int RoundUp(int value, int unit) => (value + unit - 1) / unit * unit;

    private static int Next(Prandom random, int bound) => (int)(random.NextUInt64() % (ulong)bound);

    private static byte[] Pattern(int seed, int length)
    {
        var data = new byte[length];
        for (var i = 0; i < length; i++)
        {
            data[i] = (byte)((i * 31) + (seed * 7) + (i >> 9) + 1);
        }

        return data;
    }

    // One step of the mixed buffered/direct sequence, checked against the model.
    private static void MixedStep(FileSystem fs, FsFile b, FsFile d, Prandom random, ref byte[] model, int step)
    {
        const int Block = 4 * Kib;
        const int Span = 96 * Kib;
        var where = $"step {step}";
        switch (Next(random, 10))
        {
            case 0 or 1:
            {
                var pos = Next(random, Span - (12 * Kib));
                var data = Pattern(1000 + step, 1 + Next(random, 12 * Kib));
                Assert.Equal(Errno.None, b.Write(pos, data, out _));
                Put(ref model, pos, data);
                break;
            }

            case 2:
            {
                var pos = Next(random, Span / Block - 3) * Block;
                var data = Pattern(1000 + step, (1 + Next(random, 3)) * Block);
                Assert.Equal(Errno.None, d.Write(pos, data, out _));
                Put(ref model, pos, data);
                break;
            }

            case 3:
            {
                var pos = Next(random, Span / Block - 3) * Block;
                var data = Pattern(1000 + step, (1 + Next(random, 3)) * Block);
                Assert.Equal(Errno.None, WriteAsyncAndWait(d, pos, data).Err);
                Put(ref model, pos, data);
                break;
            }

            case 4 or 5:
            {
                var pos = Next(random, Span);
                var length = 1 + Next(random, 16 * Kib);
                var got = ReadBuffered(b, pos, length);
                var want = pos >= model.Length ? [] : model.AsSpan(pos, Math.Min(length, model.Length - pos));
                Assert.True(want.SequenceEqual(got), $"{where}: a buffered read at {pos} (+{length}) differs from the model ({got.Length} bytes, {want.Length} expected)");
                break;
            }

            case 6 or 7:
            {
                var pos = Next(random, Span / Block) * Block;
                var length = (1 + Next(random, 4)) * Block;
                var got = ReadDirect(d, pos, length);
                var want = model.AsSpan(Math.Min(pos, model.Length), Math.Clamp(model.Length - pos, 0, length));
                Assert.True(want.SequenceEqual(got), $"{where}: a direct read at {pos} (+{length}) differs from the model ({got.Length} bytes, {want.Length} expected)");
                break;
            }

            case 8:
                Assert.Equal(Errno.None, (step & 1) == 0 ? b.Fdatasync() : d.Fsync());
                if ((step & 2) != 0)
                {
                    fs.DropCaches();
                }

                break;

            default:
            {
                var size = Next(random, Span);
                Assert.Equal(Errno.None, b.Truncate(size));
                Array.Resize(ref model, size);
                break;
            }
        }

        Assert.Equal(model.LongLength, b.Size);
    }

    private static void Put(ref byte[] model, int pos, byte[] data)
    {
        if (pos + data.Length > model.Length)
        {
            Array.Resize(ref model, pos + data.Length);
        }

        data.CopyTo(model, pos);
    }

    // ---------------------------------------------------------------- the crash workload

    // Several files; buffered appends and overwrites, direct writes (sync and async, one O_DSYNC
    // overwrite written through with FUA), O_DSYNC buffered writes, truncate down and up,
    // fallocate with and without KEEP_SIZE, a hole punch; fsyncs and fdatasyncs between; writes
    // left unsynced for syncfs and unmount to write back.
    private static void RunDurabilityWorkload(Recorder w)
    {
        const int K = Kib;
        var a = w.Create("a");
        var b = w.Create("b");
        var c = w.Create("c");
        w.Write(a, a.Main, 0, 12 * K);
        w.Fsync(a);
        w.Write(b, b.Main, 0, (6 * K) + 512);
        w.Fdatasync(b);
        w.Write(a, a.Main, 12 * K, 8 * K);                // append, unsynced for now
        w.Fallocate(c, 0, 32 * K, keepSize: false);        // size 32K of unwritten blocks
        w.Write(c, c.Main, (4 * K) + 512, 4 * K);         // into unwritten blocks inside the size
        var d = w.Create("d", OpenFlags.Direct);
        var dDsync = w.OpenAlso(d, OpenFlags.Direct | OpenFlags.Dsync);
        w.Write(d, d.Main, 0, 16 * K);                     // direct, into a hole, extending
        w.Write(a, a.Main, 2 * K, 1 * K);                  // overwrite of written blocks
        w.Fdatasync(a);
        var e = w.Create("e", OpenFlags.Dsync);
        var ePlain = w.OpenAlso(e, OpenFlags.None);
        w.Write(e, e.Main, 0, 3 * K);                      // O_DSYNC, appending
        w.Write(e, e.Main, 3 * K, 6 * K);                  // O_DSYNC, appending across blocks
        w.Truncate(b, (2 * K) + 512);                      // down, inside a block
        w.Write(b, b.Main, (2 * K) + 512, (7 * K) + 512);  // append after it
        w.Fsync(b);
        w.Fdatasync(c);
        w.WriteAsync(d, d.Main, 20 * K, 8 * K);            // async direct past EOF, leaving a hole
        w.Write(d, dDsync, 4 * K, 4 * K);                  // O_DSYNC direct overwrite (FUA)
        w.Fsync(d);
        w.Truncate(a, 8 * K);
        w.Fallocate(a, 8 * K, 16 * K, keepSize: true);
        w.Write(a, a.Main, 8 * K, 6 * K);                  // append into the preallocation
        w.Fdatasync(a);
        w.Write(e, e.Main, 1 * K, 1 * K);                  // O_DSYNC overwrite
        w.Fallocate(b, 10 * K, 8 * K, keepSize: false);    // size up to 18K
        w.Write(b, b.Main, 12 * K, 1 * K);
        w.PunchHole(c, 8 * K, 8 * K);
        w.Write(c, c.Main, 24 * K, 4 * K);
        w.Write(a, a.Main, 14 * K, 2 * K);                 // unsynced append
        w.Write(e, ePlain, 9 * K, 3 * K);                  // unsynced append
        w.Write(d, d.Main, 28 * K, 4 * K);                 // direct, unsynced, extending
        w.Truncate(c, 20 * K);
        w.Fsync(c);
        w.Truncate(e, 10 * K);                             // up and down around the EOF block
        w.Truncate(e, 14 * K);
        w.Write(b, b.Main, 0, 4 * K);                      // unsynced overwrite
        w.Sync();
        w.Write(a, a.Main, 0, 512);                        // left for unmount to write back
        w.Write(c, c.Main, 20 * K, 6 * K);
        w.VerifyLive();
        w.Unmount();
    }

    // Two images that break the promises, checked as if the whole workload had returned.
    private static (Report Lost, Report Foreign) NegativeControls(Recorder w)
    {
        var entries = w.Log.Entries.Count;
        var lost = new Report();
        Check(w, w.Log.Rebuild(w.Files[0].Ops[^1].Start), entries, "control: the unmount's writes lost", lost);

        var image = w.Log.Rebuild(entries);
        var disk = new MemDisk(w.Disk.Layer, new DiskOptions { Name = "control", CapacityBytes = image.CapacityBytes }, image);
        Assert.Equal(Errno.None, FsMount.Mount(disk, w.Mode, out var meta, out _));
        Assert.Equal(Errno.None, meta!.Lookup("/a", out var a));
        Assert.Equal(Errno.None, meta.Lookup("/b", out var b));
        var spb = (ulong)(meta.Superblock.Geometry.BlockSize / SectorSize);
        var from = b!.Extents.First(e => e.State == ExtentState.Written).DiskBlock * spb;
        var to = a!.Extents.First(e => e.State == ExtentState.Written).DiskBlock * spb;
        var block = new byte[meta.Superblock.Geometry.BlockSize];
        image.Read(from, block);
        image.Write(to, block);
        var foreign = new Report();
        Check(w, image, entries, "control: b's block in a", foreign);
        return (lost, foreign);
    }

    private static void AssertNoViolations(Report report) =>
        Assert.True(report.Violations.Count == 0, $"{report.Total} violations in {report.Crashes} crash images; the first:\n" + string.Join("\n", report.Violations));

    // A crash after each of the first n log entries, n = 0 .. all.
    private static Report CheckEveryPrefix(Recorder w)
    {
        var report = new Report();
        var entries = w.Log.Entries;
        var image = w.Log.Rebuild(0);
        for (var n = 0; n <= entries.Count; n++)
        {
            if (n > 0 && entries[n - 1].Kind == WriteLogEntryKind.Write)
            {
                image.Write(entries[n - 1].Sector, entries[n - 1].Data.Span);
            }

            Check(w, image, n, $"after {n} of {entries.Count} log entries", report);
        }

        return report;
    }

    // A crash just before each flush (and at the end): everything before the previous flush is
    // durable, FUA writes since are too, and of the other writes since, the empty subset and
    // seeded subsets reached the media.
    private static Report CheckFlushEpochs(Recorder w, ulong seed, int samplesPerEpoch)
    {
        var report = new Report();
        var entries = w.Log.Entries;
        var random = new Prandom(seed);
        var durable = w.Log.Rebuild(0);
        var previousFlush = -1;
        foreach (var boundary in w.Log.FlushIndexes.Append(entries.Count))
        {
            var epoch = entries.Skip(previousFlush + 1).Take(boundary - previousFlush - 1).Where(e => e.Kind == WriteLogEntryKind.Write).ToList();
            var tried = new HashSet<string>(StringComparer.Ordinal);
            for (var sample = 0; sample <= samplesPerEpoch; sample++)
            {
                var chosen = epoch.Select(e => (e.Flags & BioOpFlags.Fua) != 0 || (sample > 0 && random.NextUInt64() % 2 == 0)).ToList();
                var key = string.Concat(chosen.Select(x => x ? '1' : '0'));
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

                Check(w, image, boundary, $"crash before entry {boundary} of {entries.Count}, the epoch's writes {key} (seed {seed})", report);
            }

            foreach (var e in epoch)
            {
                durable.Write(e.Sector, e.Data.Span);
            }

            previousFlush = boundary;
        }

        return report;
    }

    // Mounts the image of a crash before log entry `crashAt` and checks every file against the
    // promises of the operations that had returned by then.
    private static void Check(Recorder w, DiskImage image, int crashAt, string where, Report report)
    {
        var disk = new MemDisk(w.Disk.Layer, new DiskOptions { Name = "crash", CapacityBytes = image.CapacityBytes }, image);
        var cache = PageCache.Create(w.Machine, new PageCacheOptions { Mode = w.Mode, DirtyWritebackCentisecs = 0 });
        if (FileSystem.Mount(disk, cache, out var fs, out var problem) != Errno.None)
        {
            report.Add($"{where}: mount failed: {problem}");
            return;
        }

        report.Crashes++;
        foreach (var p in Fsck.Check(fs!.Meta))
        {
            report.Add($"{where}: fsck: {p}");
        }

        where = $"{where} (last op returned: {w.LastReturned(crashAt)})";
        Assert.Equal(Errno.None, fs.Meta.ReadDir("/", out var names));
        foreach (var (name, _) in names)
        {
            if (!w.Files.Any(f => string.Equals(f.Name, name, StringComparison.Ordinal)))
            {
                report.Add($"{where}: /{name} was never created");
            }
        }

        foreach (var f in w.Files)
        {
            var err = fs.Open("/" + f.Name, OpenFlags.None, out var h);
            if (err == Errno.ENOENT)
            {
                if (f.Ops[0].End <= crashAt)
                {
                    report.Add($"{where}: /{f.Name} is gone, but its creation had returned");
                }

                continue;
            }

            if (err != Errno.None)
            {
                report.Add($"{where}: /{f.Name}: open failed: {err}");
                continue;
            }

            var size = h!.Size;
            var data = new byte[size];
            err = h.Read(0, data, out var read);
            h.Close();
            if (err != Errno.None || read != size)
            {
                report.Add($"{where}: /{f.Name}: read {read} of {size} bytes: {err}");
                continue;
            }

            CheckFile(w, f, size, data, crashAt, $"{where}: /{f.Name}", report);
        }
    }

    private static void CheckFile(Recorder w, TrackedFile f, long size, byte[] data, int crashAt, string where, Report report)
    {
        var ops = f.Ops;

        // Ops that returned before the crash, and ops that had started (their data may be there).
        var returned = Math.Max(0, ops.FindLastIndex(o => o.End <= crashAt));
        var started = Math.Max(returned, ops.FindLastIndex(o => o.Start < crashAt));

        // The size: within the sizes the file went through since the last op that made its size
        // durable; and at least the end of every O_DSYNC write since, unless a later op cut it.
        var sizeFloor = Math.Max(0, ops.FindLastIndex(returned, o => o.SizeDurable && o.End <= crashAt));
        long lo = ops[sizeFloor].Size;
        var hi = lo;
        for (var j = sizeFloor + 1; j <= started; j++)
        {
            lo = Math.Min(lo, ops[j].Size);
            hi = Math.Max(hi, ops[j].Size);
        }

        if (size < lo || size > hi)
        {
            report.Add($"{where}: size {size}, expected [{lo}, {hi}] (the size made durable by '{ops[sizeFloor].Name}' and the sizes since)");
        }

        for (var j = sizeFloor + 1; j <= returned; j++)
        {
            if (ops[j].DsyncEnd == 0 || ops[j].End > crashAt)
            {
                continue;
            }

            var required = ops[j].DsyncEnd;
            for (var k = j + 1; k <= started; k++)
            {
                required = Math.Min(required, ops[k].Size);
            }

            if (size < required)
            {
                report.Add($"{where}: size {size}, but '{ops[j].Name}' returned and made {required} bytes durable");
            }
        }

        // The data: each sector inside the size is this file's, for that sector, with a
        // generation the sector had at the last op that made it durable or since.
        for (long s = 0; s * SectorSize < size; s++)
        {
            var c = SectorStamp.Read(data.AsSpan((int)(s * SectorSize), (int)Math.Min(SectorSize, size - (s * SectorSize))), StampMagic);
            var at = $"{where}, sector {s} (size {size})";
            if (c.Kind == SectorKind.Garbage)
            {
                report.Add($"{at}: holds data no file wrote (metadata, stale blocks or a torn stamp)");
                continue;
            }

            if (c.Kind == SectorKind.Stamp && (c.FileId != f.Id || c.FileSector != s))
            {
                var whose = w.Files.FirstOrDefault(x => x.Id == c.FileId)?.Name ?? "?";
                report.Add($"{at}: holds file {whose}'s data for its sector {c.FileSector} (generation {c.Gen})");
                continue;
            }

            var gen = c.Kind == SectorKind.Zeros ? 0 : c.Gen;
            var floor = returned;
            while (floor > 0 && !(ops[floor].End <= crashAt && ops[floor].CoverFrom <= s && s < ops[floor].CoverTo))
            {
                floor--;
            }

            var allowed = false;
            for (var j = floor; j <= started && !allowed; j++)
            {
                allowed = ops[j].Content.GetValueOrDefault(s) == gen;
            }

            if (!allowed)
            {
                report.Add($"{at}: holds {(gen == 0 ? "zeros" : $"generation {gen}")}; after '{ops[floor].Name}' made it durable it held {Describe(ops[floor].Content.GetValueOrDefault(s))}, and since then {string.Join(", ", ops.Skip(floor + 1).Take(started - floor).Select(o => Describe(o.Content.GetValueOrDefault(s))).Distinct(StringComparer.Ordinal))}");
            }
        }

        static string Describe(int gen) => gen == 0 ? "zeros" : $"generation {gen}";
    }

    /// <summary>One operation on a file: its log entries [Start, End), the file as the model has
    /// it afterwards (sector → generation, absent = zeros; size), and what it made durable when it
    /// returned: the sectors [CoverFrom, CoverTo) as they are afterwards, the size if
    /// SizeDurable, and for an O_DSYNC write the end of its range.</summary>
    private sealed record Op(string Name, int Start, int End, IReadOnlyDictionary<long, int> Content, long Size, long CoverFrom, long CoverTo, bool SizeDurable, long DsyncEnd);

    private sealed class TrackedFile(int id, string name, FsFile main)
    {
        public int Id { get; } = id;

        public string Name { get; } = name;

        public FsFile Main { get; } = main;

        public List<FsFile> Handles { get; } = [main];

        public Dictionary<long, int> Content { get; } = [];

        public long Size { get; set; }

        public List<Op> Ops { get; } = [];
    }

    private sealed class Report
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

    /// <summary>Drives the file API and records, per file, every operation with the log entries
    /// around it and the model state after it.</summary>
    private sealed class Recorder
    {
        private const long Whole = long.MaxValue;
        private int _gen;

        public Recorder(Machine m, CompletionMode mode)
        {
            Machine = m;
            Mode = mode;
            (Disk, _, Fs) = Fresh(m, mode, periodicWriteback: false);
            Log = Disk.StartWriteLog();
        }

        public Machine Machine { get; }

        public CompletionMode Mode { get; }

        public MemDisk Disk { get; }

        public FileSystem Fs { get; }

        public WriteLog Log { get; }

        public List<TrackedFile> Files { get; } = [];

        private int BlockSize => Fs.Meta.Superblock.Geometry.BlockSize;

        public TrackedFile Create(string name, OpenFlags flags = OpenFlags.None)
        {
            var start = Log.Entries.Count;
            Assert.Equal(Errno.None, Fs.Open("/" + name, OpenFlags.Create | OpenFlags.Exclusive | flags, out var h));
            var f = new TrackedFile(Files.Count + 1, name, h!);
            Files.Add(f);
            f.Ops.Add(new Op($"create {name}", start, Log.Entries.Count, new Dictionary<long, int>(), 0, 0, Whole, SizeDurable: true, 0));
            return f;
        }

        public FsFile OpenAlso(TrackedFile f, OpenFlags flags)
        {
            Assert.Equal(Errno.None, Fs.Open("/" + f.Name, flags, out var h));
            f.Handles.Add(h!);
            return h!;
        }

        // A write of stamped sectors through `handle`: buffered, direct, O_DSYNC or both, as it was opened.
        public void Write(TrackedFile f, FsFile handle, long pos, long length)
        {
            var gen = ++_gen;
            var data = Stamped(f, pos, length, gen);
            var dsync = (handle.Flags & OpenFlags.Dsync) != 0;
            var kind = $"{((handle.Flags & OpenFlags.Direct) != 0 ? "direct " : string.Empty)}{(dsync ? "O_DSYNC " : string.Empty)}write";
            Do(f, $"{kind} {f.Name} [{pos}, +{length}) gen {gen}", () =>
            {
                var err = handle.Write(pos, data, out var written);
                Assert.True(err != Errno.None || written == length, $"short write: {written} of {length}");
                return err;
            }, () => Fill(f, pos, length, gen), dsync ? (pos / SectorSize, (pos + length) / SectorSize) : (0, 0), sizeDurable: false, dsync ? pos + length : 0);
        }

        public void WriteAsync(TrackedFile f, FsFile handle, long pos, long length)
        {
            var gen = ++_gen;
            var data = Stamped(f, pos, length, gen);
            Do(f, $"async direct write {f.Name} [{pos}, +{length}) gen {gen}", () => WriteAsyncAndWait(handle, pos, data).Err, () => Fill(f, pos, length, gen), (0, 0), sizeDurable: false, 0);
        }

        public void Fsync(TrackedFile f) => Do(f, $"fsync {f.Name}", f.Main.Fsync, () => { }, (0, Whole), sizeDurable: true, 0);

        public void Fdatasync(TrackedFile f) => Do(f, $"fdatasync {f.Name}", f.Main.Fdatasync, () => { }, (0, Whole), sizeDurable: true, 0);

        public void Truncate(TrackedFile f, long size)
        {
            // Down: the blocks past the new EOF block are freed when it returns.
            var freedFrom = RoundUpTo(size, BlockSize) / SectorSize;
            var down = size < f.Size;
            Do(f, $"truncate {f.Name} to {size}", () => f.Main.Truncate(size), () =>
            {
                Cut(f, size / SectorSize, Whole);
                f.Size = size;
            }, down ? (freedFrom, Whole) : (0, 0), sizeDurable: true, 0);
        }

        public void Fallocate(TrackedFile f, long offset, long length, bool keepSize)
        {
            var extends = !keepSize && offset + length > f.Size;
            Do(f, $"fallocate {f.Name} [{offset}, +{length}){(keepSize ? " keep size" : string.Empty)}", () => f.Main.Fallocate(offset, length, keepSize), () =>
            {
                if (extends)
                {
                    f.Size = offset + length;
                }
            }, (0, 0), sizeDurable: extends, 0);
        }

        public void PunchHole(TrackedFile f, long offset, long length)
        {
            // The whole blocks in the range are freed when it returns; the partial ones are
            // zeroed in the cache only.
            var first = RoundUpTo(offset, BlockSize) / SectorSize;
            var end = (offset + length) / BlockSize * BlockSize / SectorSize;
            Do(f, $"punch {f.Name} [{offset}, +{length})", () => f.Main.PunchHole(offset, length), () => Cut(f, offset / SectorSize, (offset + length) / SectorSize), end > first ? (first, end) : (0, 0), sizeDurable: false, 0);
        }

        /// <summary>syncfs: a promise for every file.</summary>
        public void Sync() => DoAll("syncfs", Fs.Sync);

        public void Unmount()
        {
            foreach (var h in Files.SelectMany(f => f.Handles))
            {
                Assert.Equal(Errno.None, h.Close());
            }

            DoAll("unmount", Fs.Unmount);
        }

        /// <summary>The model is what the live filesystem reads back (so that the crash checks
        /// rest on a model that is right).</summary>
        public void VerifyLive()
        {
            foreach (var f in Files)
            {
                Assert.Equal(f.Size, f.Main.Size);
                var data = new byte[f.Size];
                Assert.Equal(Errno.None, f.Main.Read(0, data, out var read));
                Assert.Equal(f.Size, read);
                for (long s = 0; s * SectorSize < f.Size; s++)
                {
                    var c = SectorStamp.Read(data.AsSpan((int)(s * SectorSize), SectorSize), StampMagic);
                    var gen = f.Content.GetValueOrDefault(s);
                    Assert.True(gen == 0 ? c.Kind == SectorKind.Zeros : c is { Kind: SectorKind.Stamp } && c.FileId == f.Id && c.FileSector == s && c.Gen == gen, $"live /{f.Name} sector {s}: {c}, model generation {gen}");
                }
            }
        }

        public string LastReturned(int crashAt) =>
            Files.SelectMany(f => f.Ops).Where(o => o.End <= crashAt).MaxBy(o => (o.End, o.Start))?.Name ?? "none";

        private static long RoundUpTo(long value, long unit) => (value + unit - 1) / unit * unit;

        private static void Cut(TrackedFile f, long from, long to)
        {
            foreach (var s in f.Content.Keys.Where(s => s >= from && s < to).ToList())
            {
                f.Content.Remove(s);
            }
        }

        private static void Fill(TrackedFile f, long pos, long length, int gen)
        {
            for (var s = pos / SectorSize; s < (pos + length) / SectorSize; s++)
            {
                f.Content[s] = gen;
            }

            f.Size = Math.Max(f.Size, pos + length);
        }

        private static byte[] Stamped(TrackedFile f, long pos, long length, int gen)
        {
            Assert.True(pos % SectorSize == 0 && length % SectorSize == 0, "the workload writes whole sectors");
            var data = new byte[length];
            for (var i = 0; i < length / SectorSize; i++)
            {
                SectorStamp.Write(data.AsSpan(i * SectorSize, SectorSize), StampMagic, f.Id, (pos / SectorSize) + i, gen);
            }

            return data;
        }

        private void Do(TrackedFile f, string name, Func<Errno> action, Action model, (long From, long To) cover, bool sizeDurable, long dsyncEnd)
        {
            var start = Log.Entries.Count;
            var err = action();
            Assert.True(err == Errno.None, $"{name}: {err}");
            model();
            Assert.True(f.Size == f.Main.Size, $"{name}: size {f.Main.Size}, model {f.Size}");
            if (sizeDurable)
            {
                Assert.True(f.Size == f.Main.Inode.DiskSize, $"{name}: on-disk size {f.Main.Inode.DiskSize} after it returned, size {f.Size}");
            }

            f.Ops.Add(new Op(name, start, Log.Entries.Count, new Dictionary<long, int>(f.Content), f.Size, cover.From, cover.To, sizeDurable, dsyncEnd));
        }

        private void DoAll(string name, Func<Errno> action)
        {
            var start = Log.Entries.Count;
            Assert.Equal(Errno.None, action());
            var end = Log.Entries.Count;
            foreach (var f in Files)
            {
                f.Ops.Add(new Op($"{name} ({f.Name})", start, end, new Dictionary<long, int>(f.Content), f.Size, 0, Whole, SizeDurable: true, 0));
            }
        }
    }
}
