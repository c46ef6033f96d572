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
}
