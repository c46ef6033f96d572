using System.Buffers;
using System.IO.Pipelines;
using System.Threading;
using Writeback.Block;
using Writeback.Fs;
using Writeback.Fs.Iomap;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Fs;

/// <summary>The <see cref="PipeWriter"/> adapter over <see cref="FsFile"/>: every byte arrives
/// in order from the start position, FlushAsync is where dirty throttling pushes back on the
/// producer, and the PipeWriter contract (cancel, complete, unflushed bytes, errors) holds.</summary>
public class FsFilePipeWriterTests
{
    [Theory]
    [InlineData(CompletionMode.Irq, 21)]
    [InlineData(CompletionMode.Task, 22)]
    public void SeveralMiB_ThroughSmallSegments_ArriveInOrderFromTheStartPosition(CompletionMode mode, int seed)
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var (_, cache, fs) = FsFixture.Fresh(m, mode, 64L << 20, new PageCacheOptions { Mode = mode });
            Assert.Equal(Errno.None, fs.Open("/stream", OpenFlags.Create, out var f));
            var head = FsFixture.Pattern(seed, 3000);
            Assert.Equal(Errno.None, f!.Write(0, head, out _));

            // Appended after the existing 3000 bytes, in pieces of 1 to 3000 bytes through
            // 1 KiB segments, flushed every 100 KiB or so.
            var data = FsFixture.Pattern(seed + 1, 6 << 20);
            var writer = new FsFilePipeWriter(f, f.Size, minimumSegmentSize: 1024);
            Assert.Equal(3000, writer.Position);
            var random = new Random(seed);
            var at = 0;
            var sinceFlush = 0;
            while (at < data.Length)
            {
                var n = Math.Min(random.Next(1, 3001), data.Length - at);
                if (random.Next(4) == 0)
                {
                    writer.Write(data.AsSpan(at, n));
                }
                else
                {
                    var span = writer.GetSpan(random.Next(0, n + 1));
                    n = Math.Min(n, span.Length);
                    data.AsSpan(at, n).CopyTo(span);
                    writer.Advance(n);
                }

                at += n;
                sinceFlush += n;
                Assert.Equal(sinceFlush, writer.UnflushedBytes);
                if (sinceFlush >= 100 << 10)
                {
                    var result = Flushed(writer.FlushAsync());
                    Assert.False(result.IsCanceled || result.IsCompleted);
                    Assert.Equal(0, writer.UnflushedBytes);
                    Assert.Equal(3000 + at, writer.Position);
                    Assert.Equal(3000 + at, f.Size);
                    sinceFlush = 0;
                }
            }

            Assert.True(Done(writer.CompleteAsync()));
            Assert.True(f.IsClosed);
            Assert.True(cache.NrDirty > 0, "the last writes should still be dirty: a flush is not an fsync");

            Assert.Equal(Errno.None, fs.Open("/stream", OpenFlags.None, out var g));
            Assert.Equal(3000 + data.Length, g!.Size);
            Assert.Equal(head, ReadAll(g, 0, head.Length));
            Assert.Equal(data, ReadAll(g, head.Length, data.Length));
            Assert.Equal(Errno.None, g.Close());
        });
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void WritingFarPastTheDirtyLimit_PausesTheProducerInFlushAsync_AndDirtyMemoryStaysUnderTheThreshold(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 3);
        long pauses = 0;
        long threshold = 0;
        long peak = 0;
        long afterFlush = 0;
        m.Run(() =>
        {
            var options = new PageCacheOptions
            {
                Mode = mode,
                MemoryLimitBytes = 4L << 20,
                DirtyBytes = 512L << 10,
                DirtyBackgroundBytes = 256L << 10,
            };
            var (_, cache, fs) = FsFixture.Fresh(m, mode, 64L << 20, options);
            threshold = cache.DirtyThresholdPages;
            Assert.Equal(Errno.None, fs.Open("/big", OpenFlags.Create, out var f));

            // A sampler on a CPU of its own watches dirty memory while the producer runs.
            var producing = 1;
            var sampled = new Completion();
            m.Spawn("sampler", () =>
            {
                while (Volatile.Read(ref producing) != 0)
                {
                    peak = Math.Max(peak, cache.NrDirty + cache.NrWriteback);
                    Context.Ndelay(20_000);
                }

                sampled.Complete();
            }, 2);

            // 8 MiB through a 512 KiB dirty limit, 32 KiB per flush.
            var data = FsFixture.Pattern(31, 8 << 20);
            var writer = new FsFilePipeWriter(f!, 0);
            for (var at = 0; at < data.Length; at += 32 << 10)
            {
                writer.Write(data.AsSpan(at, 32 << 10));
                Flushed(writer.FlushAsync());

                // Back in the producer's hands: every byte is in the page cache, and dirty
                // memory is at the limit that paused it, or under it.
                Assert.Equal(0, writer.UnflushedBytes);
                Assert.Equal(at + (32 << 10), f!.Size);
                afterFlush = Math.Max(afterFlush, cache.NrDirty + cache.NrWriteback);
            }

            Volatile.Write(ref producing, 0);
            sampled.WaitForCompletion();
            writer.Complete();
            pauses = cache.ThrottlePauses;

            Assert.Equal(Errno.None, fs.Open("/big", OpenFlags.None, out var g));
            Assert.Equal(data, ReadAll(g!, 0, data.Length));
            Assert.Equal(Errno.None, g!.Close());
        });
        Assert.True(pauses > 0, "the producer was never throttled");
        Assert.Equal(128, threshold);

        // The slack, one folio each — up to the largest a write creates: a folio the flusher has
        // cleaned for I/O but not yet put under writeback counts in neither counter
        // (folio_clear_dirty_for_io() comes before folio_start_writeback(), as in the kernel), so
        // balance_dirty_pages() can let the writer go one folio early; and the writer dirties its
        // next folio before it checks again (the kernel overshoots by its ratelimit too).
        var folioPages = 1 << IomapBufferedIo.MaxFolioOrder;
        Assert.True(afterFlush <= threshold + folioPages, $"{afterFlush} pages dirty or under writeback when FlushAsync returned, threshold {threshold}");
        Assert.True(peak <= threshold + folioPages + 1, $"peak {peak} pages dirty or under writeback, threshold {threshold}");
        Assert.True(peak > threshold / 2, $"peak {peak}: the sampler saw no pressure");
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void CancelPendingFlush_FromAnotherTask_StopsAThrottledFlushBetweenWrites_AndKeepsTheRestBuffered(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var options = new PageCacheOptions { Mode = mode, MemoryLimitBytes = 4L << 20, DirtyBytes = 256L << 10, DirtyBackgroundBytes = 128L << 10 };
            var (_, cache, fs) = FsFixture.Fresh(m, mode, 64L << 20, options);
            Assert.Equal(Errno.None, fs.Open("/c", OpenFlags.Create, out var f));
            var data = FsFixture.Pattern(41, 2 << 20);
            var writer = new FsFilePipeWriter(f!, 0, leaveOpen: true, minimumSegmentSize: 16 << 10);
            for (var at = 0; at < data.Length; at += 16 << 10)
            {
                writer.Write(data.AsSpan(at, 16 << 10));
            }

            var canceller = new Completion();
            m.Spawn("canceller", () =>
            {
                while (writer.Position < 512 << 10)
                {
                    m.Msleep(1);
                }

                writer.CancelPendingFlush();
                canceller.Complete();
            }, 1);

            var result = Flushed(writer.FlushAsync());
            canceller.WaitForCompletion();
            Assert.True(result.IsCanceled);
            Assert.True(cache.ThrottlePauses > 0);
            var flushed = writer.Position;
            Assert.InRange(flushed, 512 << 10, data.Length - 1);
            Assert.Equal(data.Length - flushed, writer.UnflushedBytes);
            Assert.Equal(flushed, f!.Size);

            // The next flush writes the rest.
            Assert.False(Flushed(writer.FlushAsync()).IsCanceled);
            Assert.Equal(data.Length, writer.Position);
            writer.Complete();
            Assert.False(f.IsClosed);
            Assert.Equal(data, ReadAll(f, 0, data.Length));
            Assert.Equal(Errno.None, f.Close());
        });
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void CancelPendingFlush_BeforeAFlush_AndACanceledToken_CancelThatFlushOnly_WithNothingLost()
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var (_, _, fs) = FsFixture.Fresh(m, CompletionMode.Irq, 64L << 20);
            Assert.Equal(Errno.None, fs.Open("/k", OpenFlags.Create, out var f));
            var writer = new FsFilePipeWriter(f!, 0);
            writer.Write<byte>([1, 2, 3]);

            writer.CancelPendingFlush();
            Assert.True(Flushed(writer.FlushAsync()).IsCanceled);
            Assert.Equal(3, writer.UnflushedBytes);
            Assert.Equal(0, f!.Size);

            using var cts = new CancellationTokenSource();
            cts.Cancel();
            var canceled = writer.FlushAsync(cts.Token);
            Assert.True(canceled.IsCanceled);
            Assert.Equal(3, writer.UnflushedBytes);

            Assert.False(Flushed(writer.FlushAsync()).IsCanceled);
            Assert.Equal(3, f.Size);
            Assert.Equal(0, writer.UnflushedBytes);

            // With nothing buffered, a cancel still belongs to the next flush, as in a Pipe.
            writer.CancelPendingFlush();
            Assert.True(Flushed(writer.FlushAsync()).IsCanceled);
            Assert.False(Flushed(writer.FlushAsync()).IsCanceled);

            // Complete writes out what is buffered even with a cancel pending.
            writer.Write<byte>([4, 5]);
            writer.CancelPendingFlush();
            writer.Complete();
            Assert.Equal(Errno.None, fs.Open("/k", OpenFlags.None, out var g));
            Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, ReadAll(g!, 0, 5));
            Assert.Equal(Errno.None, g!.Close());
        });
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void Complete_WithFsyncOnComplete_WritesOutTheRestDurably_AcrossAPowerCut(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var (disk, _, fs) = FsFixture.Fresh(m, mode, 64L << 20, new PageCacheOptions { Mode = mode, DirtyWritebackCentisecs = 0 });
            Assert.Equal(Errno.None, fs.Open("/log", OpenFlags.Create, out var f));
            var data = FsFixture.Pattern(51, 700_000);
            var writer = new FsFilePipeWriter(f!, 0, fsyncOnComplete: true);
            writer.Write(data.AsSpan(0, 400_000));
            Flushed(writer.FlushAsync());
            writer.Write(data.AsSpan(400_000));
            Assert.Equal(300_000, writer.UnflushedBytes);
            writer.Complete();
            Assert.True(f!.IsClosed);

            disk.PowerCut();
            var cache = PageCache.Create(m, new PageCacheOptions { Mode = mode });
            Assert.Equal(Errno.None, FileSystem.Mount(disk, cache, out var again, out var problem));
            Assert.Null(problem);
            Assert.Equal(Errno.None, again!.Open("/log", OpenFlags.None, out var g));
            Assert.Equal(data.Length, g!.Size);
            Assert.Equal(data, ReadAll(g, 0, data.Length));
            Assert.Equal(Errno.None, g.Close());
            Assert.Empty(Writeback.Fs.Fsck.Check(again.Meta));
        });
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void Complete_ClosesTheFileUnlessLeftOpen_DiscardsTheBufferOnAnException_AndLaterWritesThrow()
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var (_, _, fs) = FsFixture.Fresh(m, CompletionMode.Irq, 64L << 20);
            Assert.Equal(Errno.None, fs.Open("/x", OpenFlags.Create, out var f));
            var writer = new FsFilePipeWriter(f!, 0, leaveOpen: true);
            writer.Write<byte>([1, 2, 3]);
            Flushed(writer.FlushAsync());
            writer.Write<byte>([4, 5, 6]);
            writer.Complete(new InvalidOperationException("the producer failed"));
            Assert.False(f!.IsClosed);
            Assert.Equal(3, f.Size);
            Assert.Equal(0, writer.UnflushedBytes);
            writer.Complete();
            Assert.Throws<InvalidOperationException>(() => writer.GetSpan());
            Assert.Throws<InvalidOperationException>(() => writer.GetMemory(10));
            Assert.Throws<InvalidOperationException>(() => writer.Advance(0));
            Assert.Throws<InvalidOperationException>(() => Done(writer.FlushAsync()));

            var closing = new FsFilePipeWriter(f, f.Size);
            closing.Write<byte>([7]);
            Assert.True(Done(closing.CompleteAsync()));
            Assert.True(f.IsClosed);
            Assert.Throws<ArgumentException>(() => new FsFilePipeWriter(f, 0));

            Assert.Equal(Errno.None, fs.Open("/x", OpenFlags.None, out var g));
            Assert.Equal(new byte[] { 1, 2, 3, 7 }, ReadAll(g!, 0, 4));
            Assert.Throws<ArgumentOutOfRangeException>(() => new FsFilePipeWriter(g!, -1));
            Assert.Throws<ArgumentOutOfRangeException>(() => new FsFilePipeWriter(g!, 0, minimumSegmentSize: 0));
            Assert.Equal(Errno.None, g!.Close());
        });
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void GetMemoryAndAdvance_KeepThePipeWriterContract()
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var (_, _, fs) = FsFixture.Fresh(m, CompletionMode.Irq, 64L << 20);
            Assert.Equal(Errno.None, fs.Open("/g", OpenFlags.Create, out var f));
            var writer = new FsFilePipeWriter(f!, 0, minimumSegmentSize: 64);
            Assert.True(writer.CanGetUnflushedBytes);
            Assert.True(writer.GetMemory().Length >= 1);
            Assert.True(writer.GetMemory(100_000).Length >= 100_000);
            Assert.Throws<ArgumentOutOfRangeException>(() => writer.GetMemory(-1));
            var span = writer.GetSpan(10);
            var room = span.Length;
            Assert.Throws<ArgumentOutOfRangeException>(() => writer.Advance(-1));
            Assert.Throws<ArgumentOutOfRangeException>(() => writer.Advance(room + 1));
            Assert.Equal(0, writer.UnflushedBytes);
            span[0] = 42;
            writer.Advance(1);
            writer.Advance(0);
            Assert.Equal(1, writer.UnflushedBytes);

            // A Stream over the writer, as PipeWriter offers.
            using (var s = writer.AsStream(leaveOpen: true))
            {
                s.Write([43, 44]);
                s.Flush();
            }

            Assert.Equal(3, f!.Size);
            Assert.True(Done(writer.WriteAsync(new byte[] { 45 })));
            Assert.Equal(4, writer.Position);
            writer.Complete();
            Assert.Equal(Errno.None, fs.Open("/g", OpenFlags.None, out var g));
            Assert.Equal(new byte[] { 42, 43, 44, 45 }, ReadAll(g!, 0, 4));
            Assert.Equal(Errno.None, g!.Close());
        });
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void Dontcache_WritesLeaveThePageCacheOnceWrittenBack()
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            // Task mode: writeback ends in task context, where dropbehind folios can be removed.
            var (_, cache, fs) = FsFixture.Fresh(m, CompletionMode.Task, 64L << 20, null);
            Assert.Equal(Errno.None, fs.Open("/once", OpenFlags.Create, out var f));
            var data = FsFixture.Pattern(61, 256 << 10);
            var writer = new FsFilePipeWriter(f!, 0, fsyncOnComplete: true, leaveOpen: true, dontcache: true);
            writer.Write(data);
            writer.Complete();
            // Counted in folios: the pipe's 64 KiB segments make 64 KiB folios.
            Assert.Equal(data.Length / (Folio.PageSize << IomapBufferedIo.MaxFolioOrder), cache.DropbehindRemoved);
            Assert.Equal(0, f!.Aops.Mapping.NrPages);
            Assert.Equal(data, ReadAll(f, 0, data.Length));
            Assert.Equal(Errno.None, f.Close());
        });
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void AWriteError_IsAnIOExceptionInTheFlush_AndTheBytesStayBufferedForARetry()
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var (_, _, fs) = FsFixture.Fresh(m, CompletionMode.Irq, 64L << 20);
            Assert.Equal(Errno.None, fs.Open("/e", OpenFlags.Create, out var f));
            var writer = new FsFilePipeWriter(f!, FsFile.MaxFileSize - 10);
            writer.Write(new byte[100]);
            var flush = writer.FlushAsync();
            Assert.True(flush.IsFaulted);
            var e = Assert.IsType<IOException>(flush.AsTask().Exception!.InnerException);
            Assert.Equal(-(int)Errno.EFBIG, e.HResult);
            Assert.Contains("EFBIG", e.Message, StringComparison.Ordinal);
            Assert.Contains("write", e.Message, StringComparison.Ordinal);
            Assert.Equal(100, writer.UnflushedBytes);
            Assert.Equal(FsFile.MaxFileSize - 10, writer.Position);

            // Complete retries, fails the same way, and still completes (and closes the file).
            var complete = writer.CompleteAsync();
            Assert.True(complete.IsFaulted);
            Assert.Equal(-(int)Errno.EFBIG, complete.AsTask().Exception!.InnerException!.HResult);
            Assert.True(f!.IsClosed);
            Assert.Equal(0, writer.UnflushedBytes);
            Assert.Throws<InvalidOperationException>(() => writer.GetSpan());
        });
        MachineFixture.AssertClean(m);
    }

    private static bool Done(ValueTask task) => task.IsCompletedSuccessfully;

    private static bool Done<T>(ValueTask<T> task) => task.IsCompletedSuccessfully;

    private static FlushResult Flushed(ValueTask<FlushResult> flush)
    {
        Assert.True(flush.IsCompletedSuccessfully, "FlushAsync completes before it returns");
        return flush.Result;
    }

    private static byte[] ReadAll(FsFile file, long pos, int length)
    {
        var back = new byte[length];
        var got = 0;
        while (got < length)
        {
            Assert.Equal(Errno.None, file.Read(pos + got, back.AsSpan(got), out var read));
            Assert.True(read > 0, $"EOF at {pos + got}");
            got += read;
        }

        return back;
    }
}
