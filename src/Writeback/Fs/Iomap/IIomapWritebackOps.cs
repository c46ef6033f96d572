using Writeback.Kernel;

namespace Writeback.Fs.Iomap;

/// <summary>A filesystem's part in writeback: map a dirty range to blocks (allocating delalloc
/// here) and submit the ioends built over them.</summary>
/// <remarks>Kernel: struct iomap_writeback_ops (writeback_range → e.g. xfs_map_blocks;
/// writeback_submit → xfs_writeback_submit). Context: Process context. May sleep.</remarks>
public interface IIomapWritebackOps
{
    /// <summary>The mapping at <paramref name="pos"/> for writeback: delalloc becomes real blocks.</summary>
    Errno MapBlocks(long pos, long length, out IomapExtent iomap);

    /// <summary>Gives up on the range after <see cref="MapBlocks"/> failed: its dirty data is lost,
    /// and whatever the filesystem reserved for it goes (xfs_discard_folio).</summary>
    void Discard(long pos, long length);

    /// <summary>Sets the ioend's bio up (end-io, flags) and submits it. Called for every ioend
    /// built, even after an error, so that its folios end writeback.</summary>
    void Submit(Ioend ioend, Errno error);
}
