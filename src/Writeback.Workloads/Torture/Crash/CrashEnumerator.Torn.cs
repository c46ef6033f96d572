using System.Globalization;
using Writeback.Block;
using Writeback.Kernel;

namespace Writeback.Workloads.Torture.Crash;

/// <summary>Torn writes: crash states in which a power cut came in the middle of one write.</summary>
/// <remarks>A device makes each 512-byte sector atomic, never a whole multi-sector write: a power
/// cut during one can leave any of its sectors on the media and not the others — commonly a
/// prefix, but a volatile cache may have written back any subset. FUA writes are never torn (each
/// completed whole before the crash), nor is any write before the epoch's opening flush (that
/// flush made it durable).</remarks>
public static partial class CrashEnumerator
{
    private const int AtomicBytes = BlockDevice.SectorSize;

    // Of the epoch's unflushed writes of more than one sector, one chosen with the seed is torn
    // three ways: its first sector only and all but its last — a cut partway through an in-order
    // transfer, with the writes that completed before it on the media and none after — and a
    // seeded subset of its sectors with a seeded subset of the other writes. A state the first
    // two share (a two-sector write) is checked once.
    private static void CheckTorn(CrashRecording r, CrashChecker checker, DiskImage durable, int previousFlush, int boundary, List<WriteLogEntry> epoch, Prandom random, CrashReport report)
    {
        var tearable = Enumerable.Range(0, epoch.Count).Where(i => (epoch[i].Flags & BioOpFlags.Fua) == 0 && epoch[i].Data.Length > AtomicBytes).ToList();
        if (tearable.Count == 0)
        {
            return;
        }

        var t = tearable[(int)random.NextInt64(tearable.Count)];
        var torn = epoch[t];
        var sectors = torn.Data.Length / AtomicBytes;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (kept, others, how) in TornMasks(epoch, t, sectors, random))
        {
            var key = string.Concat(epoch.Select((e, i) => i == t ? 'T' : (e.Flags & BioOpFlags.Fua) != 0 ? 'F' : others[i] ? '1' : '0'));
            var sectorKey = string.Concat(kept.Select(k => k ? '1' : '0'));
            if (!seen.Add(key + "/" + sectorKey))
            {
                continue;
            }

            var image = durable.Clone();
            for (var i = 0; i < epoch.Count; i++)
            {
                if (i == t)
                {
                    for (var j = 0; j < sectors; j++)
                    {
                        if (kept[j])
                        {
                            image.Write(torn.Sector + (ulong)j, torn.Data.Span.Slice(j * AtomicBytes, AtomicBytes));
                        }
                    }
                }
                else if (others[i])
                {
                    image.Write(epoch[i].Sector, epoch[i].Data.Span);
                }
            }

            var media = string.Create(CultureInfo.InvariantCulture,
                $"everything through the flush at entry {previousFlush}; of the {epoch.Count} writes since (entries {epoch[0].Index} to {epoch[^1].Index}; F = FUA, T = torn, 1 = reached the media, 0 = lost): {key}; entry {torn.Index} (sector {torn.Sector}, {sectors} sectors) torn, {how}: sectors {sectorKey} reached the media (seed {r.Options.Seed})");
            report.CountTornState();
            CheckState(r, checker, image, boundary, media, report);
        }
    }

    // Which sectors of the torn write (`Kept`) and which of the other writes (`Others`) reach the
    // media, and how to say so; FUA writes always do.
    private static IEnumerable<(bool[] Kept, bool[] Others, string How)> TornMasks(List<WriteLogEntry> epoch, int t, int sectors, Prandom random)
    {
        bool IsFua(int i) => (epoch[i].Flags & BioOpFlags.Fua) != 0;
        bool[] Prefix(int n) => [.. Enumerable.Range(0, sectors).Select(j => j < n)];
        bool[] InOrder() => [.. Enumerable.Range(0, epoch.Count).Select(i => IsFua(i) || i < t)];

        yield return (Prefix(1), InOrder(), "its first sector only");
        yield return (Prefix(sectors - 1), InOrder(), "all but its last sector");

        // A subset with at least one sector kept and one lost; should the draws keep missing
        // (at worst one in two for two sectors), the write's last sector alone.
        var kept = new bool[sectors];
        for (var attempt = 0; attempt < 16 && (kept.All(k => k) || !kept.Any(k => k)); attempt++)
        {
            for (var j = 0; j < sectors; j++)
            {
                kept[j] = random.NextUInt64() % 2 == 0;
            }
        }

        if (kept.All(k => k) || !kept.Any(k => k))
        {
            kept = [.. Enumerable.Range(0, sectors).Select(j => j == sectors - 1)];
        }

        var others = Enumerable.Range(0, epoch.Count).Select(i => IsFua(i) || random.NextUInt64() % 2 == 0).ToArray();
        yield return (kept, others, "a seeded subset of its sectors, and of the other writes");
    }
}
