using Writeback.Block;
using Writeback.Kernel;

namespace Writeback.Fs.Iomap;

/// <summary>A run of a file written back with one bio: logically and physically contiguous,
/// with the folio segments it covers.</summary>
/// <remarks>Kernel: struct iomap_ioend (fs/iomap/ioend.c): io_offset, io_size, io_sector,
/// io_flags, io_error, io_list, and the bio it embeds. Model: the bio is built when the ioend is
/// submitted; the block layer splits it to the device's limits.</remarks>
public sealed class Ioend
{
    /// <summary>The most one ioend covers (bytes): XFS caps an ioend at IOEND_BATCH_SIZE folios.</summary>
    public const long MaxSize = 4096L * Mm.Folio.PageSize;

    private readonly List<IoendSegment> _segments = [];

    internal Ioend(IIomapInode inode, long offset, long address, IoendFlags flags)
    {
        Inode = inode;
        Offset = offset;
        Address = address;
        Flags = flags;
    }

    /// <summary>The file.</summary>
    public IIomapInode Inode { get; }

    /// <summary>Its first byte in the file.</summary>
    public long Offset { get; private set; }

    /// <summary>Its bytes.</summary>
    public long Size { get; private set; }

    /// <summary>The disk byte address of <see cref="Offset"/>.</summary>
    public long Address { get; private set; }

    /// <summary>What its completion must do.</summary>
    public IoendFlags Flags { get; }

    /// <summary>The first error of its I/O (io_error).</summary>
    public Errno Error { get; set; }

    /// <summary>The folio segments, in file order.</summary>
    public IReadOnlyList<IoendSegment> Segments => _segments;

    /// <summary>The bio, once built.</summary>
    public Bio? Bio { get; private set; }

    /// <summary>The byte after it.</summary>
    public long End => Offset + Size;

    /// <summary>Builds the bio: a write of every segment at <see cref="Address"/>.</summary>
    public Bio BuildBio(BioOpFlags flags = BioOpFlags.None)
    {
        var bio = new Bio(Inode.Device, BioOp.Write, flags) { Sector = (ulong)(Address / BlockDevice.SectorSize), Private = this };
        foreach (var s in _segments)
        {
            bio.AddVec(s.Folio.Data.AsMemory(s.Offset, s.Length));
        }

        Bio = bio;
        return bio;
    }

    /// <summary>Ends the write of every segment: on error the mapping records it; a folio whose
    /// last pending bytes these were ends writeback (iomap_finish_ioend_buffered).</summary>
    /// <remarks>Context: Any context — bio completion (interrupt in IRQ mode) or a worker.</remarks>
    public void FinishBuffered()
    {
        if (Error != Errno.None)
        {
            Inode.Mapping.SetError(Error);
        }

        foreach (var s in _segments)
        {
            if (s.State.FinishWrite(s.Length))
            {
                s.Folio.EndWriteback();
            }
        }
    }

    /// <summary>Sorts ioends by offset and merges each with the following ones when they are
    /// contiguous in the file and on disk, share flags and error (iomap_sort_ioends,
    /// iomap_ioend_try_merge); returns the merged heads.</summary>
    public static List<Ioend> SortAndMerge(IEnumerable<Ioend> ioends)
    {
        var merged = new List<Ioend>();
        foreach (var io in ioends.OrderBy(i => i.Offset))
        {
            if (merged.Count > 0 && merged[^1] is var last && last.End == io.Offset && last.Address + last.Size == io.Address
                && last.Flags == io.Flags && last.Error == io.Error)
            {
                last._segments.AddRange(io._segments);
                last.Size += io.Size;
                continue;
            }

            merged.Add(io);
        }

        return merged;
    }

    internal bool CanAdd(long offset, long address, IoendFlags flags, int length) =>
        offset == End && address == Address + Size && flags == Flags && Size + length <= MaxSize;

    internal void Add(IoendSegment segment)
    {
        _segments.Add(segment);
        Size += segment.Length;
    }
}
