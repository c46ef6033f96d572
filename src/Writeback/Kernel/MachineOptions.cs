namespace Writeback.Kernel;

/// <summary>Everything that defines a <see cref="Machine"/>: engine, CPUs, seed, costs and debug options.</summary>
public sealed record MachineOptions
{
    /// <summary>The most CPUs a machine may have.</summary>
    public const int MaxCpus = 1024;

    /// <summary>Which engine runs the machine.</summary>
    public EngineKind Engine { get; init; } = EngineKind.Deterministic;

    /// <summary>Number of simulated CPUs (1 to <see cref="MaxCpus"/>).</summary>
    public int Cpus { get; init; } = 2;

    /// <summary>Seed of the deterministic engine's scheduling decisions and jitter.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Virtual-time costs of the deterministic engine.</summary>
    public CostModel Costs { get; init; } = CostModel.Default;

    /// <summary>CONFIG_PREEMPT_COUNT. When false, <see cref="Context.BioInAtomic"/> is always
    /// true, because the kernel cannot tell atomic context from task context.</summary>
    public bool PreemptCount { get; init; } = true;

    /// <summary>What the lock validator does (CONFIG_PROVE_LOCKING).</summary>
    public LockdepMode Lockdep { get; init; } = LockdepMode.Fail;

    /// <summary>Collect per-class lock statistics (CONFIG_LOCK_STAT).</summary>
    public bool LockStat { get; init; } = true;

    /// <summary>Record interrupts-off spans and interrupt latency (the irqsoff tracer).</summary>
    public bool IrqsOffTracing { get; init; } = true;

    /// <summary>Timer frequency (CONFIG_HZ): jiffies per second.</summary>
    public int Hz { get; init; } = 250;

    /// <summary>How far (virtual ns) the deterministic engine lets the running CPU go ahead of the
    /// lowest other clock before it switches, to save OS-thread switches (each costs microseconds
    /// of host time). The schedule stays a valid, seed-determined interleaving and the timeline
    /// stays consistent — a lock released "in the future" by a CPU that ran ahead counts as held
    /// until then, an interrupt is taken only once the target's clock reaches its raise time, a
    /// woken task starts no earlier than its waker — but the order of two CPUs' operations closer
    /// than the quantum may differ from their virtual-time order, so contention figures are
    /// modelled at this resolution. 0 makes every decision run the lowest clock (exact, slower).</summary>
    public long QuantumNs { get; init; }

    /// <summary>How long a task runs before a runnable task waiting for its CPU preempts it at the
    /// next preemption point (the scheduler tick's job; EEVDF's base slice is 0.75 ms).</summary>
    public long TimesliceNs { get; init; } = 750_000;

    /// <summary>Keep the deterministic engine's full schedule trace as text (the hash is always kept).</summary>
    public bool RecordTrace { get; init; }

    /// <summary>Probability (0 to 1) that an interrupt is injected at a runtime point where the
    /// CPU could take one: it runs <see cref="Machine.IrqInjector"/> in hardirq context (a spurious
    /// interrupt if none is set). Seeded on the deterministic engine; a fixed pattern on the real one.</summary>
    public double IrqInjectionProbability { get; init; }

    /// <summary>Rules broken on purpose, to prove a torture run catches them (<see cref="InjectedBug.None"/> normally).</summary>
    public InjectedBug InjectedBugs { get; init; }

    /// <summary>How long the real engine lets a CPU spin on one lock before it reports a lockup.</summary>
    public TimeSpan SpinLockupTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Throws naming the first invalid option.</summary>
    public void Validate()
    {
        if (IrqInjectionProbability is < 0 or > 1 || double.IsNaN(IrqInjectionProbability))
        {
            throw new ArgumentOutOfRangeException(nameof(IrqInjectionProbability), IrqInjectionProbability, "machine options: IrqInjectionProbability must be between 0 and 1");
        }

        if (Cpus < 1 || Cpus > MaxCpus)
        {
            throw new ArgumentOutOfRangeException(nameof(Cpus), Cpus, $"machine options: Cpus must be between 1 and {MaxCpus}");
        }

        if (Hz is < 100 or > 1000)
        {
            throw new ArgumentOutOfRangeException(nameof(Hz), Hz, "machine options: Hz must be between 100 and 1000");
        }

        if (TimesliceNs <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(TimesliceNs), TimesliceNs, "machine options: TimesliceNs must be positive");
        }

        if (QuantumNs < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(QuantumNs), QuantumNs, "machine options: QuantumNs must not be negative");
        }

        ArgumentNullException.ThrowIfNull(Costs);
        Costs.Validate();
    }
}
