namespace Writeback.Block;

/// <summary>Every write and flush a device completed, in completion order, with marks, from which
/// the device's image can be rebuilt as of any entry — for crash-consistency tests.</summary>
/// <remarks>In the spirit of dm-log-writes: the log starts from a copy of the device's content
/// when logging began; <see cref="Rebuild"/> replays the writes before a given entry onto it.
/// Whether the replayed writes would have survived a power cut is the caller's question: a
/// rebuild at a flush entry is what a crash right after that flush guarantees at least.</remarks>
public sealed class WriteLog
{
    private readonly List<WriteLogEntry> _entries = [];
    private readonly DiskImage _start;
    private Writeback.Kernel.ArchSpinLock _lock;

    internal WriteLog(DiskImage start) => _start = start;

    /// <summary>The entries so far.</summary>
    public IReadOnlyList<WriteLogEntry> Entries
    {
        get
        {
            _lock.Lock();
            try
            {
                return [.. _entries];
            }
            finally
            {
                _lock.Unlock();
            }
        }
    }

    /// <summary>Indexes of the flush entries.</summary>
    public IReadOnlyList<int> FlushIndexes => [.. Entries.Where(e => e.Kind == WriteLogEntryKind.Flush).Select(e => e.Index)];

    /// <summary>Puts a named mark in the log (dm-log-writes' mark message).</summary>
    public int Mark(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return Append(WriteLogEntryKind.Mark, 0, default, BioOpFlags.None, name);
    }

    /// <summary>The device image with the writes of the first <paramref name="entries"/> entries applied.</summary>
    public DiskImage Rebuild(int entries)
    {
        var log = Entries;
        ArgumentOutOfRangeException.ThrowIfNegative(entries);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(entries, log.Count);
        var image = _start.Clone();
        for (var i = 0; i < entries; i++)
        {
            if (log[i].Kind == WriteLogEntryKind.Write)
            {
                image.Write(log[i].Sector, log[i].Data.Span);
            }
        }

        return image;
    }

    /// <summary>The image as of the mark named <paramref name="name"/> (the writes before it).</summary>
    /// <exception cref="KeyNotFoundException">No mark has that name.</exception>
    public DiskImage RebuildAtMark(string name)
    {
        var mark = Entries.FirstOrDefault(e => e.Kind == WriteLogEntryKind.Mark && e.Name == name)
            ?? throw new KeyNotFoundException($"write log: no mark named '{name}'");
        return Rebuild(mark.Index);
    }

    internal int Append(WriteLogEntryKind kind, ulong sector, ReadOnlyMemory<byte> data, BioOpFlags flags, string? name)
    {
        _lock.Lock();
        try
        {
            var index = _entries.Count;
            _entries.Add(new WriteLogEntry(index, kind, sector, data, flags, name));
            return index;
        }
        finally
        {
            _lock.Unlock();
        }
    }
}
