using Writeback.Kernel;

namespace Writeback.Mm;

/// <summary>What the owner of a mapping (a block device's cache, a filesystem) does for the page cache.</summary>
/// <remarks>Kernel: struct address_space_operations (writepages, read_folio, dirty_folio, invalidate_folio).</remarks>
public interface IAddressSpaceOperations
{
    /// <summary>Writes back the folios <paramref name="wbc"/> asks for, typically with <see cref="AddressSpace.WritebackIter"/>.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    Errno Writepages(AddressSpace mapping, WritebackControl wbc);

    /// <summary>Fills a locked, not uptodate folio from storage and unlocks it (possibly after I/O completes).</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    Errno ReadFolio(AddressSpace mapping, Folio folio);

    /// <summary>Marks a folio dirty for the owner; returns whether it was clean. The default is
    /// the page cache's own (filemap_dirty_folio()).</summary>
    /// <remarks>Kernel: a_ops-&gt;dirty_folio. Context: Process context; the folio is locked.</remarks>
    bool DirtyFolio(AddressSpace mapping, Folio folio)
    {
        ArgumentNullException.ThrowIfNull(folio);
        return folio.MarkDirty();
    }

    /// <summary>Tells the owner that bytes [<paramref name="offset"/>, offset + <paramref name="length"/>)
    /// of a folio are being truncated away, so that it drops its private state for them. The
    /// default has none.</summary>
    /// <remarks>Kernel: a_ops-&gt;invalidate_folio. Context: Process context; the folio is locked.</remarks>
    void InvalidateFolio(AddressSpace mapping, Folio folio, int offset, int length)
    {
    }
}
