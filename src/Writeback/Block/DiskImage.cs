namespace Writeback.Block;

/// <summary>The bytes of a disk held in memory, sparsely: pages never written read as zeros.</summary>
/// <remarks>The media of a <see cref="MemDisk"/>, and what a write log rebuilds for crash tests.
/// Not synchronised.</remarks>
public sealed class DiskImage : IDiskMedia
{
    private const int PageBytes = 4096;
    private const int SectorsPerPage = PageBytes / BlockDevice.SectorSize;
    private readonly Dictionary<ulong, byte[]> _pages;

    /// <summary>An all-zero image of <paramref name="capacityBytes"/> bytes (a multiple of 512).</summary>
    public DiskImage(long capacityBytes)
    {
        if (capacityBytes <= 0 || capacityBytes % BlockDevice.SectorSize != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(capacityBytes), capacityBytes, "must be a positive multiple of 512");
        }

        CapacityBytes = capacityBytes;
        _pages = [];
    }

    private DiskImage(long capacityBytes, Dictionary<ulong, byte[]> pages)
    {
        CapacityBytes = capacityBytes;
        _pages = pages;
    }

    /// <summary>Size in bytes.</summary>
    public long CapacityBytes { get; }

    /// <summary>Size in sectors.</summary>
    public ulong CapacitySectors => (ulong)CapacityBytes / BlockDevice.SectorSize;

    /// <summary>Bytes of memory the written pages take.</summary>
    public long ResidentBytes => (long)_pages.Count * PageBytes;

    /// <summary>Reads sectors from <paramref name="sector"/> into <paramref name="destination"/> (a multiple of 512 bytes).</summary>
    public void Read(ulong sector, Span<byte> destination)
    {
        CheckRange(sector, destination.Length);
        while (!destination.IsEmpty)
        {
            var page = sector / SectorsPerPage;
            var offset = (int)(sector % SectorsPerPage) * BlockDevice.SectorSize;
            var n = Math.Min(destination.Length, PageBytes - offset);
            if (_pages.TryGetValue(page, out var data))
            {
                data.AsSpan(offset, n).CopyTo(destination);
            }
            else
            {
                destination[..n].Clear();
            }

            destination = destination[n..];
            sector += (ulong)(n / BlockDevice.SectorSize);
        }
    }

    /// <summary>Writes sectors from <paramref name="source"/> (a multiple of 512 bytes) at <paramref name="sector"/>.</summary>
    public void Write(ulong sector, ReadOnlySpan<byte> source)
    {
        CheckRange(sector, source.Length);
        while (!source.IsEmpty)
        {
            var page = sector / SectorsPerPage;
            var offset = (int)(sector % SectorsPerPage) * BlockDevice.SectorSize;
            var n = Math.Min(source.Length, PageBytes - offset);
            if (!_pages.TryGetValue(page, out var data))
            {
                data = new byte[PageBytes];
                _pages[page] = data;
            }

            source[..n].CopyTo(data.AsSpan(offset));
            source = source[n..];
            sector += (ulong)(n / BlockDevice.SectorSize);
        }
    }

    /// <summary>A copy that shares nothing with this image.</summary>
    public DiskImage Clone()
    {
        var pages = new Dictionary<ulong, byte[]>(_pages.Count);
        foreach (var (k, v) in _pages)
        {
            pages[k] = (byte[])v.Clone();
        }

        return new DiskImage(CapacityBytes, pages);
    }

    void IDiskMedia.Sync()
    {
    }

    private void CheckRange(ulong sector, int bytes)
    {
        if (bytes % BlockDevice.SectorSize != 0)
        {
            throw new ArgumentException($"disk image: {bytes} bytes is not a whole number of sectors");
        }

        var sectors = (ulong)bytes / BlockDevice.SectorSize;
        if (sector > CapacitySectors || sectors > CapacitySectors - sector)
        {
            throw new ArgumentOutOfRangeException(nameof(sector), sector, $"disk image: {sectors} sectors at {sector} run past the end ({CapacitySectors} sectors)");
        }
    }
}
