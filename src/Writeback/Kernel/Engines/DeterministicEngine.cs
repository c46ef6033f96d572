using System.Threading;
using System.Text;

namespace Writeback.Kernel.Engines;

/// <summary>Runs exactly one task at a time; at every primitive it picks the CPU whose virtual
/// clock is lowest (ties broken by a seeded generator) and hands that CPU's thread the baton.</summary>
/// <remarks>Same seed and options give the same schedule, the same trace hash and the same
/// numbers. Device and timer events fire when the lowest runnable clock passes their due time.
/// Every scheduling structure is touched only by the thread holding the baton, so none needs a lock.</remarks>
internal sealed class DeterministicEngine : Engine
{
    private readonly PriorityQueue<(long Due, long Seq, Action<long> Action), (long, long)> _events = new();
    private readonly ManualResetEventSlim _done = new(false);
    private readonly StringBuilder? _trace;
    private SplitMix64 _rng;
    private long _eventSeq;
    private ulong _hash = 14695981039346656037UL;
    private long _decisions;
    private Exception? _failure;
    private volatile bool _finished;

    public DeterministicEngine(Machine machine) : base(machine)
    {
        _rng = new SplitMix64(machine.Options.Seed);
        if (machine.Options.RecordTrace)
        {
            _trace = new StringBuilder();
        }
    }

    public override bool IsDeterministic => true;

    public override ulong TraceHash => _hash;

    public override long Decisions => _decisions;

    public string? TraceText => _trace?.ToString();

    public override long Now(Cpu cpu) => cpu.Clock;

    public override long GlobalNow()
    {
        var min = long.MaxValue;
        foreach (var c in Machine.CpuArray)
        {
            min = Math.Min(min, c.Clock);
        }

        return min;
    }

    public override void Charge(Cpu cpu, long ns)
    {
        var jitter = Machine.Options.Costs.JitterNs;
        cpu.Clock += ns + (jitter > 0 ? (long)_rng.NextBelow((ulong)jitter + 1) : 0);
    }

    public override bool IsDue(Cpu cpu, long raisedAtNs) => raisedAtNs <= cpu.Clock;

    public override void AdvanceTo(Cpu cpu, long ns) => cpu.Clock = Math.Max(cpu.Clock, ns);

    public override int Choose(int n) => (int)_rng.NextBelow((ulong)n);

    public override void Yield(TaskStruct current) => Reschedule(current, exiting: false, strict: false);

    public override void Run(TaskStruct init)
    {
        var cpu0 = Machine.Cpus[0];
        init.Cpu = cpu0;
        init.RunState = TaskRunState.Running;
        cpu0.Current = init;
        foreach (var c in Machine.CpuArray)
        {
            c.Idle.Cpu = c;
            c.Idle.RunState = TaskRunState.IdleWait;
            c.Current ??= c.Idle;
        }

        StartOrUnpark(init);
        _done.Wait();
        if (_failure is not null)
        {
            throw _failure;
        }
    }

    public override void Sleep(TaskStruct current)
    {
        if (current.WakePending)
        {
            current.WakePending = false;
            return;
        }

        var cpu = current.Cpu!;
        current.RunState = TaskRunState.Sleeping;
        Charge(cpu, Machine.Options.Costs.ContextSwitchNs);
        SwitchCpuTo(cpu, PickNext(cpu));
        Trace(cpu, current, "sleep", current.WaitingFor ?? string.Empty);
        Reschedule(current, exiting: false);
        current.WakePending = false;
    }

    public override void Wake(TaskStruct task)
    {
        if (task.RunState is TaskRunState.Sleeping or TaskRunState.New)
        {
            var waker = Current.TaskOrNull;
            var now = waker?.Cpu is { } wc ? wc.Clock : GlobalNow();
            if (waker?.Cpu is { } wakerCpu)
            {
                Charge(wakerCpu, Machine.Options.Costs.WakeupNs);
            }

            var cpu = SelectCpu(task);
            task.Cpu = cpu;
            if (cpu.Current is { RunState: TaskRunState.IdleWait } idle && idle == cpu.Idle)
            {
                cpu.Clock = Math.Max(cpu.Clock, now);
                task.RunState = TaskRunState.Running;
                SwitchCpuTo(cpu, task);
            }
            else
            {
                task.RunState = TaskRunState.Runnable;
                cpu.RunQueue.Enqueue(task);
                if (!cpu.IsIdle)
                {
                    cpu.NeedResched = true;
                }
            }

            Trace(cpu, task, "wake", string.Empty);
        }
        else if (task.RunState != TaskRunState.Dead)
        {
            task.WakePending = true;
        }
    }

    public override void Preempt(TaskStruct current)
    {
        var cpu = current.Cpu!;
        cpu.NeedResched = false;
        if (current.Kind == TaskKind.Idle)
        {
            if (cpu.RunQueue.Count > 0)
            {
                SwitchCpuTo(cpu, PickNext(cpu));
                Charge(cpu, Machine.Options.Costs.ContextSwitchNs);
                IdleWait(current);
            }

            return;
        }

        if (IsAllowedOn(current, cpu) && cpu.RunQueue.Count == 0)
        {
            return;
        }

        Charge(cpu, Machine.Options.Costs.ContextSwitchNs);

        current.RunState = TaskRunState.Runnable;
        var target = IsAllowedOn(current, cpu) ? cpu : SelectCpu(current);
        current.Cpu = target;
        target.RunQueue.Enqueue(current);
        if (target != cpu)
        {
            target.Clock = Math.Max(target.Clock, cpu.Clock);
        }

        SwitchCpuTo(cpu, PickNext(cpu));
        Trace(cpu, current, "preempt", string.Empty);
        Reschedule(current, exiting: false);
    }

    public override void Exit(TaskStruct current)
    {
        var cpu = current.Cpu!;
        current.RunState = TaskRunState.Dead;
        SwitchCpuTo(cpu, PickNext(cpu));
        Trace(cpu, current, "exit", string.Empty);
        if (current.Kind == TaskKind.User && Machine.UserTaskExited())
        {
            Finish(null);
            return;
        }

        Reschedule(current, exiting: true);
    }

    public override void SpinWait(TaskStruct current, SpinLock lockObj, int ticket)
    {
        current.RunState = TaskRunState.Spinning;
        current.SpinningOn = lockObj;
        current.SpinTicket = ticket;
        Charge(current.Cpu!, Machine.Options.Costs.SpinRetryNs);
        Reschedule(current, exiting: false);
        current.SpinningOn = null;
        current.RunState = TaskRunState.Running;
    }

    public override void IdleWait(TaskStruct idle)
    {
        idle.RunState = TaskRunState.IdleWait;
        Reschedule(idle, exiting: false);
        idle.RunState = TaskRunState.Running;
    }

    public override void EvacuateRunQueue(Cpu cpu)
    {
        while (cpu.RunQueue.Count > 0)
        {
            var t = cpu.RunQueue.Dequeue();
            t.RunState = TaskRunState.Sleeping;
            Wake(t);
        }
    }

    public override void Kick(Cpu cpu)
    {
        // Readiness is re-evaluated at every decision; nothing to do.
    }

    public override void AddEvent(long dueNs, Action<long> action) => _events.Enqueue((dueNs, _eventSeq, action), (dueNs, _eventSeq++));

    public override void Trace(Cpu cpu, TaskStruct task, string what, string detail)
    {
        Mix((ulong)cpu.Clock);
        Mix((ulong)cpu.Id);
        Mix((ulong)task.Pid);
        foreach (var ch in what)
        {
            Mix(ch);
        }

        _trace?.Append(cpu.Clock).Append(" cpu").Append(cpu.Id).Append(' ').Append(task.Comm).Append('/').Append(task.Pid)
            .Append(' ').Append(what).Append(' ').Append(detail).Append('\n');
    }

    public override void Fail(Exception failure) => Finish(failure);

    public override void Dispose()
    {
        _finished = true;
        KillThreads();
        _done.Set();
    }

    private void Mix(ulong v)
    {
        _hash ^= v;
        _hash *= 1099511628211UL;
    }

    private static void SwitchCpuTo(Cpu cpu, TaskStruct next)
    {
        if (cpu.Current != next)
        {
            cpu.ContextSwitches++;
            next.ContextSwitches++;
            cpu.Current = next;
            next.SliceStartNs = cpu.Clock;
        }
    }

    private void Finish(Exception? failure)
    {
        if (_finished)
        {
            return;
        }

        _failure ??= failure;
        _finished = true;
        _done.Set();
    }

    /// <summary>Picks what runs next and passes the baton; returns when <paramref name="current"/> runs again.</summary>
    /// <remarks>At a yield the current CPU may run ahead of the lowest other clock by up to the
    /// quantum, which saves thread switches; every other decision (sleep, spin, exit) and every
    /// decision with a zero quantum runs the CPU with the lowest clock.</remarks>
    private void Reschedule(TaskStruct current, bool exiting, bool strict = true)
    {
        while (true)
        {
            if (_finished)
            {
                if (exiting)
                {
                    return;
                }

                current.Parker.Park();
                throw new TaskKilledException();
            }

            _decisions++;
            var quantum = strict ? 0 : Machine.Options.QuantumNs;
            var mine = current.Cpu;
            var myClock = !exiting && quantum > 0 && mine is not null && mine.Current == current ? ReadyClock(mine) : -1;
            Cpu? best = null;
            var bestClock = long.MaxValue;
            var ties = 0;
            foreach (var cpu in Machine.CpuArray)
            {
                if (myClock >= 0 && cpu == mine)
                {
                    continue;
                }

                var eff = ReadyClock(cpu);
                if (eff < 0)
                {
                    continue;
                }

                if (eff < bestClock)
                {
                    best = cpu;
                    bestClock = eff;
                    ties = 1;
                }
                else if (eff == bestClock)
                {
                    // Reservoir choice among equal clocks, seeded.
                    ties++;
                    if (_rng.NextBelow((ulong)ties) == 0)
                    {
                        best = cpu;
                    }
                }
            }

            if (myClock >= 0 && (best is null || myClock <= bestClock + quantum))
            {
                // Within the quantum: keep running here.
                best = mine;
                bestClock = myClock;
            }

            if (_events.TryPeek(out var ev, out _) && (best is null || ev.Due <= bestClock))
            {
                _events.Dequeue();
                ev.Action(ev.Due);
                continue;
            }

            if (best is null)
            {
                Finish(Machine.UserTasksLeft == 0 ? null : new KernelBugException(Machine.DescribeDeadlock()));
                continue;
            }

            best.Clock = bestClock;
            var target = best.Current!;
            Mix((ulong)best.Id);
            if (target == current)
            {
                return;
            }

            StartOrUnpark(target);
            if (exiting)
            {
                return;
            }

            current.Parker.Park();
            return;
        }
    }

    /// <summary>The clock at which the CPU could run now, or -1 when nothing on it can run.</summary>
    private static long ReadyClock(Cpu cpu)
    {
        var t = cpu.Current;
        if (t is null)
        {
            return -1;
        }

        switch (t.RunState)
        {
            case TaskRunState.Running:
                return cpu.Clock;
            case TaskRunState.Spinning:
                var l = t.SpinningOn!;
                var ready = -1L;
                if (l.ServingTicket == t.SpinTicket)
                {
                    ready = Math.Max(cpu.Clock, l.ReleasedAtNs);
                }

                if (!cpu.HardirqsOff && cpu.HardirqCount == 0 && cpu.TryPeekIrq(out var irq))
                {
                    var at = Math.Max(cpu.Clock, irq.RaisedAtNs);
                    ready = ready < 0 ? at : Math.Min(ready, at);
                }

                return ready;
            case TaskRunState.IdleWait:
                if (cpu.RunQueue.Count > 0 || cpu.SoftirqPendingMask != 0)
                {
                    return cpu.Clock;
                }

                return cpu.TryPeekIrq(out var pending) ? Math.Max(cpu.Clock, pending.RaisedAtNs) : -1;
            default:
                return -1;
        }
    }

}
