using System.Threading;
using Writeback.Kernel;
using Writeback.Lib;

namespace Writeback.Mm;

/// <summary>Writeback of a mapping: the iteration, waiting, and error reporting (mm/page-writeback.c, mm/filemap.c).</summary>
public sealed partial class AddressSpace
{
    private const int LegacyEio = 1;
    private const int LegacyEnospc = 2;
    private int _legacyErrors;

    /// <summary>The writeback error sequence (mapping-&gt;wb_err).</summary>
    public Errseq WbErr { get; } = new();

    /// <summary>The filesystem's error sequence, if the mapping's owner has one: every error
    /// recorded here is recorded there too, for syncfs.</summary>
    /// <remarks>Kernel: mapping-&gt;host-&gt;i_sb-&gt;s_wb_err, which mapping_set_error() also sets.
    /// Set by the filesystem when it makes the mapping; the page cache knows nothing more of it.</remarks>
    public Errseq? SuperblockWbErr { get; init; }

    /// <summary>With <see cref="InjectedBug.ReportErrorToOneFile"/>: the error sequence value whose
    /// error a file has already been told of.</summary>
    internal uint ErrorClaimedAt;

    /// <summary>Records a writeback error for every opener to see once, in the filesystem's
    /// sequence when there is one, and in the legacy bits.</summary>
    /// <remarks>Kernel: mapping_set_error(). Context: Any context (bio completion included).</remarks>
    public void SetError(Errno error)
    {
        if (error == Errno.None)
        {
            return;
        }

        WbErr.Set(error);
        SuperblockWbErr?.Set(error);
        Interlocked.Or(ref _legacyErrors, error == Errno.ENOSPC ? LegacyEnospc : LegacyEio);
    }

    /// <summary>Takes the legacy error bits: ENOSPC before EIO, once (filemap_check_errors()).</summary>
    public Errno CheckErrors()
    {
        var bits = Interlocked.Exchange(ref _legacyErrors, 0);
        return (bits & LegacyEnospc) != 0 ? Errno.ENOSPC : (bits & LegacyEio) != 0 ? Errno.EIO : Errno.None;
    }

    internal void ClearLegacyErrors() => Interlocked.Exchange(ref _legacyErrors, 0);

    /// <summary>Up to <paramref name="max"/> folios tagged <paramref name="tag"/> from
    /// <paramref name="index"/> to <paramref name="end"/>, each with a reference; moves
    /// <paramref name="index"/> past the last one (or past <paramref name="end"/> when the range is done).</summary>
    /// <remarks>Kernel: filemap_get_folios_tag(). Lock-free, with the lookup protocol of <see cref="GetFolio"/>.</remarks>
    public int GetFoliosTag(ref ulong index, ulong end, XaMark tag, ICollection<Folio> batch, int max = WritebackControl.BatchSize)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var found = 0;
        var xas = new XaState<Folio>(Pages, index);
        for (var folio = xas.FindMarked(end, tag); folio is not null; folio = xas.FindMarked(end, tag))
        {
            if (!folio.TryGet())
            {
                xas.Reset();
                continue;
            }

            if (!ReferenceEquals(xas.Reload(), folio))
            {
                folio.Put();
                xas.Reset();
                continue;
            }

            batch.Add(folio);
            if (++found == max)
            {
                var next = folio.Index + (ulong)folio.Pages;
                index = next == 0 ? ulong.MaxValue : next;
                return found;
            }
        }

        index = end == ulong.MaxValue ? ulong.MaxValue : end + 1;
        return found;
    }

    /// <summary>The next folio to write, locked and with PG_dirty cleared, or null when the pass
    /// is over. Pass null to start; then pass the folio just written and the error writing it gave.</summary>
    /// <remarks>Kernel: writeback_iter(). An integrity pass (or tagged_writepages) first tags the
    /// range TOWRITE and walks that tag, so that folios dirtied meanwhile cannot livelock it;
    /// it goes past the budget and errors, remembering the first; a background pass stops at the
    /// budget or the first error. Folios under writeback are waited on in an integrity pass and
    /// skipped otherwise; truncated or already-cleaned folios are skipped. A cyclic pass resumes
    /// at the writeback index and does not wrap within a call. On the last call
    /// <paramref name="error"/> becomes the first error. Context: Process context. May sleep.</remarks>
    public Folio? WritebackIter(WritebackControl wbc, Folio? folio, ref Errno error)
    {
        ArgumentNullException.ThrowIfNull(wbc);
        if (folio is null)
        {
            ReleaseBatch(wbc);
            wbc.SavedError = Errno.None;
            error = Errno.None;
            wbc.Index = wbc.RangeCyclic ? WritebackIndex : (ulong)wbc.RangeStart / Folio.PageSize;
            if (wbc.Tag == PageCacheTag.ToWrite && !Cache.Machine.Options.InjectedBugs.HasFlag(InjectedBug.ForgetToWriteTag))
            {
                TagPagesForWriteback(wbc.Index, wbc.EndIndex);
            }
        }
        else
        {
            wbc.NrToWrite -= folio.Pages;
            wbc.Written++;
            if (wbc.SyncMode == WbSyncMode.All)
            {
                if (error != Errno.None && wbc.SavedError == Errno.None)
                {
                    wbc.SavedError = error;
                }
            }
            else if (error != Errno.None || wbc.NrToWrite <= 0)
            {
                if (wbc.RangeCyclic)
                {
                    WritebackIndex = folio.Index + (ulong)folio.Pages;
                }

                ReleaseBatch(wbc);
                return null;
            }
        }

        var next = NextFolioToWrite(wbc);
        if (next is null)
        {
            if (wbc.RangeCyclic)
            {
                WritebackIndex = 0;
            }

            error = wbc.SavedError;
        }

        return next;
    }

    /// <summary>Starts writeback of the byte range through the owner's writepages.</summary>
    /// <remarks>Kernel: filemap_fdatawrite_range() → do_writepages(). Context: Process context. May sleep.</remarks>
    public Errno FdatawriteRange(long start, long end, WbSyncMode mode = WbSyncMode.All)
    {
        if (Ops is null || !Tagged(PageCacheTag.Dirty))
        {
            return Errno.None;
        }

        return Ops.Writepages(this, new WritebackControl { SyncMode = mode, RangeStart = start, RangeEnd = end });
    }

    /// <summary>Waits for writeback of every folio under writeback in the byte range to end, then
    /// takes the legacy error bits.</summary>
    /// <remarks>Kernel: filemap_fdatawait_range() (__filemap_fdatawait_range() walks the
    /// WRITEBACK tag). Context: Process context. May sleep.</remarks>
    public Errno FdatawaitRange(long start, long end)
    {
        WaitRange(start, end);
        return CheckErrors();
    }

    /// <summary>Writes back and waits for the byte range (fsync's data part, legacy error reporting).</summary>
    /// <remarks>Kernel: filemap_write_and_wait_range(). Context: Process context. May sleep.</remarks>
    public Errno WriteAndWaitRange(long start, long end)
    {
        var err = FdatawriteRange(start, end);
        if (err != Errno.EIO)
        {
            var err2 = FdatawaitRange(start, end);
            return err != Errno.None ? err : err2;
        }

        CheckErrors();
        return err;
    }

    internal void WaitRange(long start, long end)
    {
        var index = (ulong)start / Folio.PageSize;
        var last = (ulong)end / Folio.PageSize;
        var batch = new List<Folio>(WritebackControl.BatchSize);
        while (index <= last)
        {
            batch.Clear();
            if (GetFoliosTag(ref index, last, PageCacheTag.Writeback, batch) == 0)
            {
                break;
            }

            foreach (var folio in batch)
            {
                folio.WaitWriteback();
                folio.Put();
            }

            if (index == ulong.MaxValue)
            {
                break;
            }
        }
    }

    private Folio? NextFolioToWrite(WritebackControl wbc)
    {
        while (true)
        {
            if (!wbc.Batch.TryDequeue(out var folio))
            {
                if (wbc.Index > wbc.EndIndex)
                {
                    return null;
                }

                Context.CondResched();
                var index = wbc.Index;
                var got = new List<Folio>(WritebackControl.BatchSize);
                GetFoliosTag(ref index, wbc.EndIndex, wbc.Tag, got);
                wbc.Index = index;
                foreach (var f in got)
                {
                    wbc.Batch.Enqueue(f);
                }

                if (!wbc.Batch.TryDequeue(out folio))
                {
                    return null;
                }
            }

            folio.Lock();
            var ready = PrepareWriteback(wbc, folio);
            folio.Put();
            if (ready)
            {
                return folio;
            }

            folio.Unlock();
        }
    }

    /// <summary>Kernel: folio_prepare_writeback().</summary>
    private bool PrepareWriteback(WritebackControl wbc, Folio folio)
    {
        // Truncated or invalidated meanwhile, or cleaned by someone else: nothing to do.
        if (!ReferenceEquals(folio.Mapping, this) || !folio.Test(FolioFlags.Dirty))
        {
            return false;
        }

        if (folio.Test(FolioFlags.Writeback))
        {
            if (wbc.SyncMode == WbSyncMode.None)
            {
                return false;
            }

            folio.WaitWriteback();
        }

        return folio.ClearDirtyForIo();
    }

    private static void ReleaseBatch(WritebackControl wbc)
    {
        while (wbc.Batch.TryDequeue(out var f))
        {
            f.Put();
        }
    }
}
