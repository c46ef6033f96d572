using System.Collections.Concurrent;
using System.Globalization;
using System.Threading;
using Writeback.Block;
using Writeback.Fs;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Workloads.Torture;

/// <summary>One interleaved torture run: several worker tasks on several CPUs at once, each doing
/// an fsx-style seeded random sequence of file operations on its own files (checked against its
/// own <see cref="OracleFile"/> models, as <see cref="OracleRun"/> checks its one task), while
/// interrupts are injected at every point the engine offers, a hotplug task takes random CPUs
/// offline and back online at random points, and the device makes some requests slow outliers —
/// lockdep on and fatal.</summary>
/// <remarks>
/// <para>On a fresh deterministic machine and disk (a <see cref="MemDisk"/> whose latency model has
/// outliers, drawn from the seed), in the given completion mode and variant: mkfs, mount, then
/// <see cref="InterleavedOptions.Workers"/> workers, each with two files of its own, its own random
/// stream (<see cref="Machine.CreatePrandom"/> with the worker's name) and its own handles, draw
/// buffered writes and reads of any alignment, appends, direct writes and reads (aligned),
/// asynchronous direct writes, truncate, fallocate, punch hole, fsync, fdatasync, dontcache
/// writes, close and reopen, sync and drop caches; every read and every handle's size is checked
/// against the model. The first two workers also own disjoint 256 KiB ranges of one shared file
/// (folio-aligned, so that writers never share a folio and the model stays exact; its size never
/// changes), so that one task's writes race writeback of the other's folios. Meanwhile the hotplug
/// task waits for a few operations to finish, takes one or two random non-zero CPUs offline, waits
/// a few operations or a seeded sleep, and brings them back, counting events: bios are in flight,
/// so in task mode the dead-CPU callbacks drain per-CPU completion batches.</para>
/// <para>At the end: the workers are joined, the hotplug task stops with every CPU online, then a
/// sync, a consistency check, an unmount, a power cut, a mount with a new page cache, a read of
/// every file against its model, a second check and an unmount. A violation is a check that
/// failed, an operation that returned an error, a machine failure (a task threw, a lockdep report —
/// lockdep is fatal —, a detected deadlock, a BUG), a kernel report, lockdep turned off, a user
/// task left alive, an operation past <see cref="InterleavedOptions.StallTimeout"/> of modelled
/// time (hung: a watchdog kernel thread looks every 50 modelled ms) or a run past its host-time
/// limit. It carries the seed, the settings, the last operations of every task (each line
/// prefixed with the task) and the <c>wbsim torture --hotplug</c> command that replays it.</para>
/// </remarks>
public sealed partial class InterleavedRun
{
    private const long DiskBytes = 32L << 20;
    private const int WatchdogPeriodMs = 50;

    private readonly InterleavedOptions _options;
    private readonly int _blockSize;
    private readonly bool _tightDirtyLimits;
    private readonly IrqAffinity _affinity;
    private readonly ConcurrentQueue<string> _log = new();
    private readonly InterleavedActivity _hotplugActivity = new("hotplug");
    private readonly InterleavedActivity _finalActivity = new("final");
    private readonly List<InterleavedWorker> _workers = [];
    private readonly List<OracleFile> _models = [];
    private WaitQueueHead _progress = null!;
    private BlockLayer? _layer;
    private MemDisk _disk = null!;
    private PageCache _cache = null!;
    private AddressSpace? _injectTarget;
    private string? _hangDetail;
    private int _opCount;
    private int _executed;
    private int _hotplugEvents;
    private long _irqInjections;
    private long _finalBytesChecked;
    private long _modelledNs;
    private long _watchdogNs;
    private int _stopHotplug;
    private int _done;
    private int _inFinal;
    private int _started;
    private int _timedOut;

    /// <summary>Prepares the run of <paramref name="seed"/> under <paramref name="options"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public InterleavedRun(InterleavedOptions options, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        Seed = seed;
        _blockSize = options.BlockSizeFor(seed);
        _tightDirtyLimits = options.TightDirtyLimitsFor(seed);
        _affinity = options.AffinityFor(seed);
    }

    /// <summary>The run's seed.</summary>
    public ulong Seed { get; }

    /// <summary>The run's options.</summary>
    public InterleavedOptions Options => _options;

    /// <summary>The run's settings, as a phrase.</summary>
    public string Settings => string.Create(CultureInfo.InvariantCulture,
        $"block size {_blockSize}, irq injection {_options.IrqInjection}, tight dirty limits {(_tightDirtyLimits ? "yes" : "no")}, interrupts {_affinity.ToString().ToLowerInvariant()}, {_options.Workers} workers{(SharingWorkers > 0 ? " (two share a file)" : string.Empty)}, {_options.Cpus} CPUs, hotplug {(_options.Hotplug ? "on" : "off")}, outliers {_options.OutlierProbability * 100}% +{_options.OutlierNs / 1e6} ms{(_options.InjectedBugs != InjectedBug.None ? ", injected bugs " + _options.InjectedBugs : string.Empty)}");

    /// <summary>The machine, once the run has started.</summary>
    internal Machine Machine { get; private set; } = null!;

    /// <summary>The mounted filesystem.</summary>
    internal FileSystem Fs { get; private set; } = null!;

    private int SharingWorkers => _options.SharedFile && _options.Workers >= 2 ? 2 : 0;

    /// <summary>The <c>wbsim torture --hotplug</c> command that runs <paramref name="seed"/> under
    /// <paramref name="options"/> with <paramref name="operations"/> operations per worker; settings
    /// the command line cannot express follow as a shell comment.</summary>
    public static string ReplayCommandFor(ulong seed, InterleavedOptions options, int operations)
    {
        ArgumentNullException.ThrowIfNull(options);
        var command = string.Create(CultureInfo.InvariantCulture,
            $"wbsim torture --seed {seed} --completion {options.Completion.ToString().ToLowerInvariant()} --variant {options.Variant.ToString().ToLowerInvariant()} --hotplug --ops {operations}");
        if (options.Cpus != InterleavedOptions.DefaultCpus)
        {
            command += string.Create(CultureInfo.InvariantCulture, $" --cpus {options.Cpus}");
        }

        if (options.HasLibraryOnlySettings)
        {
            command += $"  # and {options.LibraryOnlySettingsFor(seed)}, which the command line does not set";
        }

        return command;
    }

    /// <summary>Runs the workers on a new machine and returns what they did and found. A run executes once.</summary>
    /// <remarks>Context: outside any machine (it creates and runs its own). Blocks for the run.</remarks>
    /// <exception cref="InvalidOperationException">The run was already executed.</exception>
    public InterleavedResult Execute()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("an interleaved run executes once: make a new InterleavedRun to run again");
        }

        var hostStart = Environment.TickCount64;
        (string What, string? Detail)? failure;
        ulong hash;
        using (var m = Machine.Create(MachineOptions()))
        {
            failure = RunMachine(m) ?? CheckClean(m);
            hash = m.TraceHash;
            if (_modelledNs == 0 && Volatile.Read(ref _timedOut) == 0)
            {
                // A run that failed stopped where it was: the latest clock the run saw (an offline
                // CPU's clock stands still, and the machine's now is the lowest).
                _modelledNs = Math.Max(m.NowNs, Interlocked.Read(ref _watchdogNs));
            }
        }

        var planned = _opCount > 0 ? _opCount : _options.Operations ?? 0;
        var replay = ReplayCommandFor(Seed, _options, planned);
        return new InterleavedResult
        {
            Seed = Seed,
            Completion = _options.Completion,
            Variant = _options.Variant,
            Cpus = _options.Cpus,
            Workers = _options.Workers,
            OperationsPerWorker = planned,
            Operations = Volatile.Read(ref _executed),
            BytesChecked = _workers.Sum(w => w.BytesChecked) + _finalBytesChecked,
            HotplugEvents = Volatile.Read(ref _hotplugEvents),
            IrqInjections = Interlocked.Read(ref _irqInjections),
            DrainedByHotplug = _layer?.Stats().DrainedByHotplug ?? 0,
            ModelledNs = _modelledNs,
            ScheduleHash = hash,
            HostMs = Environment.TickCount64 - hostStart,
            ReplayCommand = replay,
            Violation = failure is { } f ? Violation(f.What, f.Detail, planned * _options.Workers, replay) : null,
        };
    }

    /// <summary>Appends a line (already prefixed with its task) to the run's log.</summary>
    internal void Record(string line) => _log.Enqueue(line);

    /// <summary>Counts a worker's finished operation and wakes the hotplug task.</summary>
    /// <remarks>Context: Process context.</remarks>
    internal void OperationDone()
    {
        Interlocked.Increment(ref _executed);
        _progress.WakeUpAll();
    }

    /// <summary>Makes <paramref name="mapping"/> the one injected interrupts touch (null: none).</summary>
    internal void SetInjectTarget(AddressSpace? mapping) => Volatile.Write(ref _injectTarget, mapping);

    // The options MachineFixture gives tests (lockdep fatal, preempt counting, no trace), with
    // the run's CPUs, injection and injected bugs.
    private MachineOptions MachineOptions() => new()
    {
        Engine = EngineKind.Deterministic,
        Cpus = _options.Cpus,
        Seed = Seed,
        Lockdep = LockdepMode.Fail,
        PreemptCount = true,
        RecordTrace = false,
        SpinLockupTimeout = TimeSpan.FromSeconds(10),
        IrqInjectionProbability = _options.IrqInjection,
        InjectedBugs = _options.InjectedBugs,
    };

    // Runs the machine under a host-time watchdog: past the limit the machine is stopped (its
    // task threads killed) and the run counts as hung.
    private (string What, string? Detail)? RunMachine(Machine m)
    {
        (string What, string? Detail)? failure = null;
        using (var watchdog = new CancellationTokenSource(_options.HostTimeout))
        using (watchdog.Token.Register(() =>
        {
            Volatile.Write(ref _timedOut, 1);
            m.Dispose();
        }))
        {
            try
            {
                m.Run(() => Body(m));
            }
            catch (MachineFailedException ex)
            {
                failure = Explain(ex, m);
            }
            catch (ObjectDisposedException) when (Volatile.Read(ref _timedOut) != 0)
            {
                // The watchdog fired before the run started: the run counts as hung all the same.
            }
        }

        return Volatile.Read(ref _timedOut) != 0
            ? (string.Create(CultureInfo.InvariantCulture, $"the run did not finish within {_options.HostTimeout.TotalSeconds:0} s of host time: it hangs"), failure?.Detail)
            : failure;
    }

    private (string What, string? Detail) Explain(MachineFailedException ex, Machine m)
    {
        var reports = ReportsText(m);
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is OracleCheckException check)
            {
                var detail = Volatile.Read(ref _hangDetail) is { } hang ? hang + (reports is null ? string.Empty : "\n" + reports) : reports;
                return (check.Message, detail);
            }
        }

        return ("the machine failed: " + ex.Message.Split('\n')[0], reports is null ? ex.ToString() : reports + "\n" + ex);
    }

    // What MachineFixture.AssertClean checks at the end of a test: no report of any kind,
    // lockdep still validating, and every user task exited.
    private static (string What, string? Detail)? CheckClean(Machine m)
    {
        var reports = m.Reports;
        if (reports.Count > 0)
        {
            return (string.Create(CultureInfo.InvariantCulture, $"the kernel printed {reports.Count} report(s); the first: {reports[0].Text.Split('\n')[0]}"), ReportsText(m));
        }

        if (!m.Lockdep.IsValidating)
        {
            return ("lockdep turned itself off", null);
        }

        var alive = m.Tasks.Where(t => t.Kind == TaskKind.User && !t.HasExited).Select(t => t.ToString()).ToList();
        return alive.Count > 0 ? ("user tasks still alive at the end: " + string.Join(", ", alive), null) : null;
    }

    private static string? ReportsText(Machine m)
    {
        var reports = m.Reports;
        return reports.Count == 0 ? null : string.Join("\n", reports.Select(r => r.Text));
    }

    private TortureViolation Violation(string what, string? detail, int planned, string replay)
    {
        var log = _log.ToArray();
        return new TortureViolation
        {
            What = what,
            Seed = Seed,
            Completion = _options.Completion,
            Variant = _options.Variant,
            Operation = Volatile.Read(ref _inFinal) != 0 ? planned : Math.Min(planned, Volatile.Read(ref _executed)),
            PlannedOperations = planned,
            Settings = Settings,
            LastOperations = log.Skip(Math.Max(0, log.Length - _options.LogTail)).ToList(),
            ReplayCommand = replay,
            Detail = detail,
        };
    }
}
