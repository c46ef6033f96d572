using Microsoft.Win32.SafeHandles;

namespace Writeback.Block;

/// <summary>A disk's durable bytes in a host file, read and written with <see cref="RandomAccess"/>.</summary>
internal sealed class FileMedia : IDiskMedia, IDisposable
{
    private readonly SafeFileHandle _handle;

    public FileMedia(string path, long capacityBytes)
    {
        _handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, FileOptions.None);
        var length = RandomAccess.GetLength(_handle);
        if (length == 0)
        {
            RandomAccess.SetLength(_handle, capacityBytes);
            length = capacityBytes;
        }
        else if (length % BlockDevice.SectorSize != 0)
        {
            _handle.Dispose();
            throw new InvalidDataException($"{path}: {length} bytes is not a whole number of 512-byte sectors, so it is not a disk image");
        }

        CapacitySectors = (ulong)length / BlockDevice.SectorSize;
    }

    public ulong CapacitySectors { get; }

    public void Read(ulong sector, Span<byte> destination)
    {
        var offset = (long)sector * BlockDevice.SectorSize;
        while (!destination.IsEmpty)
        {
            var n = RandomAccess.Read(_handle, destination, offset);
            if (n == 0)
            {
                destination.Clear();
                return;
            }

            destination = destination[n..];
            offset += n;
        }
    }

    public void Write(ulong sector, ReadOnlySpan<byte> source) =>
        RandomAccess.Write(_handle, source, (long)sector * BlockDevice.SectorSize);

    public void Sync() => RandomAccess.FlushToDisk(_handle);

    public void Dispose() => _handle.Dispose();
}
