using System.Threading;
using System.Text;
using Writeback.Kernel.Engines;

namespace Writeback.Kernel;

/// <summary>A simulated machine: N CPUs, their tasks, interrupts, softirqs and timers, the lock
/// validator and the measurements, run by one of two engines.</summary>
/// <remarks>Create one with <see cref="Create"/>, start work with <see cref="Spawn"/> or
/// <see cref="Run"/>, read the reports afterwards, and dispose it. Kernel code never sees the
/// engine: it calls the runtime (locks, <see cref="Context"/>, wait queues, workqueues).</remarks>
public sealed partial class Machine : IDisposable
{
    /// <summary>The release string reports print.</summary>
    public const string KernelRelease = "7.3.0-writeback";

    private readonly List<TaskStruct> _tasks = [];
    private readonly List<TaskStruct> _stashed = [];
    private readonly List<KernelReport> _reports = [];
    private readonly StringBuilder _log = new();
    private readonly Action<Cpu>?[] _softirqs = new Action<Cpu>?[10];
    private ArchSpinLock _bookkeeping;
    private TaskStruct? _init;
    private int _nextPid = 1;
    private int _liveUserTasks;
    private int _runState;
    private bool _disposed;

    private Machine(MachineOptions options)
    {
        options.Validate();
        Options = options;
        var cpus = new Cpu[options.Cpus];
        for (var i = 0; i < cpus.Length; i++)
        {
            cpus[i] = new Cpu(this, i);
        }

        Cpus = cpus;
        CpuArray = cpus;
        Lockdep = new Lockdep(this);
        IrqsOff = new IrqsOffTracer(options.Cpus, options.IrqsOffTracing);
        Engine = options.Engine == EngineKind.Deterministic ? new DeterministicEngine(this) : new RealEngine(this);
        foreach (var cpu in cpus)
        {
            var idle = new TaskStruct(this, 0, $"swapper/{cpu.Id}", TaskKind.Idle, cpu.Id, () => { }) { Cpu = cpu };
            cpu.Idle = idle;
            cpu.Current = idle;
            idle.RunState = TaskRunState.IdleWait;
        }

        JiffyNs = 1_000_000_000L / options.Hz;
        OpenSoftirq(Softirq.Timer, RunTimerSoftirq);
        InitHotplug();
    }

    /// <summary>What an injected interrupt does (see <see cref="MachineOptions.IrqInjectionProbability"/>):
    /// typically a device completion path under test; null for spurious interrupts.</summary>
    /// <remarks>Context: the handler runs in hardirq context on the CPU it interrupted.</remarks>
    public Action? IrqInjector { get; set; }

    /// <summary>A seeded random stream for model code, named so that adding a stream does not
    /// change the draws of another (the same name on the same seed gives the same stream).</summary>
    public Prandom CreatePrandom(string name) => Prandom.ForStream(Options.Seed, name);

    /// <summary>Creates a machine; throws naming the first invalid option.</summary>
    public static Machine Create(MachineOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new Machine(options);
    }

    /// <summary>The options the machine was created with.</summary>
    public MachineOptions Options { get; }

    /// <summary>The CPUs, by id.</summary>
    public IReadOnlyList<Cpu> Cpus { get; }

    /// <summary>The lock validator and the lock classes (with their lock_stat figures).</summary>
    public Lockdep Lockdep { get; }

    /// <summary>The interrupts-off and interrupt-latency recorder.</summary>
    public IrqsOffTracer IrqsOff { get; }

    /// <summary>True when times are modelled (deterministic engine) rather than measured.</summary>
    public bool TimesAreModelled => Engine.IsDeterministic;

    /// <summary>Every report printed so far (lockdep, sleep in atomic, deadlock, warnings).</summary>
    public IReadOnlyList<KernelReport> Reports
    {
        get
        {
            _bookkeeping.Lock();
            try
            {
                return [.. _reports];
            }
            finally
            {
                _bookkeeping.Unlock();
            }
        }
    }

    /// <summary>The kernel log (what dmesg would show).</summary>
    public string Dmesg
    {
        get
        {
            _bookkeeping.Lock();
            try
            {
                return _log.ToString();
            }
            finally
            {
                _bookkeeping.Unlock();
            }
        }
    }

    /// <summary>A hash of the deterministic engine's schedule: equal seeds and options give equal hashes.</summary>
    public ulong TraceHash => Engine.TraceHash;

    /// <summary>The full schedule trace, when <see cref="MachineOptions.RecordTrace"/> is set on the deterministic engine.</summary>
    public string? TraceText => (Engine as DeterministicEngine)?.TraceText;

    /// <summary>Scheduling decisions taken by the engine so far.</summary>
    public long SchedulingDecisions => Engine.Decisions;

    /// <summary>Every task created, in creation order.</summary>
    public IReadOnlyList<TaskStruct> Tasks
    {
        get
        {
            _bookkeeping.Lock();
            try
            {
                return [.. _tasks];
            }
            finally
            {
                _bookkeeping.Unlock();
            }
        }
    }

    /// <summary>Nanoseconds per jiffy (1e9 / HZ).</summary>
    public long JiffyNs { get; }

    /// <summary>The time now, in ns since start: the current CPU's clock, or the engine's when called from outside.</summary>
    public long NowNs => Current.TaskOrNull is { } t && t.Machine == this ? Engine.Now(t.Cpu!) : Engine.GlobalNow();

    /// <summary>jiffies.</summary>
    public ulong Jiffies => (ulong)(NowNs / JiffyNs);

    internal Engine Engine { get; }

    /// <summary>The CPUs as an array, for loops on the engine's hot path (no enumerator allocation).</summary>
    internal Cpu[] CpuArray { get; }

    internal bool LockdepActive => Options.Lockdep != LockdepMode.Off;

    internal int UserTasksLeft => Volatile.Read(ref _liveUserTasks);

    // ---------------- tasks ----------------

    /// <summary>Creates a user task that runs <paramref name="body"/>, bound to <paramref name="cpu"/> or free; a run lasts until every user task exits.</summary>
    /// <remarks>Context: Any context, or outside the machine before <see cref="Run"/>.</remarks>
    public TaskStruct Spawn(string name, Action body, int? cpu = null) => CreateTask(name, TaskKind.User, cpu, body);

    /// <summary>Creates and starts a kernel thread (kthread_run()); kernel threads do not keep a run alive.</summary>
    /// <remarks>Kernel: kthread_run(), kthread_bind(). Context: Any context.</remarks>
    public TaskStruct KthreadRun(string name, Action body, int? cpu = null) => CreateTask(name, TaskKind.KernelThread, cpu, body);

    /// <summary>Runs the machine: <paramref name="init"/> starts as the first user task on CPU 0,
    /// with every task spawned before; returns when all user tasks have exited.</summary>
    /// <exception cref="MachineFailedException">A task failed, a report was fatal, or the machine deadlocked; the message names the seed.</exception>
    public void Run(Action init)
    {
        ArgumentNullException.ThrowIfNull(init);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Interlocked.Exchange(ref _runState, 1) != 0)
        {
            throw new InvalidOperationException("a machine runs once: create a new machine for another run");
        }

        _init = NewTask("init", TaskKind.User, null, init);
        Interlocked.Increment(ref _liveUserTasks);
        try
        {
            Engine.Run(_init);
        }
        catch (Exception ex) when (ex is not MachineFailedException)
        {
            throw new MachineFailedException(FailureHeader() + ex.Message, ex);
        }
    }

    /// <summary>Makes the calling thread a kernel thread on <paramref name="cpu"/> of a real-engine
    /// machine that is not running, until the returned scope is disposed; for benchmarks that time
    /// runtime primitives on BenchmarkDotNet's own thread. Interrupts and sleeping are not available.</summary>
    internal AdoptedThread AdoptCurrentThread(string name, int cpu = 0)
    {
        var t = NewTask(name, TaskKind.KernelThread, cpu, static () => { });
        Engine.Adopt(t, Cpus[cpu]);
        return new AdoptedThread(this, t);
    }

    internal sealed class AdoptedThread(Machine machine, TaskStruct task) : IDisposable
    {
        public TaskStruct Task { get; } = task;

        public void Dispose() => machine.Engine.Release(Task);
    }

    /// <summary>Sleeps the current task (schedule()): checks it is allowed to, tells workqueue
    /// concurrency management, and lets the engine run something else.</summary>
    internal void Schedule(TaskStruct t)
    {
        var cpu = t.Cpu!;
        if (t.RcuReadDepth != 0 && cpu.PreemptCountValue == 0 && !cpu.HardirqsOff)
        {
            // Preemptible RCU allows preemption in a read-side section, never a voluntary sleep.
            var rcu = new StringBuilder();
            rcu.Append("=============================\nWARNING: suspicious RCU usage\n").Append(KernelRelease).Append(" #1 Not tainted\n-----------------------------\n");
            rcu.Append("Voluntary context switch within RCU read-side critical section!\n\nother info that might help us debug this:\n\n");
            rcu.Append("rcu_scheduler_active = 2, debug_locks = 1\n");
            Lockdep.AppendHeldLocks(rcu, t);
            Lockdep.AppendBacktrace(rcu, t, cpu);
            Report(ReportKind.Lockdep, rcu.ToString());
        }

        if (cpu.PreemptCountValue != 0 || cpu.HardirqsOff)
        {
            var sb = new StringBuilder();
            sb.Append("BUG: scheduling while atomic: ").Append(t.Comm).Append('/').Append(t.Pid).Append("/0x")
                .Append(cpu.PreemptCountValue.ToString("x8", System.Globalization.CultureInfo.InvariantCulture)).Append('\n');
            Lockdep.AppendHeldLocks(sb, t);
            Lockdep.AppendBacktrace(sb, t, cpu);
            Report(ReportKind.SleepInAtomic, sb.ToString());
            throw new KernelBugException(sb.ToString());
        }

        t.Worker?.Sleeping();
        Engine.Sleep(t);
        t.Worker?.Waking();
    }

    /// <summary>Entry point of every task's thread.</summary>
    internal void TaskMain(TaskStruct t)
    {
        Current.Set(t);
        try
        {
            if (t.Kind == TaskKind.Idle)
            {
                IdleLoop(t);
                return;
            }

            if (t == _init)
            {
                WakeStashed();
            }

            t.RunBody();
            if (LockdepActive)
            {
                Lockdep.CheckExit(t);
            }

            if (t.Cpu!.PreemptCountValue != 0 || t.Cpu.HardirqsOff)
            {
                Bug.Fail($"{t} exited with preempt_count {t.Cpu.PreemptCountValue:x} and irqs {(t.Cpu.HardirqsOff ? "off" : "on")}");
            }
        }
        catch (TaskKilledException)
        {
            return;
        }
        catch (Exception ex)
        {
            t.Failure = ex;
            Engine.Fail(new MachineFailedException($"{FailureHeader()}task {t} failed: {ex.Message}", ex));
            return;
        }

        try
        {
            t.Exited = true;
            t.SignalExit();
            Engine.Exit(t);
        }
        catch (TaskKilledException)
        {
        }
        catch (Exception ex)
        {
            Engine.Fail(new MachineFailedException($"{FailureHeader()}task {t} failed while exiting: {ex.Message}", ex));
        }
    }

    internal bool UserTaskExited() => Interlocked.Decrement(ref _liveUserTasks) == 0;

    internal Cpu FirstOnlineCpu()
    {
        foreach (var c in Cpus)
        {
            if (c.IsOnline)
            {
                return c;
            }
        }

        throw new KernelBugException("no CPU is online");
    }

    private TaskStruct CreateTask(string name, TaskKind kind, int? cpu, Action body)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(body);
        if (cpu is int c)
        {
            CheckCpu(c);
        }

        var t = NewTask(name, kind, cpu, body);
        if (kind == TaskKind.User)
        {
            Interlocked.Increment(ref _liveUserTasks);
        }

        var caller = Current.TaskOrNull;
        if (caller is not null && caller.Machine == this)
        {
            Engine.Wake(t);
        }
        else
        {
            Bug.On(Volatile.Read(ref _runState) != 0, "tasks can only be created from outside the machine before Run()");
            _bookkeeping.Lock();
            _stashed.Add(t);
            _bookkeeping.Unlock();
        }

        return t;
    }

    private TaskStruct NewTask(string name, TaskKind kind, int? cpu, Action body)
    {
        _bookkeeping.Lock();
        try
        {
            var t = new TaskStruct(this, _nextPid++, name, kind, cpu, body);
            _tasks.Add(t);
            return t;
        }
        finally
        {
            _bookkeeping.Unlock();
        }
    }

    private void WakeStashed()
    {
        _bookkeeping.Lock();
        var list = _stashed.ToArray();
        _stashed.Clear();
        _bookkeeping.Unlock();
        foreach (var t in list)
        {
            Engine.Wake(t);
        }
    }

    private void IdleLoop(TaskStruct idle)
    {
        while (true)
        {
            // Wait first: the engine resumes the idle task only when its CPU has work, and marks it running.
            Engine.IdleWait(idle);
            var cpu = idle.Cpu!;
            if (cpu.HasPendingIrq)
            {
                cpu.HandleIrqs(idle);
            }

            if (cpu.SoftirqPendingMask != 0)
            {
                cpu.DoSoftirq(idle);
            }

            if (cpu.RunQueue.Count > 0)
            {
                Engine.Preempt(idle);
            }
        }
    }

    // ---------------- interrupts and softirqs ----------------

    /// <summary>Raises a hardware interrupt on <paramref name="cpu"/>: <paramref name="handler"/>
    /// runs there in hardirq context, nested on whatever the CPU runs, at its next primitive with
    /// interrupts enabled (at once if it idles). An offline CPU's interrupts go to an online one,
    /// as irq affinity is migrated when a CPU goes down.</summary>
    /// <remarks>Context: Any context, including device code running outside any task.</remarks>
    public void RaiseIrq(int cpu, string name, Action handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        RaiseIrqAt(cpu, name, handler, NowNs);
    }

    /// <summary>Raises an interrupt on <paramref name="cpu"/> after <paramref name="delayNs"/>
    /// nanoseconds, as a device does when it completes a request: virtual time on the deterministic
    /// engine, the host clock on the real one.</summary>
    /// <remarks>Context: Any context.</remarks>
    public void RaiseIrqIn(long delayNs, int cpu, string name, Action handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentOutOfRangeException.ThrowIfNegative(delayNs);
        Engine.AddEvent(NowNs + delayNs, at => RaiseIrqAt(cpu, name, handler, at));
    }

    internal void RaiseIrqAt(int cpu, string name, Action handler, long atNs)
    {
        CheckCpu(cpu);

        var target = Cpus[cpu];
        if (!target.IsOnline)
        {
            target = FirstOnlineCpu();
        }

        target.EnqueueIrq(new PendingIrq(name, handler, atNs));
        Engine.Kick(target);
    }

    /// <summary>Registers the handler of a softirq vector (open_softirq()).</summary>
    public void OpenSoftirq(Softirq nr, Action<Cpu> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        _softirqs[(int)nr] = handler;
    }

    /// <summary>Marks a softirq pending on the current CPU; it runs at irq exit, on local_bh_enable(), or at the next primitive.</summary>
    /// <remarks>Kernel: raise_softirq(). Context: Any context.</remarks>
    public static void RaiseSoftirq(Softirq nr) => Current.Cpu.RaiseSoftirqBit(nr);

    internal Action<Cpu>? SoftirqHandler(Softirq nr) => _softirqs[(int)nr];

    // ---------------- reports ----------------

    /// <summary>Prints a report to the log and keeps it; in <see cref="LockdepMode.Fail"/> the run stops here.</summary>
    internal void Report(ReportKind kind, string text)
    {
        _bookkeeping.Lock();
        try
        {
            _reports.Add(new KernelReport(kind, text));
            _log.Append(text);
            if (!text.EndsWith('\n'))
            {
                _log.Append('\n');
            }
        }
        finally
        {
            _bookkeeping.Unlock();
        }

        if (Options.Lockdep == LockdepMode.Fail && kind != ReportKind.Deadlock)
        {
            throw new KernelBugException(text);
        }
    }

    /// <summary>Appends a line to the kernel log (printk()).</summary>
    public void Printk(string line)
    {
        _bookkeeping.Lock();
        _log.Append('[').Append((NowNs / 1e9).ToString("0.000000", System.Globalization.CultureInfo.InvariantCulture).PadLeft(12)).Append("] ").Append(line).Append('\n');
        _bookkeeping.Unlock();
    }

    internal void Trace(Cpu cpu, TaskStruct t, string what, string detail) => Engine.Trace(cpu, t, what, detail);

    internal string DescribeDeadlock()
    {
        var sb = new StringBuilder();
        sb.Append("INFO: all CPUs idle or stuck with ").Append(UserTasksLeft).Append(" user task(s) unable to run: deadlock\n");
        foreach (var c in Cpus)
        {
            var t = c.Current;
            sb.Append("CPU#").Append(c.Id).Append(c.IsOnline ? "" : " (offline)").Append(": ").Append(t?.ToString() ?? "-");
            if (t?.RunState == TaskRunState.Spinning && t.SpinningOn is { } l)
            {
                sb.Append(" spinning on ").Append(l.Key.Name).Append(" held by CPU#").Append(l.OwnerCpuId);
            }

            sb.Append('\n');
        }

        foreach (var t in Tasks)
        {
            if (t.RunState == TaskRunState.Sleeping)
            {
                sb.Append("task:").Append(t.Comm).Append(" state:D pid:").Append(t.Pid).Append(" waiting for ").Append(t.WaitingFor ?? "?").Append('\n');
                Lockdep.AppendHeldLocks(sb, t);
            }
        }

        return sb.ToString();
    }

    private string FailureHeader() =>
        $"machine run failed (engine {Options.Engine}, {Options.Cpus} CPUs, seed {Options.Seed}; replay with the same MachineOptions): ";

    /// <summary>Stops every task's thread.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Engine.Dispose();
    }
}
