using System.Globalization;
using Writeback.Block;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Workloads.Torture;

/// <summary>The settings of an interleaved run (<see cref="InterleavedRun"/>): several worker tasks
/// on several CPUs at once, injected interrupts, CPU hotplug and device latency outliers. A setting
/// left null is derived from the seed, as the oracle derives it (<see cref="TortureOptions"/>), so
/// that a seed alone names a run: 512-byte blocks when seed % 3 == 2 (4096 otherwise), tight dirty
/// limits for even seeds, completion interrupts spread over the CPUs in turn when (seed / 2) % 2 == 0
/// (on the submitting CPU otherwise), and 100 to 200 operations per worker drawn from the seed.</summary>
public sealed record InterleavedOptions
{
    /// <summary>The CPUs of a run unless given (<see cref="Cpus"/>).</summary>
    public const int DefaultCpus = 4;

    /// <summary>The worker tasks of a run unless given (<see cref="Workers"/>).</summary>
    public const int DefaultWorkers = 3;

    /// <summary>The interrupt-injection probability unless given (<see cref="IrqInjection"/>).</summary>
    public const double DefaultIrqInjection = 0.02;

    /// <summary>The share of bios that are slow outliers unless given (<see cref="OutlierProbability"/>).</summary>
    public const double DefaultOutlierProbability = 0.01;

    /// <summary>The extra time of a slow outlier unless given (<see cref="OutlierNs"/>): 2 ms.</summary>
    public const long DefaultOutlierNs = 2_000_000;

    /// <summary>The default host-time limit of one run: past it the run counts as hung.</summary>
    public static readonly TimeSpan DefaultHostTimeout = TimeSpan.FromSeconds(180);

    /// <summary>The default modelled-time limit of one operation (<see cref="StallTimeout"/>).</summary>
    public static readonly TimeSpan DefaultStallTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How bios complete: in interrupt context, or deferred to task context.</summary>
    public CompletionMode Completion { get; init; } = CompletionMode.Irq;

    /// <summary>The task-completion design (it matters in task mode only).</summary>
    public TaskCompletionVariant Variant { get; init; } = TaskCompletionVariant.Merged;

    /// <summary>Simulated CPUs (at least 2 with <see cref="Hotplug"/>: CPU 0 never goes offline).</summary>
    public int Cpus { get; init; } = DefaultCpus;

    /// <summary>Worker tasks, each with its own files, model and random stream.</summary>
    public int Workers { get; init; } = DefaultWorkers;

    /// <summary>Operations per worker; null: 100 to 200, drawn from the seed. The count is drawn
    /// either way, so that the same seed with the drawn count given here replays the same run.</summary>
    public int? Operations { get; init; }

    /// <summary>Filesystem block size in bytes (512 to 4096, a power of two); null: from the seed.</summary>
    public int? BlockSize { get; init; }

    /// <summary>Small dirty limits (256 KiB background, 1 MiB throttle), so that background
    /// writeback and throttling run under the workers; null: from the seed.</summary>
    public bool? TightDirtyLimits { get; init; }

    /// <summary>Which CPU the device's completion interrupts go to; null: from the seed
    /// (<see cref="IrqAffinity.RoundRobin"/> or <see cref="IrqAffinity.Submitter"/>). Spread
    /// interrupts complete bios on a CPU about to go offline more often than the submitter's do.</summary>
    public IrqAffinity? Affinity { get; init; }

    /// <summary>Probability (0 to 1) of an injected interrupt at each point that can take one.</summary>
    public double IrqInjection { get; init; } = DefaultIrqInjection;

    /// <summary>Probability (0 to 1) that a request is a slow outlier (drawn by the device from the seed).</summary>
    public double OutlierProbability { get; init; } = DefaultOutlierProbability;

    /// <summary>Extra device time of a slow outlier (ns).</summary>
    public long OutlierNs { get; init; } = DefaultOutlierNs;

    /// <summary>Whether a task takes random CPUs (never CPU 0) offline and back online during the run.</summary>
    public bool Hotplug { get; init; } = true;

    /// <summary>Whether the first two workers also share one file, each writing only its own
    /// folio-aligned range of it, so that one task's writes race writeback of the other's folios.</summary>
    public bool SharedFile { get; init; } = true;

    /// <summary>Rules broken on purpose (the negative controls); <see cref="InjectedBug.None"/> normally.</summary>
    public InjectedBug InjectedBugs { get; init; }

    /// <summary>How many of the last operations (across every task) a violation lists.</summary>
    public int LogTail { get; init; } = 40;

    /// <summary>Modelled time one operation (of a worker, the hotplug task or the final checks) may
    /// take: past it the run counts as hung — a bio that never completes leaves its waiter asleep
    /// forever while timers keep modelled time going. A watchdog looks every 50 modelled ms; the
    /// limit changes when a hung run stops, never the schedule of a run that does not hang.</summary>
    public TimeSpan StallTimeout { get; init; } = DefaultStallTimeout;

    /// <summary>Host time one run may take before it counts as hung (the machine is then stopped).</summary>
    public TimeSpan HostTimeout { get; init; } = DefaultHostTimeout;

    /// <summary>The block size for <paramref name="seed"/>.</summary>
    public int BlockSizeFor(ulong seed) => BlockSize ?? (seed % 3 == 2 ? 512 : 4096);

    /// <summary>Whether the dirty limits are tight for <paramref name="seed"/>.</summary>
    public bool TightDirtyLimitsFor(ulong seed) => TightDirtyLimits ?? seed % 2 == 0;

    /// <summary>The completion interrupts' affinity for <paramref name="seed"/>.</summary>
    public IrqAffinity AffinityFor(ulong seed) => Affinity ?? ((seed / 2) % 2 == 0 ? IrqAffinity.RoundRobin : IrqAffinity.Submitter);

    /// <summary>Whether a setting that changes the run and that <c>wbsim torture --hotplug</c>
    /// cannot express is set: workers, block size, dirty limits, interrupt affinity, injection, outliers, hotplug off,
    /// no shared file, injected bugs.</summary>
    public bool HasLibraryOnlySettings => Workers != DefaultWorkers || BlockSize is not null || TightDirtyLimits is not null || Affinity is not null
        || IrqInjection != DefaultIrqInjection || OutlierProbability != DefaultOutlierProbability || OutlierNs != DefaultOutlierNs
        || !Hotplug || !SharedFile || InjectedBugs != InjectedBug.None;

    /// <summary>The library-only settings of <paramref name="seed"/>, as an initializer.</summary>
    public string LibraryOnlySettingsFor(ulong seed) => string.Create(CultureInfo.InvariantCulture,
        $"InterleavedOptions {{ Workers = {Workers}, BlockSize = {BlockSizeFor(seed)}, TightDirtyLimits = {(TightDirtyLimitsFor(seed) ? "true" : "false")}, Affinity = IrqAffinity.{AffinityFor(seed)}, IrqInjection = {IrqInjection}, OutlierProbability = {OutlierProbability}, OutlierNs = {OutlierNs}, Hotplug = {(Hotplug ? "true" : "false")}, SharedFile = {(SharedFile ? "true" : "false")}, InjectedBugs = {InjectedBugs} }}");

    /// <summary>Throws naming the first invalid setting.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    public void Validate()
    {
        if (Operations is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Operations), Operations, "interleaved options: Operations must be at least 1");
        }

        if (Cpus < (Hotplug ? 2 : 1) || Cpus > MachineOptions.MaxCpus)
        {
            throw new ArgumentOutOfRangeException(nameof(Cpus), Cpus, $"interleaved options: Cpus must be between {(Hotplug ? 2 : 1)} and {MachineOptions.MaxCpus}{(Hotplug ? " with Hotplug (CPU 0 stays online)" : string.Empty)}");
        }

        if (Workers is < 1 or > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(Workers), Workers, "interleaved options: Workers must be between 1 and 64");
        }

        if (BlockSize is { } bs && (bs < 512 || bs > 4096 || (bs & (bs - 1)) != 0))
        {
            throw new ArgumentOutOfRangeException(nameof(BlockSize), bs, "interleaved options: BlockSize must be 512, 1024, 2048 or 4096");
        }

        ValidateProbability(IrqInjection, nameof(IrqInjection));
        ValidateProbability(OutlierProbability, nameof(OutlierProbability));
        if (OutlierNs < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(OutlierNs), OutlierNs, "interleaved options: OutlierNs must not be negative");
        }

        if (LogTail < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(LogTail), LogTail, "interleaved options: LogTail must be at least 1");
        }

        if (StallTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(StallTimeout), StallTimeout, "interleaved options: StallTimeout must be positive");
        }

        if (HostTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(HostTimeout), HostTimeout, "interleaved options: HostTimeout must be positive");
        }
    }

    private static void ValidateProbability(double p, string name)
    {
        if (p is < 0 or > 1 || double.IsNaN(p))
        {
            throw new ArgumentOutOfRangeException(name, p, $"interleaved options: {name} must be between 0 and 1");
        }
    }
}
