using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Fs.Iomap;

/// <summary>Writeback of a file's dirty folios into ioends.</summary>
/// <remarks>Kernel: iomap_writepages → writeback_iter → iomap_writeback_folio (fs/iomap/
/// buffered-io.c, ioend.c): per folio, handle EOF (nothing past it is written; the tail of the
/// folio that straddles it is zeroed), start writeback, take each run of dirty blocks, let the
/// filesystem map it (delalloc becomes real blocks here), add it to the open ioend when it is
/// contiguous in the file and on disk with the same completion needs or submit that ioend and
/// open another, count the bytes under I/O per folio (write_bytes_pending, with a bias of one
/// while the folio is being processed), and unlock. The last ioend is submitted at the end,
/// even after an error, so that its folios end writeback. Context: Process context. May sleep.</remarks>
public static class IomapWriteback
{
    /// <summary>Writes back the folios <paramref name="wbc"/> asks for.</summary>
    public static Errno Writepages(IIomapInode inode, WritebackControl wbc, IIomapWritebackOps ops)
    {
        ArgumentNullException.ThrowIfNull(inode);
        ArgumentNullException.ThrowIfNull(ops);
        var mapping = inode.Mapping;
        Ioend? open = null;
        var error = Errno.None;
        for (var folio = mapping.WritebackIter(wbc, null, ref error); folio is not null; folio = mapping.WritebackIter(wbc, folio, ref error))
        {
            error = WritebackFolio(inode, folio, ops, ref open);
        }

        if (open is not null)
        {
            ops.Submit(open, error);
        }

        return error;
    }

    private static Errno WritebackFolio(IIomapInode inode, Folio folio, IIomapWritebackOps ops, ref Ioend? open)
    {
        var size = inode.Size;
        var start = (long)folio.Index * Folio.PageSize;
        if (start >= size)
        {
            // Wholly past EOF (a truncate got here first): nothing to write.
            folio.Unlock();
            return Errno.None;
        }

        var toEof = (int)Math.Min(folio.Size, size - start);
        if (toEof < folio.Size)
        {
            folio.Data.AsSpan(toEof).Clear();
        }

        var bs = Math.Min(inode.BlockSize, folio.Size);
        var blocks = (toEof + bs - 1) / bs;
        var state = IomapFolioState.Of(folio, inode.BlockSize);
        // Dirty blocks past EOF are dropped with the rest (a later extension zeroes them).
        var runs = state.TakeDirty(state.Blocks)
            .Where(r => r.First < blocks)
            .Select(r => (r.First, Count: Math.Min(r.Count, blocks - r.First)))
            .ToList();

        folio.StartWriteback();
        state.StartWrite(1);
        var err = Errno.None;
        foreach (var (first, count) in runs)
        {
            var pos = start + ((long)first * bs);
            // Whole blocks: the part of the EOF block past EOF was zeroed above.
            var end = Math.Min(start + ((long)blocks * bs), pos + ((long)count * bs));
            while (pos < end && err == Errno.None)
            {
                err = ops.MapBlocks(pos, end - pos, out var iomap);
                if (err != Errno.None)
                {
                    // The filesystem could not place the data: it is lost, and the error recorded.
                    inode.Mapping.SetError(err);
                    ops.Discard(pos, end - pos);
                    break;
                }

                var n = (int)(Math.Min(end, iomap.End) - pos);
                if (iomap.Type is IomapType.Mapped or IomapType.Unwritten)
                {
                    var flags = (iomap.Type == IomapType.Unwritten ? IoendFlags.Unwritten : IoendFlags.None)
                        | (folio.Test(FolioFlags.Dropbehind) ? IoendFlags.Dontcache : IoendFlags.None);
                    var address = iomap.AddressOf(pos);
                    if (open is null || !open.CanAdd(pos, address, flags, n))
                    {
                        if (open is not null)
                        {
                            ops.Submit(open, Errno.None);
                        }

                        open = new Ioend(inode, pos, address, flags);
                    }

                    state.StartWrite(n);
                    open.Add(new IoendSegment(folio, (int)(pos - start), n, state));
                }

                pos += n;
            }
        }

        folio.Unlock();
        if (state.FinishWrite(1))
        {
            folio.EndWriteback();
        }

        return err;
    }
}
