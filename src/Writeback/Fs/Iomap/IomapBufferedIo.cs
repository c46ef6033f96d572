using Writeback.Block;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Fs.Iomap;

/// <summary>Buffered reads and writes through the page cache, mapped by the filesystem.</summary>
/// <remarks>Kernel: fs/iomap/buffered-io.c — iomap_file_buffered_write (per mapping, per folio:
/// get or create the folio, read the blocks a partial write does not cover unless they are
/// uptodate, copy, mark the blocks uptodate and dirty, extend i_size, unlock, then
/// balance_dirty_pages), iomap_read_folio / iomap_readahead, iomap_zero_range. A write creates
/// folios as large as it covers and its alignment allows, up to <see cref="MaxFolioOrder"/>;
/// never smaller than a block (a block larger than a page needs a large folio). Readahead uses
/// the smallest order. Context: Process context. May sleep.</remarks>
public static class IomapBufferedIo
{
    // The first page index of the smallest-order folio that holds byte `pos`.
    private static ulong FolioIndex(long pos, int order) => (ulong)(pos / ((long)Folio.PageSize << order)) << order;

    /// <summary>The largest folio a write creates: 64 KiB.</summary>
    public const int MaxFolioOrder = 4;

    /// <summary>The folio order a file of <paramref name="blockSize"/>-byte blocks uses at least.</summary>
    public static int FolioOrder(int blockSize) => blockSize <= Folio.PageSize ? 0 : System.Numerics.BitOperations.Log2((uint)(blockSize / Folio.PageSize));

    /// <summary>Writes <paramref name="data"/> at <paramref name="pos"/> into the cache; returns
    /// the bytes written (short if an error came after some were) and the error.</summary>
    /// <param name="inode">The file.</param>
    /// <param name="pos">The file offset.</param>
    /// <param name="data">The bytes.</param>
    /// <param name="dontcache">RWF_DONTCACHE: the folios leave the cache once written back.</param>
    /// <param name="written">Bytes copied into the cache.</param>
    public static Errno Write(IIomapInode inode, long pos, ReadOnlySpan<byte> data, bool dontcache, out long written)
    {
        ArgumentNullException.ThrowIfNull(inode);
        written = 0;
        while (!data.IsEmpty)
        {
            var err = inode.Begin(pos, data.Length, IomapOperation.Write, out var iomap);
            if (err != Errno.None)
            {
                return err;
            }

            var chunk = (int)Math.Min(data.Length, iomap.End - pos);
            var done = 0;
            while (done < chunk && err == Errno.None)
            {
                err = WriteFolio(inode, iomap, pos + done, data.Slice(done, chunk - done), dontcache, out var n);
                done += n;
            }

            var ended = inode.End(pos, chunk, done, IomapOperation.Write, iomap);
            written += done;
            pos += done;
            data = data[done..];
            if (err != Errno.None || ended != Errno.None)
            {
                return err != Errno.None ? err : ended;
            }
        }

        return Errno.None;
    }

    /// <summary>Reads into <paramref name="destination"/> from <paramref name="pos"/>, up to
    /// i_size; returns the bytes read. A miss reads ahead <paramref name="readahead"/>'s window.</summary>
    public static Errno Read(IIomapInode inode, long pos, Span<byte> destination, ReadaheadState readahead, out int read)
    {
        ArgumentNullException.ThrowIfNull(inode);
        ArgumentNullException.ThrowIfNull(readahead);
        read = 0;
        var size = inode.Size;
        var end = Math.Min(pos + destination.Length, size);
        var order = FolioOrder(inode.BlockSize);
        while (pos < end)
        {
            var index = FolioIndex(pos, order);
            var folio = inode.Mapping.GetFolio(index);
            if (folio is null || !folio.Test(FolioFlags.Uptodate))
            {
                folio?.Put();
                var err = Readahead(inode, index, readahead);
                if (err != Errno.None)
                {
                    return err;
                }

                folio = LockedFolio(inode, index, out err);
                if (folio is null)
                {
                    return err;
                }

                if (!folio.Test(FolioFlags.Uptodate) && (err = FillFolio(inode, folio)) != Errno.None)
                {
                    folio.Unlock();
                    folio.Put();
                    return err;
                }

                folio.Unlock();
            }
            else
            {
                readahead.Hit(index);
            }

            var inFolio = (int)(pos - ((long)folio.Index * Folio.PageSize));
            var n = (int)Math.Min(end - pos, folio.Size - inFolio);
            folio.Data.AsSpan(inFolio, n).CopyTo(destination[read..]);
            folio.MarkAccessed();
            folio.Put();
            Context.Point(n);
            read += n;
            pos += n;
        }

        return Errno.None;
    }

    /// <summary>Zeroes bytes [<paramref name="pos"/>, pos + <paramref name="length"/>) of the
    /// file in the cache where they could read non-zero: cached folios, and blocks holding data
    /// on disk; holes and unwritten blocks that are not cached are left alone.</summary>
    /// <param name="inode">The file.</param>
    /// <param name="pos">The first byte to zero.</param>
    /// <param name="length">How many bytes.</param>
    /// <param name="extendSize">Whether zeroing past EOF moves EOF (the in-core size) up to what
    /// it zeroed: true for a truncate up, which sets the new size before writing the zeroed range
    /// back (truncate_setsize); false for the gap before a write past EOF, which leaves the size
    /// to the write — if the write then fails, EOF has not moved (xfs_file_write_zero_eof).</param>
    /// <remarks>Kernel: iomap_zero_range() (and iomap_truncate_page for the block at a new EOF).</remarks>
    public static Errno ZeroRange(IIomapInode inode, long pos, long length, bool extendSize = true)
    {
        ArgumentNullException.ThrowIfNull(inode);
        var end = pos + length;
        while (pos < end)
        {
            var err = inode.Begin(pos, end - pos, IomapOperation.Zero, out var iomap);
            if (err != Errno.None)
            {
                return err;
            }

            var chunkEnd = Math.Min(end, iomap.End);
            while (pos < chunkEnd)
            {
                var order = FolioOrder(inode.BlockSize);
                var folioBytes = (long)Folio.PageSize << order;
                var index = FolioIndex(pos, order);
                var n = (int)Math.Min(chunkEnd - pos, folioBytes - (pos % folioBytes));
                if (iomap.Type is IomapType.Hole or IomapType.Unwritten)
                {
                    // Reads as zeros already, except where the cache holds data: jump to the
                    // next cached folio.
                    var next = index;
                    if (inode.Mapping.Pages.Find(ref next, ulong.MaxValue) is null || (long)next * Folio.PageSize >= chunkEnd)
                    {
                        pos = chunkEnd;
                        continue;
                    }

                    if (next > index)
                    {
                        pos = (long)next * Folio.PageSize;
                        continue;
                    }
                }

                err = WriteFolio(inode, iomap, pos, new byte[n], dontcache: false, out var done, extendSize);
                if (err != Errno.None)
                {
                    return err;
                }

                pos += done;
            }

            inode.End(pos, 0, 0, IomapOperation.Zero, iomap);
        }

        return Errno.None;
    }

    /// <summary>Fills a locked folio's blocks that are not uptodate: zeros past EOF and over
    /// holes, delalloc and unwritten blocks; a read of mapped blocks, one bio per contiguous run.</summary>
    /// <remarks>Kernel: iomap_read_folio(). Context: Process context. May sleep.</remarks>
    public static Errno FillFolio(IIomapInode inode, Folio folio)
    {
        ArgumentNullException.ThrowIfNull(inode);
        ArgumentNullException.ThrowIfNull(folio);
        var state = IomapFolioState.Of(folio, inode.BlockSize);
        for (var b = 0; b < state.Blocks;)
        {
            if (state.IsUptodate(b, 1))
            {
                b++;
                continue;
            }

            var first = b;
            while (b < state.Blocks && !state.IsUptodate(b, 1))
            {
                b++;
            }

            var err = FillBlocks(inode, folio, state, first, b - first);
            if (err != Errno.None)
            {
                return err;
            }
        }

        return Errno.None;
    }

    // Reads or zeroes `count` blocks of a locked folio from block `first`, then marks them uptodate.
    private static Errno FillBlocks(IIomapInode inode, Folio folio, IomapFolioState state, int first, int count)
    {
        var bs = Math.Min(inode.BlockSize, folio.Size);
        var at = ((long)folio.Index * Folio.PageSize) + ((long)first * bs);
        var end = at + ((long)count * bs);
        while (at < end)
        {
            var inFolio = (int)(at - ((long)folio.Index * Folio.PageSize));
            if (at >= inode.Size)
            {
                // Past EOF a block reads as zeros, whatever the disk holds (iomap_block_needs_zeroing).
                folio.Data.AsSpan(inFolio, (int)(end - at)).Clear();
                break;
            }

            var err = inode.Begin(at, end - at, IomapOperation.Read, out var iomap);
            if (err != Errno.None)
            {
                return err;
            }

            var n = (int)(Math.Min(end, iomap.End) - at);
            if (iomap.Type == IomapType.Mapped)
            {
                var bio = new Bio(inode.Device, BioOp.Read) { Sector = (ulong)(iomap.AddressOf(at) / BlockDevice.SectorSize) };
                bio.AddVec(folio.Data.AsMemory(inFolio, n));
                err = bio.SubmitWait();
                if (err != Errno.None)
                {
                    return err;
                }
            }
            else
            {
                folio.Data.AsSpan(inFolio, n).Clear();
            }

            at += n;
        }

        state.MarkUptodate(folio, first, count);
        return Errno.None;
    }

    // Reads the window of absent folios from `index` on (synchronously) into the cache.
    private static Errno Readahead(IIomapInode inode, ulong index, ReadaheadState readahead)
    {
        var order = FolioOrder(inode.BlockSize);
        var window = readahead.Miss(index, 1 << order);
        var lastIndex = FolioIndex(inode.Size - 1, order);
        for (var i = 0; i < window; i++)
        {
            var at = index + ((ulong)i << order);
            if (at > lastIndex)
            {
                break;
            }

            if (inode.Mapping.GetFolio(at) is { } present)
            {
                present.Put();
                continue;
            }

            var folio = inode.Mapping.Cache.AllocFolio(order);
            if (inode.Mapping.AddFolio(folio, at) != Errno.None)
            {
                folio.Put();
                continue;
            }

            var err = FillFolio(inode, folio);
            folio.Unlock();
            folio.Put();
            if (err != Errno.None)
            {
                return err;
            }
        }

        return Errno.None;
    }

    // Writes the part of `data` that fits the folio at `pos` (within `iomap`).
    private static Errno WriteFolio(IIomapInode inode, IomapExtent iomap, long pos, ReadOnlySpan<byte> data, bool dontcache, out int written, bool extendSize = true)
    {
        written = 0;
        var order = FolioOrder(inode.BlockSize);
        var index = FolioIndex(pos, order);
        var folio = LockedFolio(inode, index, out var err, LargeOrder(index, order, pos + Math.Min(data.Length, iomap.End - pos)));
        if (folio is null)
        {
            return err;
        }

        var bs = Math.Min(inode.BlockSize, folio.Size);
        var state = IomapFolioState.Of(folio, inode.BlockSize);
        var inFolio = (int)(pos - ((long)folio.Index * Folio.PageSize));
        var n = (int)Math.Min(data.Length, Math.Min(folio.Size - inFolio, iomap.End - pos));
        var first = inFolio / bs;
        var last = (inFolio + n - 1) / bs;

        // A block the write covers only in part must be read first, unless it is uptodate.
        var headPartial = inFolio % bs != 0;
        var tailPartial = (inFolio + n) % bs != 0;
        if ((headPartial || tailPartial) && !folio.Test(FolioFlags.Uptodate))
        {
            err = headPartial ? FillPartial(inode, folio, state, first) : Errno.None;
            err = err == Errno.None && tailPartial ? FillPartial(inode, folio, state, last) : err;
            if (err != Errno.None)
            {
                folio.Unlock();
                folio.Put();
                return err;
            }
        }

        data[..n].CopyTo(folio.Data.AsSpan(inFolio));
        Context.Point(n);
        state.MarkUptodateAndDirty(folio, first, last - first + 1);
        if (dontcache)
        {
            folio.SetDropbehind();
        }

        inode.Mapping.DirtyFolio(folio);
        if (extendSize && pos + n > inode.Size)
        {
            inode.ExtendSize(pos + n);
        }

        folio.Unlock();
        folio.Put();
        inode.Mapping.Cache.BalanceDirtyPages();
        written = n;
        return Errno.None;
    }

    // The order of a new folio for a write from page `index` to byte `end`: as large as the
    // write covers (at most MaxFolioOrder) and the index's alignment allows (fgf_set_order).
    private static int LargeOrder(ulong index, int minOrder, long end)
    {
        var pages = (ulong)Math.Max(1, (end - ((long)index * Folio.PageSize)) / Folio.PageSize);
        var order = Math.Min(MaxFolioOrder, System.Numerics.BitOperations.Log2(pages));
        if (index != 0)
        {
            order = Math.Min(order, System.Numerics.BitOperations.TrailingZeroCount(index));
        }

        return Math.Max(minOrder, order);
    }

    // Reads block `b` of the folio (one the write covers only in part) unless it is uptodate.
    private static Errno FillPartial(IIomapInode inode, Folio folio, IomapFolioState state, int b) =>
        state.IsUptodate(b, 1) ? Errno.None : FillBlocks(inode, folio, state, b, 1);

    /// <summary>The folio at <paramref name="index"/>, locked and with a reference; created (not
    /// uptodate) if absent.</summary>
    /// <param name="inode">The file.</param>
    /// <param name="index">The page index.</param>
    /// <param name="error">Why no folio could be had.</param>
    /// <param name="order">The order to try first for a new folio; smaller ones are tried when
    /// a cached folio is in the way (the kernel's fgf_set_order fallback).</param>
    internal static Folio? LockedFolio(IIomapInode inode, ulong index, out Errno error, int order = -1)
    {
        error = Errno.None;
        var mapping = inode.Mapping;
        var minOrder = FolioOrder(inode.BlockSize);
        order = Math.Max(order, minOrder);
        while (true)
        {
            if (mapping.GetFolio(index) is { } cached)
            {
                cached.Lock();
                if (ReferenceEquals(cached.Mapping, mapping))
                {
                    return cached;
                }

                // Removed while we waited for the lock: look again.
                cached.Unlock();
                cached.Put();
                continue;
            }

            var folio = mapping.Cache.AllocFolio(order);
            var err = mapping.AddFolio(folio, index);
            if (err == Errno.None)
            {
                return folio;
            }

            folio.Put();
            if (err != Errno.EEXIST)
            {
                error = err;
                return null;
            }

            if (order > minOrder)
            {
                // Something is cached inside the large range: try a smaller folio.
                order--;
            }
        }
    }
}
