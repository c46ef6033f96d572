using System.Globalization;
using System.Threading;
using Writeback.Kernel;

namespace Writeback.Fs;

/// <summary>A <see cref="Stream"/> over an <see cref="FsFile"/>: reads and writes at the
/// stream's own <see cref="Position"/>, which they advance; seekable in every direction;
/// <see cref="SetLength"/> truncates; <see cref="Flush"/> makes the data durable.</summary>
/// <remarks>Kernel: a struct file's position (f_pos) with the system calls that use it —
/// read(2), write(2), lseek(2), ftruncate(2), fsync(2) (fs/read_write.c: ksys_read(),
/// ksys_write(), generic_file_llseek(); fs/sync.c: do_fsync()).
/// <para>Model: an adapter for .NET users. Like every file operation, each I/O member must run
/// inside the machine, on a simulated task (<see cref="Machine.Run"/> or a task spawned in it),
/// because it may sleep on model locks, on the page cache's dirty throttling or on the device;
/// so may <see cref="Stream.Dispose()"/>, which closes the file. The position is the stream's
/// (several streams over one file each have their own, as several open(2)s do), and the stream
/// is not safe for concurrent use, like <see cref="FileStream"/>; the file underneath is.</para>
/// <para>Differences from <see cref="FileStream"/>: nothing is buffered in the stream (the page
/// cache is the buffer), so <see cref="Flush"/> has nothing of its own to write and means
/// durability: it is fsync, as <see cref="FileStream.Flush(bool)"/> with true is. A read that
/// gets some bytes before an error returns them, short, and the next read reports the error, as
/// read(2) does. An error number from the file becomes an <see cref="IOException"/> naming the
/// operation and the error, with <see cref="Exception.HResult"/> set to the negated error number
/// (-EIO is -5), the kernel's way of returning it. The asynchronous members complete
/// synchronously: the model's I/O runs on the simulated task that calls them, never on a thread
/// pool, so the returned task is already finished (an I/O error is in the task; a disposed
/// stream or bad arguments throw at the call, as <see cref="FileStream"/>'s do).</para></remarks>
public sealed class FsFileStream : Stream
{
    private readonly bool _leaveOpen;
    private long _position;
    private int _disposed;

    /// <summary>A stream at position 0 over <paramref name="file"/>, which it closes when
    /// disposed unless <paramref name="leaveOpen"/>.</summary>
    /// <exception cref="ArgumentException">The file is already closed.</exception>
    public FsFileStream(FsFile file, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (file.IsClosed)
        {
            throw new ArgumentException($"file of inode {file.Inode.Number} is closed", nameof(file));
        }

        File = file;
        _leaveOpen = leaveOpen;
    }

    /// <summary>The file.</summary>
    public FsFile File { get; }

    /// <summary>True until the stream is disposed.</summary>
    public override bool CanRead => !IsDisposed;

    /// <summary>True until the stream is disposed.</summary>
    public override bool CanWrite => !IsDisposed;

    /// <summary>True until the stream is disposed.</summary>
    public override bool CanSeek => !IsDisposed;

    /// <summary>The file's size (i_size, which buffered writes raise before writeback).</summary>
    /// <exception cref="ObjectDisposedException">The stream is disposed.</exception>
    public override long Length
    {
        get
        {
            EnsureOpen();
            return File.Size;
        }
    }

    /// <summary>Where the next read or write starts; it may lie past the end of the file (a
    /// write there leaves a zero-filled gap, a read there returns 0).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a negative value.</exception>
    /// <exception cref="ObjectDisposedException">The stream is disposed.</exception>
    public override long Position
    {
        get
        {
            EnsureOpen();
            return _position;
        }

        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            EnsureOpen();
            _position = value;
        }
    }

    private bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Moves the position to <paramref name="offset"/> from the start, the current
    /// position or the end of the file; returns the new position.</summary>
    /// <exception cref="IOException">The new position would be before the start (the stream
    /// does not move).</exception>
    /// <exception cref="ArgumentException"><paramref name="origin"/> is not a <see cref="SeekOrigin"/>.</exception>
    /// <exception cref="ObjectDisposedException">The stream is disposed.</exception>
    /// <remarks>Kernel: generic_file_llseek() with SEEK_SET, SEEK_CUR and SEEK_END (which
    /// reads i_size); a negative result is EINVAL there, an <see cref="IOException"/> here, as
    /// in .NET. Context: Any context.</remarks>
    public override long Seek(long offset, SeekOrigin origin)
    {
        EnsureOpen();
        var start = origin switch
        {
            SeekOrigin.Begin => 0L,
            SeekOrigin.Current => _position,
            SeekOrigin.End => File.Size,
            _ => throw new ArgumentException($"invalid seek origin {(int)origin}", nameof(origin)),
        };

        // Overflow past long.MaxValue wraps negative and is refused below with the rest.
        var position = unchecked(start + offset);
        if (position < 0)
        {
            throw new IOException(string.Create(CultureInfo.InvariantCulture, $"seek to {offset} from {origin} (at {start}) on inode {File.Inode.Number} would move before the beginning of the file"));
        }

        _position = position;
        return position;
    }

    /// <summary>Truncates or extends the file to <paramref name="value"/> bytes (extending reads
    /// back as zeros); a position past the new end moves to it, as in <see cref="FileStream"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="value"/> is negative.</exception>
    /// <exception cref="IOException">The truncate failed (EFBIG past <see cref="FsFile.MaxFileSize"/>, EIO, ...).</exception>
    /// <exception cref="ObjectDisposedException">The stream is disposed.</exception>
    /// <remarks>Kernel: ftruncate(2), xfs_setattr_size(). Context: Process context. May sleep.</remarks>
    public override void SetLength(long value)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        EnsureOpen();
        Context.MightSleep();
        ThrowOnError(File, File.Truncate(value), $"truncate to {value}");
        if (_position > value)
        {
            _position = value;
        }
    }

    /// <summary>Reads into <paramref name="buffer"/> from the position and advances it; returns
    /// the bytes read, 0 at or past the end of the file.</summary>
    /// <exception cref="IOException">The read failed before any byte was read.</exception>
    /// <exception cref="ObjectDisposedException">The stream is disposed.</exception>
    /// <remarks>Kernel: read(2), xfs_file_read_iter(). Context: Process context. May sleep.</remarks>
    public override int Read(Span<byte> buffer)
    {
        EnsureOpen();
        if (buffer.IsEmpty)
        {
            return 0;
        }

        Context.MightSleep();
        var err = File.Read(_position, buffer, out var read);
        if (read == 0)
        {
            ThrowOnError(File, err, $"read of {buffer.Length} bytes at {_position}");
        }

        _position += read;
        return read;
    }

    /// <inheritdoc cref="Read(Span{byte})"/>
    /// <exception cref="ArgumentNullException"><paramref name="buffer"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The range is not inside <paramref name="buffer"/>.</exception>
    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return Read(buffer.AsSpan(offset, count));
    }

    /// <summary>Reads one byte and advances the position; -1 at the end of the file.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public override int ReadByte()
    {
        Span<byte> one = stackalloc byte[1];
        return Read(one) == 0 ? -1 : one[0];
    }

    /// <summary>Writes all of <paramref name="buffer"/> at the position (a position past the end
    /// leaves a zero-filled gap) and advances the position past it.</summary>
    /// <exception cref="IOException">The write failed; the position has advanced past the bytes
    /// that were written before the error, which the message counts.</exception>
    /// <exception cref="ObjectDisposedException">The stream is disposed.</exception>
    /// <remarks>Kernel: write(2), xfs_file_write_iter(): a buffered write only dirties the page
    /// cache — and may pause in balance_dirty_pages() when dirty memory is over the limit.
    /// Context: Process context. May sleep.</remarks>
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        EnsureOpen();
        Context.MightSleep();
        var start = _position;
        while (!buffer.IsEmpty)
        {
            var err = File.Write(_position, buffer, out var written);
            _position += written;
            buffer = buffer[(int)written..];
            if (err != Errno.None)
            {
                throw ErrnoException(File, err, $"write at {start} ({_position - start} bytes written, {buffer.Length} not)");
            }

            Bug.On(written == 0, "FsFile.Write made no progress and reported no error");
        }
    }

    /// <inheritdoc cref="Write(ReadOnlySpan{byte})"/>
    /// <exception cref="ArgumentNullException"><paramref name="buffer"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The range is not inside <paramref name="buffer"/>.</exception>
    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        Write(buffer.AsSpan(offset, count));
    }

    /// <summary>Writes one byte at the position and advances it.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public override void WriteByte(byte value)
    {
        ReadOnlySpan<byte> one = [value];
        Write(one);
    }

    /// <summary>Makes everything written to the file durable, with its metadata: fsync, as
    /// <see cref="FileStream.Flush(bool)"/> with true — the stream buffers nothing, so there is no
    /// lighter flush. After it returns, the data survives a power cut.</summary>
    /// <exception cref="IOException">Writeback, the log or the device's cache flush failed
    /// (the file's unseen writeback error is reported once, as fsync(2) reports it).</exception>
    /// <exception cref="ObjectDisposedException">The stream is disposed.</exception>
    /// <remarks>Kernel: fsync(2), xfs_file_fsync(). Context: Process context. May sleep.</remarks>
    public override void Flush()
    {
        EnsureOpen();
        Context.MightSleep();
        ThrowOnError(File, File.Fsync(), "fsync");
    }

    /// <summary><see cref="Flush"/>, completed before it returns.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public override Task FlushAsync(CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled(cancellationToken);
        }

        EnsureOpen();
        try
        {
            Flush();
            return Task.CompletedTask;
        }
        catch (IOException e)
        {
            return Task.FromException(e);
        }
    }

    /// <summary><see cref="Read(Span{byte})"/>, completed before it returns: the read runs on the calling simulated task.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<int>(cancellationToken);
        }

        EnsureOpen();
        try
        {
            return new ValueTask<int>(Read(buffer.Span));
        }
        catch (IOException e)
        {
            return ValueTask.FromException<int>(e);
        }
    }

    /// <inheritdoc cref="ReadAsync(Memory{byte}, CancellationToken)"/>
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    /// <summary><see cref="Write(ReadOnlySpan{byte})"/>, completed before it returns: the write
    /// (and any throttling pause) runs on the calling simulated task.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        EnsureOpen();
        try
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }
        catch (IOException e)
        {
            return ValueTask.FromException(e);
        }
    }

    /// <inheritdoc cref="WriteAsync(ReadOnlyMemory{byte}, CancellationToken)"/>
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    /// <summary>The APM form of <see cref="ReadAsync(byte[], int, int, CancellationToken)"/>:
    /// done before it returns (the base class would queue the read to the thread pool, outside the machine).</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public override IAsyncResult BeginRead(byte[] buffer, int offset, int count, AsyncCallback? callback, object? state) =>
        TaskToAsyncResult.Begin(ReadAsync(buffer, offset, count, CancellationToken.None), callback, state);

    /// <summary>The bytes read by <see cref="BeginRead"/>.</summary>
    public override int EndRead(IAsyncResult asyncResult) => TaskToAsyncResult.End<int>(asyncResult);

    /// <summary>The APM form of <see cref="WriteAsync(byte[], int, int, CancellationToken)"/>:
    /// done before it returns (the base class would queue the write to the thread pool, outside the machine).</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public override IAsyncResult BeginWrite(byte[] buffer, int offset, int count, AsyncCallback? callback, object? state) =>
        TaskToAsyncResult.Begin(WriteAsync(buffer, offset, count, CancellationToken.None), callback, state);

    /// <summary>Ends a <see cref="BeginWrite"/>.</summary>
    public override void EndWrite(IAsyncResult asyncResult) => TaskToAsyncResult.End(asyncResult);

    /// <summary>The IOException for <paramref name="err"/> from <paramref name="operation"/> on
    /// <paramref name="file"/>: the message names both, and the HResult is the negated error
    /// number, as the kernel returns it.</summary>
    internal static IOException ErrnoException(FsFile file, Errno err, string operation) =>
        new(string.Create(CultureInfo.InvariantCulture, $"{operation} on inode {file.Inode.Number} failed: {err} (errno {(int)err})"), -(int)err);

    /// <summary>Throws <see cref="ErrnoException"/> unless <paramref name="err"/> is <see cref="Errno.None"/>.</summary>
    internal static void ThrowOnError(FsFile file, Errno err, string operation)
    {
        if (err != Errno.None)
        {
            throw ErrnoException(file, err, operation);
        }
    }

    /// <summary>Closes the file unless the stream was made with leaveOpen; later calls do nothing.
    /// A file already closed by its owner is not an error.</summary>
    /// <exception cref="IOException">Closing the file failed.</exception>
    /// <remarks>Kernel: close(2), the last fput() of the file. Context: Process context. May sleep.</remarks>
    protected override void Dispose(bool disposing)
    {
        try
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0 && disposing && !_leaveOpen)
            {
                Context.MightSleep();
                var err = File.Close();
                if (err != Errno.EBADF)
                {
                    ThrowOnError(File, err, "close");
                }
            }
        }
        finally
        {
            base.Dispose(disposing);
        }
    }

    private void EnsureOpen() => ObjectDisposedException.ThrowIf(IsDisposed, this);
}
