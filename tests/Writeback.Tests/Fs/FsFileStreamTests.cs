using System.Text;
using Writeback.Block;
using Writeback.Fs;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Fs;

/// <summary>The <see cref="Stream"/> adapter over <see cref="FsFile"/>: the Stream contract
/// (position, seek, length, read and write at the position, dispose) as <see cref="FileStream"/>
/// keeps it, Flush as fsync, and error numbers as IOExceptions.</summary>
public class FsFileStreamTests
{
    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void WritesThroughEveryOverload_ReadBackThroughTheStreamAndThroughTheFile(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var (_, _, fs) = FsFixture.Fresh(m, mode);
            Assert.Equal(Errno.None, fs.Open("/f", OpenFlags.Create, out var f));
            var data = FsFixture.Pattern(1, 300_001);
            using (var s = new FsFileStream(f!))
            {
                Assert.True(s.CanRead && s.CanWrite && s.CanSeek);
                Assert.Equal(0, s.Length);
                s.Write(data, 0, 1000);
                s.Write(data.AsSpan(1000, 50_000));
                s.WriteByte(data[51_000]);
                Assert.True(Done(s.WriteAsync(data.AsMemory(51_001, 100_000))));
                Assert.True(s.WriteAsync(data, 151_001, 49_000).IsCompletedSuccessfully);
                s.EndWrite(s.BeginWrite(data, 200_001, 100_000, null, null));
                Assert.Equal(data.Length, s.Position);
                Assert.Equal(data.Length, s.Length);
                Assert.Equal(data.Length, f!.Size);

                // Back through the stream, in odd-sized reads that cross pages.
                Assert.Equal(0, s.Seek(0, SeekOrigin.Begin));
                var back = new byte[data.Length];
                var got = 0;
                while (true)
                {
                    var n = s.Read(back, got, Math.Min(7777, back.Length - got));
                    if (n == 0)
                    {
                        break;
                    }

                    got += n;
                }

                Assert.Equal(data.Length, got);
                Assert.Equal(data, back);
                Assert.Equal(-1, s.ReadByte());
                Assert.Equal(0, s.Read(new byte[10]));
                Assert.Equal(0, ReadNow(s.ReadAsync(new byte[10].AsMemory())));

                s.Position = 51_000;
                Assert.Equal(data[51_000], s.ReadByte());
                Assert.Equal(51_001, s.Position);
                var ten = new byte[10];
                Assert.Equal(10, s.EndRead(s.BeginRead(ten, 0, 10, null, null)));
                Assert.Equal(data.AsSpan(51_001, 10).ToArray(), ten);
                Assert.Equal(10, ReadNow(s.ReadAsync(ten, 0, 10)));
                Assert.Equal(data.AsSpan(51_011, 10).ToArray(), ten);

                // And through the file, which the stream shares.
                Array.Clear(back);
                Assert.Equal(Errno.None, f.Read(0, back, out var read));
                Assert.Equal(data.Length, read);
                Assert.Equal(data, back);
            }

            Assert.True(f!.IsClosed);
        });
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void TextAndCopyHelpers_WorkOverTheStream()
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var (_, _, fs) = FsFixture.Fresh(m, CompletionMode.Irq);
            Assert.Equal(Errno.None, fs.Open("/text", OpenFlags.Create, out var f));
            using var s = new FsFileStream(f!);
            using (var writer = new StreamWriter(s, Encoding.UTF8, bufferSize: 128, leaveOpen: true))
            {
                for (var i = 0; i < 500; i++)
                {
                    writer.WriteLine($"line {i}");
                }
            }

            s.Position = 0;
            using (var reader = new StreamReader(s, Encoding.UTF8, detectEncodingFromByteOrderMarks: false, bufferSize: 100, leaveOpen: true))
            {
                for (var i = 0; i < 500; i++)
                {
                    Assert.Equal($"line {i}", reader.ReadLine());
                }

                Assert.Null(reader.ReadLine());
            }

            s.Position = 0;
            using var copy = new MemoryStream();
            s.CopyTo(copy, bufferSize: 333);
            Assert.Equal(s.Length, copy.Length);
            Assert.Equal(s.Length, s.Position);
        });
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void Seek_FromEveryOrigin_AndPositionPastTheEnd_FollowFileStream()
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var (_, _, fs) = FsFixture.Fresh(m, CompletionMode.Irq);
            Assert.Equal(Errno.None, fs.Open("/seek", OpenFlags.Create, out var f));
            using var s = new FsFileStream(f!);
            s.Write(FsFixture.Pattern(2, 10_000));

            Assert.Equal(100, s.Seek(100, SeekOrigin.Begin));
            Assert.Equal(150, s.Seek(50, SeekOrigin.Current));
            Assert.Equal(140, s.Seek(-10, SeekOrigin.Current));
            Assert.Equal(9_990, s.Seek(-10, SeekOrigin.End));
            Assert.Equal(10_000, s.Seek(0, SeekOrigin.End));
            Assert.Equal(10_000, s.Position);

            // Before the start: refused, and the position stays.
            s.Position = 140;
            Assert.Throws<IOException>(() => s.Seek(-1, SeekOrigin.Begin));
            Assert.Throws<IOException>(() => s.Seek(-141, SeekOrigin.Current));
            Assert.Throws<IOException>(() => s.Seek(-10_001, SeekOrigin.End));
            Assert.Throws<IOException>(() => s.Seek(long.MaxValue, SeekOrigin.End));
            Assert.Equal(140, s.Position);
            Assert.Throws<ArgumentOutOfRangeException>(() => s.Position = -1);
            Assert.Throws<ArgumentException>(() => s.Seek(0, (SeekOrigin)7));
            Assert.Equal(140, s.Position);

            // Past the end: a read finds nothing; a write leaves a zero-filled gap.
            Assert.Equal(20_000, s.Seek(10_000, SeekOrigin.End));
            Assert.Equal(0, s.Read(new byte[100]));
            Assert.Equal(10_000, s.Length);
            s.Write([1, 2, 3]);
            Assert.Equal(20_003, s.Length);
            Assert.Equal(20_003, s.Position);
            s.Position = 9_999;
            var gap = new byte[10_004];
            Assert.Equal(gap.Length, s.Read(gap));
            Assert.Equal(FsFixture.Pattern(2, 10_000)[^1], gap[0]);
            Assert.All(gap[1..^3], b => Assert.Equal(0, b));
            Assert.Equal(new byte[] { 1, 2, 3 }, gap[^3..]);
        });
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void SetLength_TruncatesAndExtendsTheFile_AndPullsAPositionPastTheNewEndBack(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var (_, _, fs) = FsFixture.Fresh(m, mode);
            Assert.Equal(Errno.None, fs.Open("/len", OpenFlags.Create, out var f));
            using var s = new FsFileStream(f!);
            var data = FsFixture.Pattern(3, 20_000);
            s.Write(data);

            s.SetLength(3_000);
            Assert.Equal(3_000, s.Length);
            Assert.Equal(3_000, f!.Size);
            Assert.Equal(3_000, s.Position);

            s.Position = 1_000;
            s.SetLength(12_000);
            Assert.Equal(1_000, s.Position);
            Assert.Equal(12_000, s.Length);
            s.Position = 0;
            var back = new byte[13_000];
            Assert.Equal(12_000, s.Read(back));
            Assert.Equal(data[..3_000], back[..3_000]);
            Assert.All(back[3_000..12_000], b => Assert.Equal(0, b));

            s.SetLength(0);
            Assert.Equal(0, s.Length);
            Assert.Equal(0, s.Position);
            Assert.Throws<ArgumentOutOfRangeException>(() => s.SetLength(-1));
        });
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(CompletionMode.Irq)]
    [InlineData(CompletionMode.Task)]
    public void Flush_MakesTheDataDurable_AcrossAPowerCut_WhereUnflushedDataIsLost(CompletionMode mode)
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            // No periodic writeback: only Flush sends the data to the disk.
            var (disk, _, fs) = FsFixture.Fresh(m, mode, cacheOptions: new PageCacheOptions { Mode = mode, DirtyWritebackCentisecs = 0 });
            var data = FsFixture.Pattern(4, 200_000);
            Assert.Equal(Errno.None, fs.Open("/durable", OpenFlags.Create, out var f));
            using (var s = new FsFileStream(f!))
            {
                s.Write(data);
                s.Flush();
                Assert.Equal(data.Length, f!.Inode.DiskSize);
                Assert.True(s.FlushAsync().IsCompletedSuccessfully);
            }

            // The control: written, never flushed, so still only in the page cache.
            Assert.Equal(Errno.None, fs.Open("/volatile", OpenFlags.Create, out var v));
            var control = new FsFileStream(v!);
            control.Write(FsFixture.Pattern(5, 100_000));
            Assert.Equal(0, v!.Inode.DiskSize);

            disk.PowerCut();
            var cache = PageCache.Create(m, new PageCacheOptions { Mode = mode });
            Assert.Equal(Errno.None, FileSystem.Mount(disk, cache, out var again, out var problem));
            Assert.Null(problem);
            Assert.Equal(Errno.None, again!.Open("/durable", OpenFlags.None, out var g));
            using (var s = new FsFileStream(g!))
            {
                Assert.Equal(data.Length, s.Length);
                var back = new byte[data.Length];
                s.ReadExactly(back);
                Assert.Equal(data, back);
            }

            var lost = again.Open("/volatile", OpenFlags.None, out var w);
            Assert.True(lost == Errno.ENOENT || w!.Size == 0, $"unflushed data survived: {lost}, size {w?.Size}");
            w?.Close();
            Assert.Empty(Writeback.Fs.Fsck.Check(again.Meta));
        });
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void ErrorNumbers_BecomeIOExceptions_NamingTheErrorAndTheOperation_WithTheNegatedErrnoAsHResult()
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var (disk, _, fs) = FsFixture.Fresh(m, CompletionMode.Irq);
            Assert.Equal(Errno.None, fs.Open("/big", OpenFlags.Create, out var f));
            using var s = new FsFileStream(f!);
            s.Position = FsFile.MaxFileSize - 1;
            var e = Assert.Throws<IOException>(() => s.Write([1, 2]));
            AssertErrno(e, Errno.EFBIG, "write");
            Assert.Equal(FsFile.MaxFileSize - 1, s.Position);
            Assert.Equal(0, s.Length);
            AssertErrno(Assert.Throws<IOException>(() => s.SetLength(FsFile.MaxFileSize + 1)), Errno.EFBIG, "truncate");
            var faulted = s.WriteAsync(new byte[2].AsMemory());
            Assert.True(faulted.IsFaulted);
            AssertErrno(Assert.IsType<IOException>(faulted.AsTask().Exception!.InnerException), Errno.EFBIG, "write");

            // The device's cache flush fails: fsync says so.
            s.Position = 0;
            s.Write(FsFixture.Pattern(6, 8192));
            disk.AddFault(new FaultRule { Op = BioOp.Flush, Count = 1 });
            AssertErrno(Assert.Throws<IOException>(s.Flush), Errno.EIO, "fsync");
            s.Flush();

            // Direct I/O must be aligned.
            Assert.Equal(Errno.None, fs.Open("/direct", OpenFlags.Create | OpenFlags.Direct, out var d));
            using var ds = new FsFileStream(d!);
            AssertErrno(Assert.Throws<IOException>(() => ds.Write(new byte[100])), Errno.EINVAL, "write");
            ds.Write(new byte[4096]);
            ds.Position = 1;
            AssertErrno(Assert.Throws<IOException>(() => ds.Read(new byte[4096])), Errno.EINVAL, "read");

            // The file closed under a stream that left it open.
            Assert.Equal(Errno.None, fs.Open("/big", OpenFlags.None, out var g));
            var shared = new FsFileStream(g!, leaveOpen: true);
            Assert.Equal(Errno.None, g!.Close());
            AssertErrno(Assert.Throws<IOException>(() => shared.Read(new byte[1])), Errno.EBADF, "read");
            AssertErrno(Assert.Throws<IOException>(shared.Flush), Errno.EBADF, "fsync");
            shared.Dispose();
        });
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void Dispose_ClosesTheFileUnlessLeftOpen_IsIdempotent_AndEveryLaterCallThrowsObjectDisposed()
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var (_, _, fs) = FsFixture.Fresh(m, CompletionMode.Irq);
            Assert.Equal(Errno.None, fs.Open("/d", OpenFlags.Create, out var f));
            var s = new FsFileStream(f!);
            s.Write([1, 2, 3]);
            s.Dispose();
            Assert.True(f!.IsClosed);
            s.Dispose();
            Assert.True(Done(s.DisposeAsync()));
            Assert.False(s.CanRead || s.CanWrite || s.CanSeek);
            Assert.Throws<ObjectDisposedException>(() => s.Length);
            Assert.Throws<ObjectDisposedException>(() => s.Position);
            Assert.Throws<ObjectDisposedException>(() => s.Position = 0);
            Assert.Throws<ObjectDisposedException>(() => s.Seek(0, SeekOrigin.Begin));
            Assert.Throws<ObjectDisposedException>(() => s.Read(new byte[1]));
            Assert.Throws<ObjectDisposedException>(() => s.Write([1]));
            Assert.Throws<ObjectDisposedException>(() => s.SetLength(0));
            Assert.Throws<ObjectDisposedException>(s.Flush);
            Assert.Throws<ObjectDisposedException>(() => Done(s.ReadAsync(new byte[1].AsMemory())));
            Assert.Throws<ObjectDisposedException>(() => Done(s.WriteAsync(new byte[1].AsMemory())));
            Assert.Throws<ArgumentException>(() => new FsFileStream(f));

            Assert.Equal(Errno.None, fs.Open("/d", OpenFlags.None, out var g));
            using (var kept = new FsFileStream(g!, leaveOpen: true))
            {
                Assert.Equal(3, kept.Length);
            }

            Assert.False(g!.IsClosed);
            Assert.Equal(Errno.None, g.Read(0, new byte[3], out var read));
            Assert.Equal(3, read);

            // A file its owner closed first is not an error at dispose.
            var late = new FsFileStream(g);
            Assert.Equal(Errno.None, g.Close());
            late.Dispose();
        });
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void AsyncMembers_CompleteOnTheCallingTask_AndHonourACanceledToken()
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var (_, _, fs) = FsFixture.Fresh(m, CompletionMode.Task);
            Assert.Equal(Errno.None, fs.Open("/a", OpenFlags.Create, out var f));
            using var s = new FsFileStream(f!);
            using var cts = new System.Threading.CancellationTokenSource();
            cts.Cancel();
            Assert.True(Canceled(s.WriteAsync(new byte[10].AsMemory(), cts.Token)));
            Assert.True(Canceled(s.ReadAsync(new byte[10].AsMemory(), cts.Token)));
            Assert.True(s.FlushAsync(cts.Token).IsCanceled);
            Assert.Equal(0, s.Length);

            var write = s.WriteAsync(FsFixture.Pattern(7, 5000), 0, 5000);
            Assert.True(write.IsCompletedSuccessfully);
            s.Position = 0;
            var read = s.ReadAsync(new byte[6000], 0, 6000);
            Assert.True(read.IsCompletedSuccessfully);
            Assert.Equal(5000, ReadNow(read));
            Assert.True(s.FlushAsync().IsCompletedSuccessfully);
        });
        MachineFixture.AssertClean(m);
    }

    private static bool Done(ValueTask task) => task.IsCompletedSuccessfully;

    private static bool Done<T>(ValueTask<T> task) => task.IsCompletedSuccessfully;

    private static bool Canceled(ValueTask task) => task.IsCanceled;

    private static bool Canceled<T>(ValueTask<T> task) => task.IsCanceled;

    private static int ReadNow(ValueTask<int> read)
    {
        Assert.True(read.IsCompletedSuccessfully);
        return read.Result;
    }

    private static int ReadNow(Task<int> read)
    {
        Assert.True(read.IsCompletedSuccessfully);
        return read.Result;
    }

    private static void AssertErrno(IOException e, Errno err, string operation)
    {
        Assert.Equal(-(int)err, e.HResult);
        Assert.Contains(err.ToString(), e.Message, StringComparison.Ordinal);
        Assert.Contains(operation, e.Message, StringComparison.Ordinal);
    }
}
