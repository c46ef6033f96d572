using Writeback.Block;
using Writeback.Kernel;

namespace Writeback.Mm;

/// <summary>The page cache of a raw block device: buffered reads and writes of its bytes, and
/// writeback through bios — flagged <see cref="BioFlags.CompleteInTask"/> in
/// <see cref="CompletionMode.Task"/>, so that writeback ends in task context there and in
/// interrupt context in <see cref="CompletionMode.Irq"/>.</summary>
/// <remarks>Kernel: the block device's mapping (block/fops.c, fs/buffer.c's
/// block_write_full_folio path). Model: one bio per folio and no buffer heads; a partial write
/// of a folio that is not uptodate reads it first.</remarks>
public sealed class BlockDeviceCache : IAddressSpaceOperations
{
    private const int SectorsPerPage = Folio.PageSize / BlockDevice.SectorSize;

    /// <summary>The cache of <paramref name="device"/> in <paramref name="cache"/>.</summary>
    public BlockDeviceCache(PageCache cache, BlockDevice device)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(device);
        Device = device;
        Bdi = cache.CreateBackingDevice(device.Name);
        Mapping = new AddressSpace(cache, device.Name, this, Bdi);
    }

    /// <summary>The device.</summary>
    public BlockDevice Device { get; }

    /// <summary>Its mapping.</summary>
    public AddressSpace Mapping { get; }

    /// <summary>Its backing device (the flusher).</summary>
    public BackingDevice Bdi { get; }

    private long CapacityBytes => (long)Device.CapacitySectors * BlockDevice.SectorSize;

    /// <summary>Opens the device for buffered I/O (an error sample of its own).</summary>
    public OpenFile Open() => new(Mapping);

    /// <summary>Copies <paramref name="data"/> into the cache at <paramref name="offset"/> and dirties
    /// the folios; with <paramref name="dontcache"/> (RWF_DONTCACHE) they are marked to leave the
    /// cache once written back.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public Errno Write(long offset, ReadOnlySpan<byte> data, bool dontcache = false)
    {
        CheckRange(offset, data.Length);
        while (!data.IsEmpty)
        {
            var index = (ulong)(offset / Folio.PageSize);
            var inPage = (int)(offset % Folio.PageSize);
            var n = Math.Min(data.Length, Folio.PageSize - inPage);
            var folio = LockedFolio(index, out var err);
            if (folio is null)
            {
                return err;
            }

            if (!folio.Test(FolioFlags.Uptodate) && n < Folio.PageSize && (err = ReadInto(folio)) != Errno.None)
            {
                folio.Unlock();
                folio.Put();
                return err;
            }

            data[..n].CopyTo(folio.Data.AsSpan(inPage));
            Context.Point(n);
            if (dontcache)
            {
                folio.SetDropbehind();
            }

            folio.MarkUptodate();
            Mapping.DirtyFolio(folio);
            folio.Unlock();
            folio.Put();
            Mapping.Cache.BalanceDirtyPages();
            data = data[n..];
            offset += n;
        }

        return Errno.None;
    }

    /// <summary>Reads <paramref name="destination"/> from the cache at <paramref name="offset"/>, filling folios from the device as needed.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public Errno Read(long offset, Span<byte> destination)
    {
        CheckRange(offset, destination.Length);
        while (!destination.IsEmpty)
        {
            var index = (ulong)(offset / Folio.PageSize);
            var inPage = (int)(offset % Folio.PageSize);
            var n = Math.Min(destination.Length, Folio.PageSize - inPage);
            var folio = LockedFolio(index, out var err);
            if (folio is null)
            {
                return err;
            }

            if (!folio.Test(FolioFlags.Uptodate) && (err = ReadInto(folio)) != Errno.None)
            {
                folio.Unlock();
                folio.Put();
                return err;
            }

            folio.Data.AsSpan(inPage, n).CopyTo(destination);
            Context.Point(n);
            folio.Unlock();
            folio.Put();
            destination = destination[n..];
            offset += n;
        }

        return Errno.None;
    }

    /// <inheritdoc/>
    public Errno Writepages(AddressSpace mapping, WritebackControl wbc)
    {
        ArgumentNullException.ThrowIfNull(mapping);
        var error = Errno.None;
        for (var folio = mapping.WritebackIter(wbc, null, ref error); folio is not null; folio = mapping.WritebackIter(wbc, folio, ref error))
        {
            folio.StartWriteback();
            folio.Unlock();
            var bio = new Bio(Device, BioOp.Write) { Sector = folio.Index * SectorsPerPage, Private = folio, EndIoHandler = EndWrite };
            if (mapping.Cache.Options.Mode == CompletionMode.Task)
            {
                bio.SetFlag(BioFlags.CompleteInTask);
            }

            bio.AddVec(folio.Data);
            bio.Submit();
            error = Errno.None;
        }

        return error;
    }

    /// <inheritdoc/>
    public Errno ReadFolio(AddressSpace mapping, Folio folio)
    {
        ArgumentNullException.ThrowIfNull(folio);
        var err = ReadInto(folio);
        folio.Unlock();
        return err;
    }

    private static void EndWrite(Bio bio)
    {
        var folio = (Folio)bio.Private!;
        if (bio.Status != BlkStatus.Ok)
        {
            folio.Mapping?.SetError(bio.Status.ToErrno());
        }

        folio.EndWriteback();
    }

    /// <summary>Reads a locked folio synchronously from the device; marks it uptodate on success.</summary>
    private Errno ReadInto(Folio folio)
    {
        var bio = new Bio(Device, BioOp.Read) { Sector = folio.Index * SectorsPerPage };
        bio.AddVec(folio.Data);
        var err = bio.SubmitWait();
        if (err != Errno.None)
        {
            return err;
        }

        folio.MarkUptodate();
        return Errno.None;
    }

    /// <summary>The folio at <paramref name="index"/>, locked and with a reference; created (not uptodate) if absent.</summary>
    private Folio? LockedFolio(ulong index, out Errno error)
    {
        error = Errno.None;
        while (true)
        {
            if (Mapping.GetFolio(index) is { } cached)
            {
                cached.Lock();
                if (ReferenceEquals(cached.Mapping, Mapping))
                {
                    return cached;
                }

                // Removed while we waited for the lock: look again.
                cached.Unlock();
                cached.Put();
                continue;
            }

            var folio = Mapping.Cache.AllocFolio();
            var err = Mapping.AddFolio(folio, index);
            if (err == Errno.None)
            {
                // The new folio is locked and holds the cache's reference and ours.
                return folio;
            }

            folio.Put();
            if (err != Errno.EEXIST)
            {
                error = err;
                return null;
            }
        }
    }

    private void CheckRange(long offset, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (offset > CapacityBytes || length > CapacityBytes - offset)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), offset, $"{Device.Name}: {length} bytes at {offset} run past the end ({CapacityBytes} bytes)");
        }
    }
}
