using Writeback.Block;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Workloads.Torture;

/// <summary>The settings of an oracle run. A setting left null is derived from the seed, as the
/// fsx oracle always derived it, so that a seed alone names a run: 512-byte blocks when
/// seed % 3 == 2 (4096 otherwise), injected interrupts (2% of the points that can take one) when
/// seed % 3 == 0, tight dirty limits (background writeback and throttling) for even seeds, and
/// 200 to 400 operations drawn from the seed.</summary>
public sealed record TortureOptions
{
    /// <summary>The default host-time limit of one run: past it the run counts as hung.</summary>
    public static readonly TimeSpan DefaultHostTimeout = TimeSpan.FromSeconds(180);

    /// <summary>How bios complete: in interrupt context, or deferred to task context.</summary>
    public CompletionMode Completion { get; init; } = CompletionMode.Irq;

    /// <summary>The task-completion design (it matters in task mode only).</summary>
    public TaskCompletionVariant Variant { get; init; } = TaskCompletionVariant.Merged;

    /// <summary>Operations to run; null: 200 to 400, drawn from the seed. The count is drawn
    /// either way, so that the same seed with the drawn count given here replays the same run.</summary>
    public int? Operations { get; init; }

    /// <summary>Filesystem block size in bytes (512 to 4096, a power of two); null: from the seed.</summary>
    public int? BlockSize { get; init; }

    /// <summary>Probability (0 to 1) of an injected interrupt at each point that can take one; null: from the seed.</summary>
    public double? IrqInjection { get; init; }

    /// <summary>Small dirty limits (256 KiB background, 1 MiB throttle), so that background
    /// writeback and throttling run under the operations; null: from the seed.</summary>
    public bool? TightDirtyLimits { get; init; }

    /// <summary>Which operations are drawn.</summary>
    public OracleMix Mix { get; init; } = OracleMix.Full;

    /// <summary>Fault episodes in the full mix (about one step in sixteen): data write errors during
    /// writeback and direct I/O with the fstests error-reporting checks, a metadata write error
    /// that shuts the filesystem down, and dropped writes, each followed by the checks of what
    /// must survive (see <see cref="OracleRun"/>).</summary>
    public bool Faults { get; init; }

    /// <summary>Deliberate breakages of the stack's rules (negative controls that prove the
    /// torture can fail); none by default.</summary>
    public InjectedBug InjectedBugs { get; init; }

    /// <summary>Simulated CPUs.</summary>
    public int Cpus { get; init; } = 2;

    /// <summary>How many of the last operations a violation lists.</summary>
    public int LogTail { get; init; } = 30;

    /// <summary>Host time one run may take before it counts as hung (the machine is then stopped).</summary>
    public TimeSpan HostTimeout { get; init; } = DefaultHostTimeout;

    /// <summary>The block size for <paramref name="seed"/>.</summary>
    public int BlockSizeFor(ulong seed) => BlockSize ?? (seed % 3 == 2 ? 512 : 4096);

    /// <summary>The interrupt-injection probability for <paramref name="seed"/>.</summary>
    public double IrqInjectionFor(ulong seed) => IrqInjection ?? (seed % 3 == 0 ? 0.02 : 0);

    /// <summary>Whether the dirty limits are tight for <paramref name="seed"/>.</summary>
    public bool TightDirtyLimitsFor(ulong seed) => TightDirtyLimits ?? seed % 2 == 0;

    /// <summary>Whether a setting that changes the run and that <c>wbsim torture</c> cannot
    /// express (block size, interrupt injection, dirty limits, injected bugs) is set instead of
    /// seed-derived or default.</summary>
    public bool HasLibraryOnlySettings => BlockSize is not null || IrqInjection is not null || TightDirtyLimits is not null || InjectedBugs != InjectedBug.None;

    /// <summary>Throws naming the first invalid setting.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    public void Validate()
    {
        if (Operations is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Operations), Operations, "torture options: Operations must be at least 1");
        }

        if (BlockSize is { } bs && (bs < 512 || bs > 4096 || (bs & (bs - 1)) != 0))
        {
            throw new ArgumentOutOfRangeException(nameof(BlockSize), bs, "torture options: BlockSize must be 512, 1024, 2048 or 4096");
        }

        if (IrqInjection is { } p && (p is < 0 or > 1 || double.IsNaN(p)))
        {
            throw new ArgumentOutOfRangeException(nameof(IrqInjection), p, "torture options: IrqInjection must be between 0 and 1");
        }

        if (Cpus < 1 || Cpus > MachineOptions.MaxCpus)
        {
            throw new ArgumentOutOfRangeException(nameof(Cpus), Cpus, $"torture options: Cpus must be between 1 and {MachineOptions.MaxCpus}");
        }

        if (Faults && Mix != OracleMix.Full)
        {
            throw new ArgumentOutOfRangeException(nameof(Faults), Faults, "torture options: Faults needs the full mix");
        }

        if (LogTail < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(LogTail), LogTail, "torture options: LogTail must be at least 1");
        }

        if (HostTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(HostTimeout), HostTimeout, "torture options: HostTimeout must be positive");
        }
    }
}
