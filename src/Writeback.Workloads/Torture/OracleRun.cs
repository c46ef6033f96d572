using System.Globalization;
using System.Threading;
using Writeback.Block;
using Writeback.Fs;
using Writeback.Fs.Format;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Workloads.Torture;

/// <summary>One fsx-style oracle run: a seeded random sequence of file operations — buffered,
/// direct, dontcache and asynchronous direct reads and writes of any alignment, appends,
/// truncate up and down, fallocate, punch hole, fsync, fdatasync, close and reopen, drop caches,
/// sync, unmount and mount (with or without a power cut), rename, link and unlink across the
/// files, and with <see cref="TortureOptions.Faults"/> fault episodes (see the Faults part) —
/// on a fresh machine and filesystem, checked against <see cref="OracleModel"/> (a byte array and
/// a size per file) after every step.</summary>
/// <remarks>
/// <para>Every read is compared byte for byte with the model; every open handle's size and the
/// page cache's live invariants (folio flags against the XArray's tags, its structure, the
/// counters; <see cref="PageCache.CheckInvariants"/>) are checked after every step; after every
/// unmount, the cache must be at rest and consistent with no folio left alive, and no bio may stay
/// in flight (the checked block layer makes a bio completed twice, or a deferred completion run
/// in interrupt context, a BUG when it happens); after a namespace change or a mount, the root directory's entries and inode
/// numbers, and the orphans, are compared with the model's names. The run ends with a sync, a
/// consistency check, a power cut, a mount with a new page cache, a read of every file and a
/// second check. A violation is: a check that failed, an operation that returned an error, a
/// machine failure (a task threw, a lockdep report — lockdep is fatal —, a detected deadlock, a
/// BUG), a kernel report of any kind, lockdep turned off, a user task left alive, or a run past
/// its host-time limit (hung). It carries the seed, the settings, the last operations and a
/// <c>wbsim torture</c> command that replays the run on the deterministic engine.</para>
/// <para>An unlinked (or renamed-over) file held open stays readable and writable through its
/// handles until they close, as in POSIX: the model keeps it as an orphan, the operations go on
/// picking it, and its last close must free its inode. The model always keeps a buffered handle
/// on an orphan (it opens one before the unlink when only a direct handle is open), because an
/// orphan cannot be opened again by name. Unmount closes every handle first, so orphans never
/// cross a power cut here (the crash part of the torture covers that).</para>
/// </remarks>
public sealed partial class OracleRun
{
    private const long DiskBytes = 32L << 20;
    private const int Files = 3;

    private readonly TortureOptions _options;
    private readonly int _blockSize;
    private readonly double _irqInjection;
    private readonly bool _tightDirtyLimits;
    private readonly OracleModel _model = new(Files);
    private readonly List<string> _log = [];
    private readonly List<FileSystem> _mounts = [];
    private Prandom _rng = null!;
    private BlockLayer _layer = null!;
    private MemDisk _disk = null!;
    private PageCache _cache = null!;
    private FileSystem _fs = null!;
    private AddressSpace? _injectTarget;
    private int _opCount;
    private int _op;
    private int _executed;
    private long _bytesChecked;
    private long _bufferedBytesWritten;
    private int _started;
    private int _timedOut;

    /// <summary>Prepares the run of <paramref name="seed"/> under <paramref name="options"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public OracleRun(TortureOptions options, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        Seed = seed;
        _blockSize = options.BlockSizeFor(seed);
        _irqInjection = options.IrqInjectionFor(seed);
        _tightDirtyLimits = options.TightDirtyLimitsFor(seed);
    }

    /// <summary>The run's seed.</summary>
    public ulong Seed { get; }

    /// <summary>The run's options.</summary>
    public TortureOptions Options => _options;

    /// <summary>The model (what the filesystem must hold), as the run leaves it.</summary>
    public OracleModel Model => _model;

    /// <summary>The run's settings, as a phrase.</summary>
    public string Settings => string.Create(CultureInfo.InvariantCulture,
        $"block size {_blockSize}, irq injection {_irqInjection}, tight dirty limits {(_tightDirtyLimits ? "yes" : "no")}, mix {_options.Mix.ToString().ToLowerInvariant()}, {_options.Cpus} CPUs");

    private bool FullMix => _options.Mix == OracleMix.Full;

    /// <summary>The <c>wbsim torture</c> command that runs <paramref name="seed"/> under
    /// <paramref name="options"/> for <paramref name="operations"/> operations; settings the
    /// command line cannot express follow as a shell comment.</summary>
    public static string ReplayCommandFor(ulong seed, TortureOptions options, int operations)
    {
        ArgumentNullException.ThrowIfNull(options);
        var command = string.Create(CultureInfo.InvariantCulture,
            $"wbsim torture --seed {seed} --completion {options.Completion.ToString().ToLowerInvariant()} --variant {options.Variant.ToString().ToLowerInvariant()} --ops {operations}");
        if (options.Mix != OracleMix.Full)
        {
            command += " --mix " + options.Mix.ToString().ToLowerInvariant();
        }

        if (options.Faults)
        {
            command += " --faults";
        }

        if (options.Cpus != 2)
        {
            command += string.Create(CultureInfo.InvariantCulture, $" --cpus {options.Cpus}");
        }

        if (options.HasLibraryOnlySettings)
        {
            command += string.Create(CultureInfo.InvariantCulture,
                $"  # and TortureOptions {{ BlockSize = {options.BlockSizeFor(seed)}, IrqInjection = {options.IrqInjectionFor(seed)}, TightDirtyLimits = {(options.TightDirtyLimitsFor(seed) ? "true" : "false")}{(options.InjectedBugs != InjectedBug.None ? $", InjectedBugs = {options.InjectedBugs}" : string.Empty)} }}, which the command line does not set");
        }

        return command;
    }

    /// <summary>Runs the sequence on a new machine and returns what it did and found. A run executes once.</summary>
    /// <remarks>Context: outside any machine (it creates and runs its own). Blocks for the run.</remarks>
    /// <exception cref="InvalidOperationException">The run was already executed.</exception>
    public OracleResult Execute()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("an oracle run executes once: make a new OracleRun to run again");
        }

        var hostStart = Environment.TickCount64;
        (string What, string? Detail)? failure;
        long conv;
        long dio;
        using (var m = Machine.Create(MachineOptions()))
        {
            failure = RunMachine(m) ?? CheckClean(m);
            conv = _mounts.Sum(f => f.Stats.ConvWorkqueueItems);
            dio = _mounts.Sum(f => f.Stats.DioWorkqueueItems);
        }

        var planned = _opCount > 0 ? _opCount : _options.Operations ?? 0;
        var replay = ReplayCommandFor(Seed, _options, planned);
        return new OracleResult
        {
            Seed = Seed,
            Completion = _options.Completion,
            Variant = _options.Variant,
            PlannedOperations = planned,
            Operations = _executed,
            BytesChecked = _bytesChecked,
            BufferedBytesWritten = _bufferedBytesWritten,
            ConvWorkqueueItems = conv,
            DioWorkqueueItems = dio,
            FaultsInjected = _disk?.FaultsInjected ?? 0,
            FaultEpisodes = _faultEpisodes,
            HostMs = Environment.TickCount64 - hostStart,
            ReplayCommand = replay,
            Violation = failure is { } f ? Violation(f.What, f.Detail, planned, replay) : null,
        };
    }

    // The options MachineFixture gives tests: lockdep fatal, preempt counting, no trace.
    private MachineOptions MachineOptions() => new()
    {
        Engine = EngineKind.Deterministic,
        Cpus = _options.Cpus,
        Seed = Seed,
        Lockdep = LockdepMode.Fail,
        PreemptCount = true,
        RecordTrace = false,
        SpinLockupTimeout = TimeSpan.FromSeconds(10),
        IrqInjectionProbability = _irqInjection,
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

    private static (string What, string? Detail) Explain(MachineFailedException ex, Machine m)
    {
        var reports = ReportsText(m);
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is OracleCheckException check)
            {
                return (check.Message, reports);
            }
        }

        var detail = reports is null ? ex.ToString() : reports + "\n" + ex;
        return ("the machine failed: " + ex.Message.Split('\n')[0], detail);
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

    private TortureViolation Violation(string what, string? detail, int planned, string replay) => new()
    {
        What = what,
        Seed = Seed,
        Completion = _options.Completion,
        Variant = _options.Variant,
        Operation = _op,
        PlannedOperations = planned,
        Settings = Settings,
        LastOperations = _log.Skip(Math.Max(0, _log.Count - _options.LogTail)).ToList(),
        ReplayCommand = replay,
        Detail = detail,
    };

    private void Body(Machine m)
    {
        _rng = m.CreatePrandom("fsx");
        _layer = BlockLayer.Create(m, new BlockLayerOptions { Variant = _options.Variant, Checked = true });
        _disk = new MemDisk(_layer, new DiskOptions { CapacityBytes = DiskBytes });
        FileSystem.Mkfs(_disk, FsGeometry.For(DiskBytes, blockSize: _blockSize), _options.Completion);
        _cache = NewCache(m);
        MountFs();
        m.IrqInjector = Inject;

        // Drawn even when the count is given, so that a given count replays a drawn one.
        var drawn = 200 + Next(201);
        _opCount = _options.Operations ?? drawn;
        for (_op = 0; _op < _opCount; _op++)
        {
            if (FullMix)
            {
                StepFull();
            }
            else
            {
                Step();
            }

            foreach (var s in _model.Live)
            {
                CheckSize(s);
            }

            CheckInvariants();
            _executed = _op + 1;
        }

        _op = _opCount;
        Finish();
        m.IrqInjector = null;
    }

    private void Inject() => TortureStack.OtherDevicesCompletion(Volatile.Read(ref _injectTarget), _options.Completion);

    private PageCache NewCache(Machine m) => TortureStack.NewCache(m, _options.Completion, _tightDirtyLimits);

    private void MountFs()
    {
        _fs = TortureStack.Mount(_disk, _cache);
        _mounts.Add(_fs);
    }

    private void Record(string what) => _log.Add(string.Create(CultureInfo.InvariantCulture, $"#{_op} {what}"));
}
