using Writeback.Kernel;

namespace Writeback.Block;

/// <summary>A device's volatile write cache: completed writes that are not yet on the media.</summary>
/// <remarks>Writes are kept in completion order; a read sees the newest cached copy of each
/// sector over the media. A flush destages everything in order. A FUA write goes to the media at
/// once. When the cache holds more than its capacity the oldest writes destage on their own, as
/// a drive's cache does. A later write to a sector makes an earlier cached copy of it dead, so
/// that destaging the earlier write can never bring back old data over newer. A power cut loses
/// the cache — or, to model torn ordering, applies a seeded subset of it in a random order first.
/// Not synchronised: the disk holds its lock.</remarks>
internal sealed class VolatileCache(long capacityBytes)
{
    private readonly LinkedList<Write> _writes = [];
    private readonly Dictionary<ulong, Write> _newest = [];

    public long Bytes { get; private set; }

    public int Count => _writes.Count;

    public void Add(ulong sector, byte[] data, bool fua, IDiskMedia media)
    {
        var sectors = data.Length / BlockDevice.SectorSize;
        var write = new Write(sector, data);
        for (var i = 0; i < sectors; i++)
        {
            var s = sector + (ulong)i;
            if (_newest.TryGetValue(s, out var older))
            {
                (older.Dead ??= []).Add(s);
                _newest.Remove(s);
            }

            if (!fua)
            {
                _newest[s] = write;
            }
        }

        if (fua)
        {
            media.Write(sector, data);
            return;
        }

        write.Node = _writes.AddLast(write);
        Bytes += data.Length;
        while (Bytes > capacityBytes && _writes.First is { } oldest)
        {
            Destage(oldest.Value, media);
        }
    }

    public void Read(ulong sector, Span<byte> destination, IDiskMedia media)
    {
        media.Read(sector, destination);
        if (_newest.Count == 0)
        {
            return;
        }

        var sectors = destination.Length / BlockDevice.SectorSize;
        for (var i = 0; i < sectors; i++)
        {
            var s = sector + (ulong)i;
            if (_newest.TryGetValue(s, out var w))
            {
                w.Data.AsSpan((int)(s - w.Sector) * BlockDevice.SectorSize, BlockDevice.SectorSize)
                    .CopyTo(destination.Slice(i * BlockDevice.SectorSize, BlockDevice.SectorSize));
            }
        }
    }

    public void Flush(IDiskMedia media)
    {
        while (_writes.First is { } oldest)
        {
            Destage(oldest.Value, media);
        }
    }

    /// <summary>Loses the cache; with <paramref name="torn"/>, first applies each cached write
    /// with probability one half, in a random order. Returns the writes applied.</summary>
    public int PowerCut(IDiskMedia media, Prandom? torn)
    {
        var applied = 0;
        if (torn is not null)
        {
            var chosen = _writes.Where(_ => torn.NextUInt64() % 2 == 0).ToList();
            for (var i = chosen.Count - 1; i > 0; i--)
            {
                var j = (int)torn.NextInt64(i + 1);
                (chosen[i], chosen[j]) = (chosen[j], chosen[i]);
            }

            foreach (var w in chosen)
            {
                Apply(w, media);
                applied++;
            }
        }

        _writes.Clear();
        _newest.Clear();
        Bytes = 0;
        return applied;
    }

    private void Destage(Write w, IDiskMedia media)
    {
        Apply(w, media);
        _writes.Remove(w.Node!);
        Bytes -= w.Data.Length;
        var sectors = w.Data.Length / BlockDevice.SectorSize;
        for (var i = 0; i < sectors; i++)
        {
            var s = w.Sector + (ulong)i;
            if (_newest.TryGetValue(s, out var newest) && ReferenceEquals(newest, w))
            {
                _newest.Remove(s);
            }
        }
    }

    private static void Apply(Write w, IDiskMedia media)
    {
        if (w.Dead is null)
        {
            media.Write(w.Sector, w.Data);
            return;
        }

        var sectors = w.Data.Length / BlockDevice.SectorSize;
        for (var i = 0; i < sectors; i++)
        {
            var s = w.Sector + (ulong)i;
            if (!w.Dead.Contains(s))
            {
                media.Write(s, w.Data.AsSpan(i * BlockDevice.SectorSize, BlockDevice.SectorSize));
            }
        }
    }

    private sealed class Write(ulong sector, byte[] data)
    {
        public ulong Sector { get; } = sector;

        public byte[] Data { get; } = data;

        public HashSet<ulong>? Dead { get; set; }

        public LinkedListNode<Write>? Node { get; set; }
    }
}
