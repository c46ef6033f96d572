using System.Threading;
namespace Writeback.Kernel;

/// <summary>CPU hotplug (kernel/cpu.c): registered states and the offline/online state machine.</summary>
/// <remarks>Offline, in the kernel's order: the AP states' teardown (down-prep) callbacks run on
/// the outgoing CPU while it is still online, latest registered first, ending with the
/// workqueue's own (its pool loses its binding); the CPU is marked offline and its tasks,
/// pending interrupts and softirqs move to online CPUs; then the BP states' teardown (dead)
/// callbacks run on the controlling CPU. Online runs the mirror image. Model: tasks running on
/// the outgoing CPU move at their next preemption point rather than by a stop-machine.</remarks>
public sealed partial class Machine
{
    private readonly List<CpuHpState> _hpStates = [];
    private TaskStruct?[]? _cpuhpThreads;
    private CpuhpRequest?[]? _cpuhpRequests;
    private Mutex? _hotplugLock;

    /// <summary>Registered hotplug states, in registration order.</summary>
    public IReadOnlyList<CpuHpState> HotplugStates
    {
        get
        {
            _bookkeeping.Lock();
            try
            {
                return [.. _hpStates];
            }
            finally
            {
                _bookkeeping.Unlock();
            }
        }
    }

    private void InitHotplug()
    {
        // The workqueue's state (CPUHP_AP_WORKQUEUE_ONLINE) precedes every dynamic AP state, so
        // its teardown runs after theirs on the way down and its startup before theirs on the way up.
        _hpStates.Add(new CpuHpState("workqueue:online", CpuHpPhase.ApOnlineDyn, WorkqueueOnlineCpu, WorkqueueOfflineCpu));
    }

    /// <summary>Registers a state and runs its startup callback for every online CPU.</summary>
    /// <remarks>Kernel: cpuhp_setup_state(). Context: Process context. May sleep.</remarks>
    public CpuHpState CpuhpSetupState(CpuHpPhase phase, string name, Action<int>? startup, Action<int>? teardown)
    {
        var state = CpuhpSetupStateNocalls(phase, name, startup, teardown);
        if (startup is not null)
        {
            HotplugLock.Lock();
            try
            {
                foreach (var cpu in Cpus)
                {
                    if (cpu.IsOnline)
                    {
                        RunCallback(state, startup, cpu.Id);
                    }
                }
            }
            finally
            {
                HotplugLock.Unlock();
            }
        }

        return state;
    }

    /// <summary>Registers a state without calling its startup callback.</summary>
    /// <remarks>Kernel: cpuhp_setup_state_nocalls(). Context: Any context.</remarks>
    public CpuHpState CpuhpSetupStateNocalls(CpuHpPhase phase, string name, Action<int>? startup, Action<int>? teardown)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var state = new CpuHpState(name, phase, startup, teardown);
        _bookkeeping.Lock();
        _hpStates.Add(state);
        _bookkeeping.Unlock();
        return state;
    }

    /// <summary>Takes a CPU offline.</summary>
    /// <remarks>Kernel: remove_cpu(). Context: Process context. May sleep.</remarks>
    /// <exception cref="InvalidOperationException">The CPU is already offline or is the last online CPU (the kernel's -EBUSY).</exception>
    public void CpuDown(int cpu)
    {
        CheckCpu(cpu);
        HotplugLock.Lock();
        try
        {
            var c = Cpus[cpu];
            if (!c.IsOnline)
            {
                throw new InvalidOperationException($"CPU {cpu} is already offline");
            }

            if (Cpus.Count(x => x.IsOnline) == 1)
            {
                throw new InvalidOperationException($"CPU {cpu} is the last online CPU and cannot go offline (EBUSY)");
            }

            var states = HotplugStates;
            for (var i = states.Count - 1; i >= 0; i--)
            {
                if (states[i] is { Phase: CpuHpPhase.ApOnlineDyn, Teardown: { } down })
                {
                    RunCallback(states[i], down, cpu);
                }
            }

            TakeDown(c);

            for (var i = states.Count - 1; i >= 0; i--)
            {
                if (states[i] is { Phase: CpuHpPhase.BpPrepareDyn, Teardown: { } dead })
                {
                    dead(cpu);
                }
            }

            Printk($"smpboot: CPU {cpu} is now offline");
        }
        finally
        {
            HotplugLock.Unlock();
        }
    }

    /// <summary>Brings a CPU online.</summary>
    /// <remarks>Kernel: add_cpu(). Context: Process context. May sleep.</remarks>
    /// <exception cref="InvalidOperationException">The CPU is already online.</exception>
    public void CpuUp(int cpu)
    {
        CheckCpu(cpu);
        HotplugLock.Lock();
        try
        {
            var c = Cpus[cpu];
            if (c.IsOnline)
            {
                throw new InvalidOperationException($"CPU {cpu} is already online");
            }

            var states = HotplugStates;
            foreach (var s in states)
            {
                if (s is { Phase: CpuHpPhase.BpPrepareDyn, Startup: { } prepare })
                {
                    prepare(cpu);
                }
            }

            c.Clock = Math.Max(c.Clock, Current.Cpu.Clock);
            c.IsOnline = true;
            foreach (var s in states)
            {
                if (s is { Phase: CpuHpPhase.ApOnlineDyn, Startup: { } online })
                {
                    RunCallback(s, online, cpu);
                }
            }

            Printk($"smpboot: Booting Node 0 Processor {cpu}");
        }
        finally
        {
            HotplugLock.Unlock();
        }
    }

    /// <summary>Sleeps for at least <paramref name="ms"/> milliseconds (rounded up to jiffies).</summary>
    /// <remarks>Kernel: msleep(). Context: Process context. May sleep.</remarks>
    public void Msleep(int ms)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ms);
        var jiffies = (ulong)Math.Max(1, ((long)ms * 1_000_000 + JiffyNs - 1) / JiffyNs);
        ScheduleTimeout(jiffies + 1);
    }

    /// <summary>Sleeps for <paramref name="jiffies"/> jiffies.</summary>
    /// <remarks>Kernel: schedule_timeout_uninterruptible(). Context: Process context. May sleep.</remarks>
    public void ScheduleTimeout(ulong jiffies)
    {
        Context.MightSleep();
        var t = Current.Task;
        var expired = false;
        var timer = new TimerList(_ =>
        {
            expired = true;
            Engine.Wake(t);
        });
        t.WakePending = false;
        ModTimer(timer, Jiffies + jiffies);
        while (!Volatile.Read(ref expired))
        {
            t.WaitingFor = "schedule_timeout";
            Schedule(t);
        }

        t.WaitingFor = null;
    }

    private Mutex HotplugLock => _hotplugLock ??= new Mutex(LockClassKey.ForName("cpu_add_remove_lock"));

    /// <summary>Throws naming the CPU when it does not exist on this machine.</summary>
    private void CheckCpu(int cpu)
    {
        if (cpu < 0 || cpu >= Cpus.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(cpu), cpu, $"CPU {cpu} does not exist on a {Cpus.Count}-CPU machine");
        }
    }

    private void TakeDown(Cpu c)
    {
        c.IsOnline = false;

        // Runnable tasks move now; the running one moves at its next preemption point.
        c.NeedResched = true;
        Engine.EvacuateRunQueue(c);
        while (!c.IsIdle || c.RunQueue.Count > 0)
        {
            c.NeedResched = true;
            Msleep(1);
        }

        // Interrupt affinity and pending softirqs move to an online CPU.
        var target = FirstOnlineCpu();
        foreach (var irq in c.DrainIrqs())
        {
            target.EnqueueIrq(irq);
            Engine.Kick(target);
        }

        var pending = c.TakeSoftirqs();
        for (var nr = 0; nr < 10; nr++)
        {
            if ((pending & (1 << nr)) != 0)
            {
                target.RaiseSoftirqBit((Softirq)nr);
            }
        }
    }

    /// <summary>Runs an AP callback on the CPU itself, through its cpuhp/N thread, and waits.</summary>
    private void RunCallback(CpuHpState state, Action<int> callback, int cpu)
    {
        if (state.Phase == CpuHpPhase.BpPrepareDyn)
        {
            callback(cpu);
            return;
        }

        _cpuhpThreads ??= new TaskStruct?[Cpus.Count];
        _cpuhpRequests ??= new CpuhpRequest?[Cpus.Count];
        var request = new CpuhpRequest(callback, cpu);
        Volatile.Write(ref _cpuhpRequests[cpu], request);
        var thread = _cpuhpThreads[cpu];
        if (thread is null)
        {
            _cpuhpThreads[cpu] = KthreadRun($"cpuhp/{cpu}", () => CpuhpThread(cpu), cpu);
        }
        else
        {
            Engine.Wake(thread);
        }

        request.Done.WaitForCompletion();
        if (request.Error is { } error)
        {
            throw new KernelBugException($"cpuhp/{cpu}: callback {state.Name} failed: {error.Message}", error);
        }
    }

    private void CpuhpThread(int cpu)
    {
        var t = Current.Task;
        while (true)
        {
            // Clear the wake flag before looking, so that a request posted after the look wakes us.
            t.WakePending = false;
            var request = Interlocked.Exchange(ref _cpuhpRequests![cpu], null);
            if (request is null)
            {
                t.WaitingFor = "cpuhp request";
                Schedule(t);
                continue;
            }

            try
            {
                request.Callback(request.Cpu);
            }
            catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
            {
                request.Error = ex;
            }

            request.Done.Complete();
        }
    }

    /// <summary>One callback for a cpuhp/N thread to run, and its result.</summary>
    private sealed class CpuhpRequest(Action<int> callback, int cpu)
    {
        public Action<int> Callback { get; } = callback;

        public int Cpu { get; } = cpu;

        public Completion Done { get; } = new();

        public Exception? Error { get; set; }
    }
}
