using System.Globalization;
using System.Threading;
using Writeback.Block;
using Writeback.Kernel;

namespace Writeback.Workloads.Torture.Crash;

/// <summary>Crash enumeration in the manner of dm-log-writes replay and CrashMonkey: runs each
/// workload on a fresh filesystem while the disk records its write log, then, for every flush
/// boundary of the log (and the end of the workload), rebuilds the image a power cut just before
/// that flush could leave — everything before the previous flush, every FUA write since, and of
/// the other writes since, none, all, and a seeded sample of subsets (every subset of a small
/// epoch) — and the image of a power cut right after a flush that a FUA write follows; mounts
/// each (journal recovery), runs fsck, and checks the promises the completed persistence
/// operations made (<see cref="CrashChecker"/>). With <see cref="CrashOptions.TornWrites"/>, a
/// seeded one of each epoch's unflushed multi-sector writes is also torn (some of its sectors on
/// the media, others not). With <see cref="CrashOptions.EveryWrite"/>, every prefix of the log is
/// crashed into as well.</summary>
/// <remarks>Workloads run one after another on a deterministic machine of the options' CPUs and
/// seed, each on its own disk and filesystem mounted from the synced image of its starting state
/// (made once per distinct setup); a machine failure (lockdep, a BUG, a deadlock) is a violation
/// of the workload that was running, and the next workload gets a fresh machine. With
/// <see cref="CrashOptions.InjectedBugs"/> set, each starting state is made on a machine without
/// them (a negative control breaks the workload, not the synced state it is given). The sampled
/// subsets and the torn writes are drawn from streams named after the workload, so that a
/// workload's crash states do not depend on what ran before it. Crash images are mounted on a RAM disk
/// (<see cref="CrashImageDisk"/>).</remarks>
public static partial class CrashEnumerator
{
    // A machine's list of workqueues grows with the filesystems mounted on it (IRQ mode makes
    // its completion workqueues per mount), so a long batch moves to a fresh machine now and then.
    private const int WorkloadsPerMachine = 200;

    /// <summary>Runs and crashes one workload.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    /// <remarks>Context: outside any machine run (it makes and runs its own machines).</remarks>
    public static CrashReport Check(CrashWorkload workload, CrashOptions options) => Check([workload], options);

    /// <summary>Runs and crashes every workload of <paramref name="workloads"/>, in order;
    /// <paramref name="progress"/> gets the report so far after each one (on the machine's
    /// thread); <paramref name="cancellation"/> stops the batch between workloads.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    /// <remarks>Context: outside any machine run (it makes and runs its own machines).</remarks>
    public static CrashReport Check(IEnumerable<CrashWorkload> workloads, CrashOptions options, Action<CrashReport>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(workloads);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var report = new CrashReport(options.MaxReportedViolations);
        var hostStart = Environment.TickCount64;
        using var source = workloads.GetEnumerator();
        var bases = new Dictionary<string, CrashBase>(StringComparer.Ordinal);
        var cleanTried = new HashSet<string>(StringComparer.Ordinal);
        CrashWorkload? next = null;
        var stop = false;
        while (!stop && !cancellation.IsCancellationRequested)
        {
            if (next is null && !source.MoveNext())
            {
                break;
            }

            next ??= source.Current;

            // A negative control breaks the workload under test, not the synced starting state
            // it is given: that is made on a machine without the injected bugs.
            if (options.InjectedBugs != InjectedBug.None && cleanTried.Add(CrashRecorder.BaseKey(next)))
            {
                MakeCleanBase(next, options, bases);
            }

            CrashWorkload? current = null;
            using var m = NewMachine(options, options.InjectedBugs);
            try
            {
                m.Run(() =>
                {
                    var layer = BlockLayer.Create(m, new BlockLayerOptions { Variant = options.Variant, Checked = true });
                    for (var n = 0; n < WorkloadsPerMachine && !cancellation.IsCancellationRequested; n++)
                    {
                        if (next is null && !source.MoveNext())
                        {
                            stop = true;
                            break;
                        }

                        next ??= source.Current;
                        if (options.InjectedBugs != InjectedBug.None && !cleanTried.Contains(CrashRecorder.BaseKey(next)))
                        {
                            break;
                        }

                        (current, next) = (next, null);
                        var clean = RunOne(m, layer, current, options, bases, report);
                        current = null;
                        report.HostMs = Environment.TickCount64 - hostStart;
                        progress?.Invoke(report);
                        if (!clean && options.StopAtFirstViolation)
                        {
                            stop = true;
                            break;
                        }
                    }
                });
            }
            catch (MachineFailedException ex)
            {
                // A failure outside any workload would fail every fresh machine the same way.
                report.Add(Unchecked(current, options, "the workload", $"machine: {ex.Message.Split('\n')[0]}"));
                stop |= current is null || options.StopAtFirstViolation;
            }
        }

        report.HostMs = Environment.TickCount64 - hostStart;
        return report;
    }

    private static Machine NewMachine(CrashOptions options, InjectedBug bugs) => Machine.Create(new MachineOptions
    {
        Cpus = options.Cpus,
        Seed = options.Seed,
        QuantumNs = options.QuantumNs,
        Lockdep = LockdepMode.Fail,
        LockStat = false,
        IrqsOffTracing = false,
        InjectedBugs = bugs,
    });

    // The starting state of `workload` made on a machine of its own without the injected bugs.
    // If that fails, the workload's own run makes it again and reports why.
    private static void MakeCleanBase(CrashWorkload workload, CrashOptions options, Dictionary<string, CrashBase> bases)
    {
        using var m = NewMachine(options, InjectedBug.None);
        try
        {
            m.Run(() =>
            {
                var layer = BlockLayer.Create(m, new BlockLayerOptions { Variant = options.Variant, Checked = true });
                try
                {
                    CrashRecorder.EnsureBase(m, layer, workload, options, bases);
                }
                catch (CrashWorkloadException)
                {
                    // Reported by the workload's own run, which makes the starting state again.
                }
            });
        }
        catch (MachineFailedException)
        {
            // The same: the workload's own run meets it again and reports it.
        }
    }

    // Records one workload and checks its crash states; false if anything was wrong.
    private static bool RunOne(Machine m, BlockLayer layer, CrashWorkload workload, CrashOptions options, Dictionary<string, CrashBase> bases, CrashReport report)
    {
        var before = report.TotalViolations;
        var reports = m.Reports.Count;
        CrashRecording recording;
        try
        {
            recording = CrashRecorder.Record(m, layer, workload, options, bases);
        }
        catch (CrashWorkloadException ex)
        {
            report.Add(Unchecked(workload, options, "the workload", ex.Message));
            return false;
        }

        report.CountWorkload(recording.Entries.Count);
        Enumerate(recording, report);
        foreach (var r in m.Reports.Skip(reports))
        {
            report.Add(Unchecked(workload, options, "the workload and its crash states", $"machine: {r.Text.Split('\n')[0]}"));
        }

        return report.TotalViolations == before;
    }

    private static void Enumerate(CrashRecording r, CrashReport report)
    {
        var entries = r.Entries;
        var checker = new CrashChecker(r);
        if (r.Options.EveryWrite)
        {
            var image = Sparse(r.Log.Rebuild(0));
            for (var n = 0; n <= entries.Count; n++)
            {
                if (n > 0 && entries[n - 1].Kind == WriteLogEntryKind.Write)
                {
                    image.Write(entries[n - 1].Sector, entries[n - 1].Data.Span);
                }

                CheckState(r, checker, image.Clone(), n, $"every write through log entry {n - 1} (a prefix of the log)", report);
            }
        }

        var random = Prandom.ForStream(r.Options.Seed, r.Workload.Name);

        // A stream of its own, so that tearing writes leaves the whole-write subsets as they were.
        var tornRandom = Prandom.ForStream(r.Options.Seed, r.Workload.Name + "/torn");
        var durable = Sparse(r.Log.Rebuild(0));
        var flushes = entries.Where(e => e.Kind == WriteLogEntryKind.Flush).Select(e => e.Index).Append(entries.Count).ToList();
        for (var k = 0; k < flushes.Count; k++)
        {
            var previousFlush = k == 0 ? -1 : flushes[k - 1];
            var epoch = Writes(entries, previousFlush, flushes[k]);
            CheckEpoch(r, checker, durable, previousFlush, flushes[k], epoch, random, report);
            if (r.Options.TornWrites)
            {
                CheckTorn(r, checker, durable, previousFlush, flushes[k], epoch, tornRandom, report);
            }

            foreach (var e in epoch)
            {
                durable.Write(e.Sector, e.Data.Span);
            }

            // Right after the flush, before the next epoch's FUA writes (a journal commit block
            // after its preflush): an image the next boundary's states all have more on.
            if (k + 1 < flushes.Count && Writes(entries, flushes[k], flushes[k + 1]).Any(e => (e.Flags & BioOpFlags.Fua) != 0))
            {
                CheckState(r, checker, durable.Clone(), flushes[k] + 1, string.Create(CultureInfo.InvariantCulture, $"everything through the flush at entry {flushes[k]}, nothing since"), report);
            }
        }
    }

    // The writes strictly between two log entries.
    private static List<WriteLogEntry> Writes(IReadOnlyList<WriteLogEntry> entries, int after, int before) =>
        [.. entries.Skip(after + 1).Take(before - after - 1).Where(e => e.Kind == WriteLogEntryKind.Write)];

    // A crash just before the flush at `boundary`: everything through the previous flush is on
    // the media, and of the epoch's writes the FUA ones and a subset of the others.
    private static void CheckEpoch(CrashRecording r, CrashChecker checker, DiskImage durable, int previousFlush, int boundary, List<WriteLogEntry> epoch, Prandom random, CrashReport report)
    {
        report.CountBoundary();
        foreach (var chosen in Subsets(epoch, random, r.Options.SamplesPerEpoch))
        {
            var image = durable.Clone();
            for (var i = 0; i < epoch.Count; i++)
            {
                if (chosen[i])
                {
                    image.Write(epoch[i].Sector, epoch[i].Data.Span);
                }
            }

            var key = string.Concat(epoch.Select((e, i) => (e.Flags & BioOpFlags.Fua) != 0 ? 'F' : chosen[i] ? '1' : '0'));
            var media = epoch.Count == 0
                ? string.Create(CultureInfo.InvariantCulture, $"everything through the flush at entry {previousFlush}; no writes since (seed {r.Options.Seed})")
                : string.Create(CultureInfo.InvariantCulture, $"everything through the flush at entry {previousFlush}; of the {epoch.Count} writes since (entries {epoch[0].Index} to {epoch[^1].Index}; F = FUA, 1 = reached the media, 0 = lost): {key} (seed {r.Options.Seed})");
            CheckState(r, checker, image, boundary, media, report);
        }
    }

    // The same image with only its non-zero pages stored, so that each crash image's copies are cheap.
    private static DiskImage Sparse(DiskImage dense)
    {
        var sparse = new DiskImage(dense.CapacityBytes);
        var page = new byte[4096];
        for (var sector = 0UL; sector < dense.CapacitySectors; sector += (ulong)(page.Length / BlockDevice.SectorSize))
        {
            dense.Read(sector, page);
            if (page.AsSpan().ContainsAnyExcept((byte)0))
            {
                sparse.Write(sector, page);
            }
        }

        return sparse;
    }

    // Which of the epoch's writes reach the media: FUA writes always; of the others none, all,
    // then `samples` seeded subsets — or every subset when there are no more than that.
    private static List<bool[]> Subsets(List<WriteLogEntry> epoch, Prandom random, int samples)
    {
        var cached = epoch.Select((e, i) => (e, i)).Where(x => (x.e.Flags & BioOpFlags.Fua) == 0).Select(x => x.i).ToList();
        bool[] Mask(Func<int, bool> pick)
        {
            var chosen = new bool[epoch.Count];
            for (var i = 0; i < epoch.Count; i++)
            {
                chosen[i] = (epoch[i].Flags & BioOpFlags.Fua) != 0;
            }

            for (var j = 0; j < cached.Count; j++)
            {
                chosen[cached[j]] = pick(j);
            }

            return chosen;
        }

        var list = new List<bool[]> { Mask(_ => false) };
        if (cached.Count == 0)
        {
            return list;
        }

        list.Add(Mask(_ => true));
        if (cached.Count < 30 && (1L << cached.Count) <= samples + 2)
        {
            for (var bits = 1L; bits < (1L << cached.Count) - 1; bits++)
            {
                list.Add(Mask(j => ((bits >> j) & 1) != 0));
            }

            return list;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal) { new('0', cached.Count), new('1', cached.Count) };
        for (var attempt = 0; attempt < samples * 4 && list.Count < samples + 2; attempt++)
        {
            var picks = cached.Select(_ => random.NextUInt64() % 2 == 0).ToArray();
            if (seen.Add(string.Concat(picks.Select(p => p ? '1' : '0'))))
            {
                list.Add(Mask(j => picks[j]));
            }
        }

        return list;
    }

    private static void CheckState(CrashRecording r, CrashChecker checker, DiskImage image, int crashAt, string media, CrashReport report)
    {
        report.CountState();
        var point = string.Create(CultureInfo.InvariantCulture, $"before log entry {crashAt} of {r.Entries.Count} ({(crashAt < r.Entries.Count ? r.Entries[crashAt].Kind.ToString().ToLowerInvariant() : "the end of the workload")}): {r.Where(crashAt)}");
        checker.Check(image, crashAt, what => report.Add(new CrashViolation
        {
            WorkloadName = r.Workload.Name,
            Workload = r.Workload.ToString(),
            CrashPoint = point,
            Subset = media,
            What = what,
            Replay = Replay(r.Workload, r.Options, $"the crash {point}, with {media}"),
        }));
    }

    private static CrashViolation Unchecked(CrashWorkload? workload, CrashOptions options, string where, string what) => new()
    {
        WorkloadName = workload?.Name ?? "(none)",
        Workload = workload?.ToString() ?? "(between workloads)",
        CrashPoint = $"none: {where} did not run to the end",
        Subset = "none",
        What = what,
        Replay = workload is null ? options.Describe() : Replay(workload, options, "the run itself"),
    };

    private static string Replay(CrashWorkload workload, CrashOptions options, string state) =>
        $"CrashEnumerator.Check({workload.Source ?? $"the workload '{workload.Name}' ({workload.Describe()})"}, {options.Describe()}), then look at {state}";
}
