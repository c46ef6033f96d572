using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.ExceptionServices;
using System.Threading;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Fs;

/// <summary>A <see cref="PipeWriter"/> that streams into an <see cref="FsFile"/> from a start
/// position: <see cref="GetMemory"/>, <see cref="GetSpan"/> and <see cref="Advance"/> fill an
/// internal buffer; <see cref="FlushAsync"/> writes it to the file, with back-pressure from the
/// page cache's dirty throttling.</summary>
/// <remarks>Kernel: a sequential writer's write(2) loop: each flush is write(2)s at the file
/// position (fs/read_write.c: ksys_pwrite64(), xfs_file_buffered_write()), which dirty the page
/// cache folio by folio and call balance_dirty_pages_ratelimited() after each
/// (mm/page-writeback.c) — where a writer that pushed dirty memory over the limit sleeps until
/// writeback brings it down.
/// <para>Model: that sleep is the back-pressure. <see cref="FlushAsync"/> writes the buffered
/// bytes with <see cref="FsFile.Write"/> on the calling simulated task, and returns only when
/// they are all in the page cache — after any throttling pause in
/// <see cref="PageCache.BalanceDirtyPages"/> — so a producer that flushes as it goes can never
/// run ahead of the disk by more than the dirty limit (and what it has buffered), however fast
/// it produces. The returned
/// <see cref="ValueTask{TResult}"/> is always already completed: nothing runs on a thread pool,
/// and every member that writes must run inside the machine (<see cref="Machine.Run"/> or a task
/// spawned in it). Data in the page cache is not durable: a flush is write(2), not fsync(2); the
/// constructor's fsyncOnComplete makes <see cref="Complete"/> fsync. The writer buffers in
/// segments rented from <see cref="ArrayPool{T}.Shared"/> (returned as they are written out);
/// one <see cref="FsFile.Write"/> per segment. Like every <see cref="PipeWriter"/>, it has one
/// producer; only <see cref="CancelPendingFlush"/>, <see cref="UnflushedBytes"/> and
/// <see cref="Position"/> may be used from another task. There is no reader, so a
/// <see cref="FlushResult"/> is never completed.</para></remarks>
public sealed class FsFilePipeWriter : PipeWriter
{
    /// <summary>The default smallest segment: 16 pages, so that small writes are gathered into
    /// writes of that size (each write takes i_rwsem and stamps the times).</summary>
    public const int DefaultMinimumSegmentSize = 16 * Folio.PageSize;

    private readonly bool _fsyncOnComplete;
    private readonly bool _leaveOpen;
    private readonly bool _dontcache;
    private readonly int _minimumSegmentSize;

    // Filled segments in file order; the last is the one GetMemory hands out. A segment's bytes
    // in [Start, End) are unflushed; a flush writes them and moves Start up.
    private readonly List<Segment> _segments = [];
    private long _position;
    private long _unflushed;
    private int _cancelPending;
    private bool _completed;

    /// <summary>A writer whose first byte goes to <paramref name="position"/> in
    /// <paramref name="file"/> (pass <see cref="FsFile.Size"/> to append).</summary>
    /// <param name="file">The file; closed by <see cref="Complete"/> unless <paramref name="leaveOpen"/>.</param>
    /// <param name="position">The file offset of the first byte written.</param>
    /// <param name="fsyncOnComplete">Whether <see cref="Complete"/> (without an exception)
    /// fsyncs the file after writing out the rest, so that everything written is durable when
    /// it returns.</param>
    /// <param name="leaveOpen">Whether <see cref="Complete"/> leaves the file open.</param>
    /// <param name="dontcache">Whether the writes are RWF_DONTCACHE: the folios leave the page
    /// cache once written back.</param>
    /// <param name="minimumSegmentSize">The smallest buffer segment rented.</param>
    /// <exception cref="ArgumentException">The file is closed.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="position"/> is negative, or
    /// <paramref name="minimumSegmentSize"/> is not positive.</exception>
    public FsFilePipeWriter(FsFile file, long position, bool fsyncOnComplete = false, bool leaveOpen = false, bool dontcache = false, int minimumSegmentSize = DefaultMinimumSegmentSize)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(minimumSegmentSize);
        if (file.IsClosed)
        {
            throw new ArgumentException($"file of inode {file.Inode.Number} is closed", nameof(file));
        }

        File = file;
        _position = position;
        _fsyncOnComplete = fsyncOnComplete;
        _leaveOpen = leaveOpen;
        _dontcache = dontcache;
        _minimumSegmentSize = minimumSegmentSize;
    }

    /// <summary>The file.</summary>
    public FsFile File { get; }

    /// <summary>The file offset the next byte written out goes to: the start position plus
    /// everything flushed so far.</summary>
    /// <remarks>Context: Any context.</remarks>
    public long Position => Interlocked.Read(ref _position);

    /// <summary>True: <see cref="UnflushedBytes"/> is supported.</summary>
    public override bool CanGetUnflushedBytes => true;

    /// <summary>Bytes advanced but not yet written to the file.</summary>
    /// <remarks>Context: Any context.</remarks>
    public override long UnflushedBytes => Interlocked.Read(ref _unflushed);

    /// <summary>Memory for at least <paramref name="sizeHint"/> bytes (at least one when 0),
    /// to be filled and then committed with <see cref="Advance"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="sizeHint"/> is negative.</exception>
    /// <exception cref="InvalidOperationException">The writer is completed.</exception>
    /// <remarks>Context: Any context.</remarks>
    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sizeHint);
        ThrowIfCompleted();
        var tail = _segments.Count > 0 ? _segments[^1] : null;
        var need = Math.Max(sizeHint, 1);
        if (tail is not null && tail.Start == tail.End)
        {
            // Everything in it has been written out: fill it again from the start.
            tail.Start = tail.End = 0;
        }

        if (tail is null || tail.Buffer.Length - tail.End < need)
        {
            if (tail is not null && tail.End == 0)
            {
                // Empty, and too small for the hint: give it back rather than keep it.
                _segments.RemoveAt(_segments.Count - 1);
                ArrayPool<byte>.Shared.Return(tail.Buffer);
            }

            tail = new Segment(ArrayPool<byte>.Shared.Rent(Math.Max(sizeHint, _minimumSegmentSize)));
            _segments.Add(tail);
        }

        return tail.Buffer.AsMemory(tail.End);
    }

    /// <inheritdoc cref="GetMemory"/>
    public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    /// <summary>Commits <paramref name="bytes"/> bytes of the memory last returned by
    /// <see cref="GetMemory"/> or <see cref="GetSpan"/> to the buffer; <see cref="FlushAsync"/>
    /// writes them out.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bytes"/> is negative or more
    /// than that memory holds.</exception>
    /// <exception cref="InvalidOperationException">The writer is completed.</exception>
    /// <remarks>Context: Any context.</remarks>
    public override void Advance(int bytes)
    {
        ThrowIfCompleted();
        var tail = _segments.Count > 0 ? _segments[^1] : null;
        var free = tail is null ? 0 : tail.Buffer.Length - tail.End;
        if ((uint)bytes > (uint)free)
        {
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes, $"must be between 0 and the {free} bytes that GetMemory/GetSpan returned");
        }

        if (bytes > 0)
        {
            tail!.End += bytes;
            Interlocked.Add(ref _unflushed, bytes);
        }
    }

    /// <summary>Writes every buffered byte into the file at <see cref="Position"/>, and returns
    /// when they are in the page cache — after any pause the page cache's dirty throttling
    /// imposed on this task: that pause is the back-pressure. The result is already completed.</summary>
    /// <returns>A result that is canceled, with the bytes not yet written still buffered, if
    /// <see cref="CancelPendingFlush"/> was called before or during the flush (checked between
    /// writes); otherwise neither canceled nor completed.</returns>
    /// <exception cref="IOException">A write failed (in the returned task). The bytes written
    /// before the error count as flushed; the rest stay buffered, so a later flush retries them.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was
    /// canceled (in the returned task); checked before and between writes, and the bytes not
    /// yet written stay buffered.</exception>
    /// <exception cref="InvalidOperationException">The writer is completed.</exception>
    /// <remarks>Kernel: write(2), balance_dirty_pages(). Context: Process context. May sleep.</remarks>
    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfCompleted();
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<FlushResult>(cancellationToken);
        }

        Context.MightSleep();
        try
        {
            var canceled = WriteOut(honourCancellation: true, cancellationToken);
            return new ValueTask<FlushResult>(new FlushResult(isCanceled: canceled, isCompleted: false));
        }
        catch (OperationCanceledException e) when (e.CancellationToken == cancellationToken)
        {
            return ValueTask.FromCanceled<FlushResult>(cancellationToken);
        }
        catch (IOException e)
        {
            return ValueTask.FromException<FlushResult>(e);
        }
    }

    /// <summary>Makes the current or, if none is running, the next <see cref="FlushAsync"/>
    /// return a canceled result, leaving unwritten bytes buffered. A flush in progress stops
    /// before its next write (a write already under way, or throttled, finishes first).</summary>
    /// <remarks>Context: Any context.</remarks>
    public override void CancelPendingFlush() => Interlocked.Exchange(ref _cancelPending, 1);

    /// <summary>Finishes writing: without <paramref name="exception"/>, writes out what is
    /// buffered (ignoring <see cref="CancelPendingFlush"/>) and, if the writer was made with
    /// fsyncOnComplete, fsyncs; with one, discards the buffer, as a producer that failed would
    /// want. Then closes the file unless made with leaveOpen. Later calls do nothing.</summary>
    /// <exception cref="IOException">Writing, the fsync or the close failed. The writer is
    /// completed all the same and the buffer released, as <see cref="PipeWriter.Complete"/>
    /// requires; the bytes not written are in no file.</exception>
    /// <remarks>Kernel: the last write(2)s, fsync(2), close(2). Context: Process context. May sleep.</remarks>
    public override void Complete(Exception? exception = null)
    {
        if (_completed)
        {
            return;
        }

        _completed = true;
        Context.MightSleep();
        IOException? failure = null;
        if (exception is null)
        {
            try
            {
                WriteOut(honourCancellation: false, CancellationToken.None);
                if (_fsyncOnComplete)
                {
                    FsFileStream.ThrowOnError(File, File.Fsync(), "fsync");
                }
            }
            catch (IOException e)
            {
                failure = e;
            }
        }

        foreach (var segment in _segments)
        {
            ArrayPool<byte>.Shared.Return(segment.Buffer);
        }

        _segments.Clear();
        Interlocked.Exchange(ref _unflushed, 0);
        Interlocked.Exchange(ref _cancelPending, 0);
        if (!_leaveOpen)
        {
            var err = File.Close();
            if (failure is null && err is not (Errno.None or Errno.EBADF))
            {
                failure = FsFileStream.ErrnoException(File, err, "close");
            }
        }

        if (failure is not null)
        {
            ExceptionDispatchInfo.Throw(failure);
        }
    }

    /// <summary><see cref="Complete"/>, completed before it returns (an I/O error is in the returned task).</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public override ValueTask CompleteAsync(Exception? exception = null)
    {
        try
        {
            Complete(exception);
            return ValueTask.CompletedTask;
        }
        catch (IOException e)
        {
            return ValueTask.FromException(e);
        }
    }

    // Writes the segments out in order; true if CancelPendingFlush stopped it. Written segments
    // go back to the pool, except the last, which GetMemory may keep filling.
    private bool WriteOut(bool honourCancellation, CancellationToken cancellationToken)
    {
        var done = 0;
        try
        {
            foreach (var segment in _segments)
            {
                while (segment.Start < segment.End)
                {
                    if (honourCancellation)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        if (Interlocked.Exchange(ref _cancelPending, 0) != 0)
                        {
                            return true;
                        }
                    }

                    var pos = _position;
                    var err = File.Write(pos, segment.Buffer.AsSpan(segment.Start, segment.End - segment.Start), out var written, _dontcache);
                    segment.Start += (int)written;
                    Interlocked.Add(ref _position, written);
                    Interlocked.Add(ref _unflushed, -written);
                    if (err != Errno.None)
                    {
                        throw FsFileStream.ErrnoException(File, err, $"write of {segment.End - segment.Start + written} bytes at {pos} ({written} written)");
                    }

                    Bug.On(written == 0, "FsFile.Write made no progress and reported no error");
                }

                done++;
            }

            // A flush that finds nothing to write still consumes a pending cancellation, as the
            // pipe's does: the flush it was meant for is this one.
            if (honourCancellation && Interlocked.Exchange(ref _cancelPending, 0) != 0)
            {
                return true;
            }

            return false;
        }
        finally
        {
            // Keep the last segment for more writes; return the other written ones.
            var release = Math.Min(done, _segments.Count - 1);
            for (var i = 0; i < release; i++)
            {
                ArrayPool<byte>.Shared.Return(_segments[i].Buffer);
            }

            _segments.RemoveRange(0, Math.Max(release, 0));
        }
    }

    private void ThrowIfCompleted()
    {
        if (_completed)
        {
            throw new InvalidOperationException("the writer is completed: writing is not allowed after Complete");
        }
    }

    // A rented buffer; its unflushed bytes are [Start, End).
    private sealed class Segment(byte[] buffer)
    {
        public byte[] Buffer { get; } = buffer;

        public int Start { get; set; }

        public int End { get; set; }
    }
}
