using Writeback.Block;
using Writeback.Mm;

namespace Writeback.Fs.Iomap;

/// <summary>What iomap needs of a file: its page cache, device, block size and size, and the
/// filesystem's mapping operations.</summary>
/// <remarks>Kernel: struct inode (i_mapping, i_blkbits, i_size, the superblock's bdev) with the
/// filesystem's iomap_ops; the model joins them in one interface.</remarks>
public interface IIomapInode : IIomapOps
{
    /// <summary>The file's page cache.</summary>
    AddressSpace Mapping { get; }

    /// <summary>The device its blocks are on.</summary>
    BlockDevice Device { get; }

    /// <summary>Bytes per filesystem block.</summary>
    int BlockSize { get; }

    /// <summary>i_size.</summary>
    long Size { get; }

    /// <summary>Raises i_size to <paramref name="end"/> after a write past it (i_size_write in
    /// iomap_write_end, before the folio is unlocked).</summary>
    void ExtendSize(long end);
}
