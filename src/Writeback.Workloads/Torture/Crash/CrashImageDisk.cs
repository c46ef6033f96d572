using Writeback.Block;

namespace Writeback.Workloads.Torture.Crash;

/// <summary>The disk a crash image is mounted on: a RAM disk that does each bio at once and
/// completes it in the submitter's context, without a write cache.</summary>
/// <remarks>Kernel: drivers/block/brd.c, whose submit_bio copies to or from its pages and calls
/// bio_endio() before returning. The workload under test runs on a <see cref="MemDisk"/> in the
/// chosen completion mode; the crash images only need mounting (journal recovery) and reading
/// back, for which the image's contents matter and the completion path does not — and a RAM
/// disk does it without an interrupt, a sleep and a wake-up per bio.</remarks>
internal sealed class CrashImageDisk(BlockLayer layer, DiskImage image) : BlockDevice(layer, "crashimg", image.CapacitySectors)
{
    private readonly DiskImage _image = image;

    /// <summary>Reads the image's content from the host, bypassing the block layer.</summary>
    public void ReadContent(ulong sector, Span<byte> destination) => _image.Read(sector, destination);

    /// <inheritdoc/>
    /// <remarks>Context: Process context.</remarks>
    protected override void SubmitToDriver(Bio bio)
    {
        var sector = bio.Sector;
        foreach (var v in bio.Vecs)
        {
            if (bio.Op == BioOp.Read)
            {
                _image.Read(sector, v.Buffer.Span);
            }
            else if (bio.Op == BioOp.Write)
            {
                _image.Write(sector, v.Buffer.Span);
            }

            sector += (ulong)(v.Length / SectorSize);
        }

        bio.Status = BlkStatus.Ok;
        bio.Endio();
    }
}
