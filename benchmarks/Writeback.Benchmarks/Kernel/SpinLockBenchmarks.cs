using System.Threading;
using BenchmarkDotNet.Attributes;
using Writeback.Kernel;

namespace Writeback.Benchmarks.Kernel;

/// <summary>Uncontended spinlock acquire+release, per flavour, on an adopted real-engine thread,
/// with the instrumentation (lockdep, lock_stat, irqsoff tracing) off and on, against a bare
/// <see cref="Lock"/> in the same run.</summary>
/// <remarks>Targets: plain flavour with instrumentation off within 3x the baseline; with lock_stat
/// on, at most 150 ns per acquire+release. Each invocation does <see cref="Ops"/> pairs, so the
/// reported time is per acquire+release.</remarks>
[MemoryDiagnoser]
public class SpinLockBenchmarks
{
    /// <summary>Acquire+release pairs per invocation.</summary>
    public const int Ops = 1000;

    private readonly Lock _baseline = new();
    private Machine? _machine;
    private IDisposable? _adopted;
    private TaskStruct? _task;
    private Writeback.Kernel.SpinLock _lock = null!;

    /// <summary>Lockdep (report mode), lock_stat and irqsoff tracing on, or all off.</summary>
    [Params(false, true)]
    public bool Instrumented { get; set; }

    /// <summary>Makes BenchmarkDotNet's thread a kernel thread on CPU 0 of a real-engine machine.</summary>
    [GlobalSetup(Targets = [nameof(Plain), nameof(Bh), nameof(Irq), nameof(IrqSave)])]
    public void SetupInMachine()
    {
        _machine = Machine.Create(new MachineOptions
        {
            Engine = EngineKind.Real,
            Cpus = 1,
            Lockdep = Instrumented ? LockdepMode.Report : LockdepMode.Off,
            LockStat = Instrumented,
            IrqsOffTracing = Instrumented,
        });
        var scope = _machine.AdoptCurrentThread("bench", 0);
        _adopted = scope;
        _task = scope.Task;
        _lock = new Writeback.Kernel.SpinLock("bench_lock");
    }

    /// <summary>No machine: the baseline and the outside-machine spinlock run on a plain .NET thread.</summary>
    [GlobalSetup(Targets = [nameof(ThreadingLock), nameof(OutsideMachine)])]
    public void SetupOutside()
    {
        _lock = new Writeback.Kernel.SpinLock("bench_lock");
        if (Current.TaskOrNull is not null)
        {
            throw new InvalidOperationException("the outside-machine benchmarks need a thread that is not a task");
        }
    }

    /// <summary>Releases the adopted thread and disposes the machine; checks the run reported nothing.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _adopted?.Dispose();
        _adopted = null;
        if (_machine is { } m)
        {
            if (m.Reports.Count != 0)
            {
                throw new InvalidOperationException("the benchmark machine reported: " + m.Reports[0].Text);
            }

            m.Dispose();
            _machine = null;
        }
    }

    /// <summary><c>lock (_lock) { }</c> on a <see cref="Lock"/>.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Ops)]
    public void ThreadingLock()
    {
        var l = _baseline;
        for (var i = 0; i < Ops; i++)
        {
            using (l.EnterScope())
            {
            }
        }
    }

    /// <summary>spin_lock() / spin_unlock().</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void Plain()
    {
        EnsureAdopted();
        var l = _lock;
        for (var i = 0; i < Ops; i++)
        {
            l.Lock();
            l.Unlock();
        }
    }

    /// <summary>spin_lock_bh() / spin_unlock_bh().</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void Bh()
    {
        EnsureAdopted();
        var l = _lock;
        for (var i = 0; i < Ops; i++)
        {
            l.LockBh();
            l.UnlockBh();
        }
    }

    /// <summary>spin_lock_irq() / spin_unlock_irq().</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void Irq()
    {
        EnsureAdopted();
        var l = _lock;
        for (var i = 0; i < Ops; i++)
        {
            l.LockIrq();
            l.UnlockIrq();
        }
    }

    /// <summary>spin_lock_irqsave() / spin_unlock_irqrestore().</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void IrqSave()
    {
        EnsureAdopted();
        var l = _lock;
        for (var i = 0; i < Ops; i++)
        {
            var flags = l.LockIrqSave();
            l.UnlockIrqRestore(flags);
        }
    }

    /// <summary>spin_lock() / spin_unlock() from plain .NET code (no machine, no instrumentation).</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void OutsideMachine()
    {
        var l = _lock;
        for (var i = 0; i < Ops; i++)
        {
            l.Lock();
            l.Unlock();
        }
    }

    /// <summary>The adoption is thread-static: fail loudly rather than time the outside-machine path
    /// if BenchmarkDotNet ever runs the workload on another thread than the global setup.</summary>
    private void EnsureAdopted()
    {
        if (!ReferenceEquals(Current.TaskOrNull, _task))
        {
            throw new InvalidOperationException("the benchmark runs on another thread than its [GlobalSetup]: the adopted task is not current");
        }
    }
}
