using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Writeback.Kernel;

namespace Writeback.Benchmarks.Kernel.Engines;

/// <summary>Scheduling decisions per second of the deterministic engine: every runtime primitive
/// is a decision point, so a loop of spin_lock()/spin_unlock() measures the engine's hand-off.</summary>
/// <remarks>Each invocation creates, runs and disposes one machine (machines run once), with a
/// fixed seed; <see cref="CreateOnly64Cpus"/> times the creation and disposal alone. The decision
/// count of a run is deterministic: the global setup counts it, every invocation checks it, and
/// the Decisions, ns/decision and Decisions/s columns divide the mean by it. Target: at least
/// 200,000 decisions/s (at most 5 µs per decision).</remarks>
[MemoryDiagnoser]
[Config(typeof(DecisionsConfig))]
public class DeterministicEngineBenchmarks
{
    /// <summary>spin_lock()/spin_unlock() pairs per task in the two-CPU ping-pong.</summary>
    public const int PingPongIterations = 20_000;

    /// <summary>CPUs (and tasks) of the wide run.</summary>
    public const int WideCpus = 64;

    /// <summary>spin_lock()/spin_unlock() pairs per task in the 64-CPU run.</summary>
    public const int WideIterations = 1_000;

    private const ulong Seed = 1;

    private long _expected;

    /// <summary>Counts the decisions of one run of the benchmark about to be measured.</summary>
    [GlobalSetup(Target = nameof(PingPong2Cpus))]
    public void SetupPingPong() => _expected = Calibrate(nameof(PingPong2Cpus));

    /// <summary>Counts the decisions of one run of the benchmark about to be measured.</summary>
    [GlobalSetup(Target = nameof(PingPong2CpusQuantum))]
    public void SetupPingPongQuantum() => _expected = Calibrate(nameof(PingPong2CpusQuantum));

    /// <summary>Counts the decisions of one run of the benchmark about to be measured.</summary>
    [GlobalSetup(Target = nameof(PerTaskLocks64CpusQuantum))]
    public void SetupWideQuantum() => _expected = Calibrate(nameof(PerTaskLocks64CpusQuantum));

    /// <summary>Counts the decisions of one run of the benchmark about to be measured.</summary>
    [GlobalSetup(Target = nameof(PerTaskLocks64Cpus))]
    public void SetupWide() => _expected = Calibrate(nameof(PerTaskLocks64Cpus));

    /// <summary>Two tasks bound to CPUs 0 and 1 take and release one shared spinlock.</summary>
    [Benchmark]
    public long PingPong2Cpus() => Check(RunPingPong());

    /// <summary>The ping-pong with a 1 us scheduling quantum: the running CPU may go that far
    /// ahead of the lowest clock, which saves most OS-thread hand-offs.</summary>
    [Benchmark]
    public long PingPong2CpusQuantum() => Check(RunPingPong(quantumNs: 1_000));

    /// <summary>The 64-CPU run with a 1 us scheduling quantum.</summary>
    [Benchmark]
    public long PerTaskLocks64CpusQuantum() => Check(RunWide(quantumNs: 1_000));

    /// <summary>64 tasks, one per CPU, each take and release a lock of their own.</summary>
    [Benchmark]
    public long PerTaskLocks64Cpus() => Check(RunWide());

    /// <summary>Creates and disposes a 64-CPU machine without running it: the fixed cost inside the runs above.</summary>
    [Benchmark]
    public long CreateOnly64Cpus()
    {
        using var m = Machine.Create(Options(WideCpus));
        return m.Cpus.Count;
    }

    /// <summary>Decisions of one run of the named benchmark; 0 for benchmarks that take none.</summary>
    public static long DecisionsOf(string method) => method switch
    {
        nameof(PingPong2Cpus) => RunPingPong(),
        nameof(PingPong2CpusQuantum) => RunPingPong(quantumNs: 1_000),
        nameof(PerTaskLocks64CpusQuantum) => RunWide(quantumNs: 1_000),
        nameof(PerTaskLocks64Cpus) => RunWide(),
        _ => 0,
    };

    private static MachineOptions Options(int cpus, long? quantumNs = null) => new()
    {
        QuantumNs = quantumNs ?? new MachineOptions().QuantumNs,
        Engine = EngineKind.Deterministic,
        Cpus = cpus,
        Seed = Seed,
        Lockdep = LockdepMode.Off,
        LockStat = false,
        IrqsOffTracing = false,
    };

    private static long RunPingPong(long? quantumNs = null)
    {
        using var m = Machine.Create(Options(2, quantumNs));
        var shared = new Writeback.Kernel.SpinLock("pingpong_lock");
        m.Run(() =>
        {
            var a = m.Spawn("ping", () => LockLoop(shared, PingPongIterations), 0);
            var b = m.Spawn("pong", () => LockLoop(shared, PingPongIterations), 1);
            a.WaitForExit();
            b.WaitForExit();
        });
        return m.SchedulingDecisions;
    }

    private static long RunWide(long? quantumNs = null)
    {
        using var m = Machine.Create(Options(WideCpus, quantumNs));
        var locks = new Writeback.Kernel.SpinLock[WideCpus];
        for (var i = 0; i < locks.Length; i++)
        {
            // One class for all: per-task locks of one kind, as per-CPU or per-inode locks are.
            locks[i] = new Writeback.Kernel.SpinLock("per_task_lock");
        }

        m.Run(() =>
        {
            var tasks = new TaskStruct[WideCpus];
            for (var i = 0; i < tasks.Length; i++)
            {
                var l = locks[i];
                tasks[i] = m.Spawn("worker", () => LockLoop(l, WideIterations), i);
            }

            foreach (var t in tasks)
            {
                t.WaitForExit();
            }
        });
        return m.SchedulingDecisions;
    }

    private static void LockLoop(Writeback.Kernel.SpinLock l, int iterations)
    {
        for (var i = 0; i < iterations; i++)
        {
            l.Lock();
            l.Unlock();
        }
    }

    private static long Calibrate(string method)
    {
        var first = DecisionsOf(method);
        var second = DecisionsOf(method);
        if (first != second)
        {
            throw new InvalidOperationException($"{method}: {first} then {second} decisions with the same seed: the run is not deterministic");
        }

        Console.WriteLine($"// {method}: {first:N0} scheduling decisions per run (seed {Seed})");
        return first;
    }

    private long Check(long decisions)
    {
        if (decisions != _expected)
        {
            throw new InvalidOperationException($"{decisions} decisions, calibrated {_expected}: the per-decision columns would be wrong");
        }

        return decisions;
    }

    /// <summary>Adds the per-decision columns.</summary>
    public sealed class DecisionsConfig : ManualConfig
    {
        /// <summary>Creates the configuration.</summary>
        public DecisionsConfig()
        {
            AddColumn(
                new DecisionsColumn(DecisionsColumn.Kind.Decisions, DecisionsOf),
                new DecisionsColumn(DecisionsColumn.Kind.NsPerDecision, DecisionsOf),
                new DecisionsColumn(DecisionsColumn.Kind.DecisionsPerSecond, DecisionsOf));
        }
    }
}
