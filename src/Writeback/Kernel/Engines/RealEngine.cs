using System.Threading;
using System.Diagnostics;

namespace Writeback.Kernel.Engines;

/// <summary>Runs every simulated CPU's current task on its own OS thread, in parallel, with
/// the host's monotonic clock as time.</summary>
/// <remarks>A simulated CPU still runs one task at a time: switching tasks on a CPU passes that
/// CPU's baton under one scheduler lock. Lock hold times and latencies measured here are real
/// measurements of this code on this host: honest but noisy, and CPUs beyond the host's cores
/// share cores.</remarks>
internal sealed class RealEngine : Engine
{
    private readonly Lock _sched = new();
    private readonly Lock _eventsLock = new();
    private readonly PriorityQueue<(long Due, Action<long> Action), (long, long)> _events = new();
    private readonly SemaphoreSlim _eventSignal = new(0, int.MaxValue);
    private readonly ManualResetEventSlim _done = new(false);
    private readonly long _t0 = Stopwatch.GetTimestamp();
    private readonly double _nsPerTick = 1e9 / Stopwatch.Frequency;
    private Thread? _timerThread;
    private long _eventSeq;
    private long _decisions;
    private int _rr;
    private ulong _hash = 14695981039346656037UL;
    private Exception? _failure;
    private volatile bool _finished;

    public RealEngine(Machine machine) : base(machine)
    {
    }

    public override bool IsDeterministic => false;

    public override ulong TraceHash => _hash;

    public override long Decisions => Interlocked.Read(ref _decisions);

    public override long Now(Cpu cpu) => GlobalNow();

    public override long GlobalNow() => (long)((Stopwatch.GetTimestamp() - _t0) * _nsPerTick);

    public override void Charge(Cpu cpu, long ns)
    {
    }

    public override void Yield(TaskStruct current)
    {
        if (_finished)
        {
            throw new TaskKilledException();
        }
    }

    public override bool IsDue(Cpu cpu, long raisedAtNs) => true;

    public override int Choose(int n) => (int)((uint)Interlocked.Increment(ref _rr) % (uint)n);

    public override void Run(TaskStruct init)
    {
        lock (_sched)
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
        }

        _timerThread = new Thread(TimerLoop) { IsBackground = true, Name = "wb-timer" };
        _timerThread.Start();
        _done.Wait();
        if (_failure is not null)
        {
            throw _failure;
        }
    }

    public override void Sleep(TaskStruct current)
    {
        lock (_sched)
        {
            if (current.WakePending)
            {
                current.WakePending = false;
                return;
            }

            var cpu = current.Cpu!;
            current.RunState = TaskRunState.Sleeping;
            SwitchCpuTo(cpu, PickNext(cpu));
        }

        ParkUntilRunning(current);
        current.WakePending = false;
    }

    public override void Wake(TaskStruct task)
    {
        lock (_sched)
        {
            if (task.RunState is TaskRunState.Sleeping or TaskRunState.New)
            {
                var cpu = SelectCpu(task);
                task.Cpu = cpu;
                if (cpu.Current == cpu.Idle && cpu.Idle.RunState == TaskRunState.IdleWait)
                {
                    task.RunState = TaskRunState.Running;
                    SwitchCpuTo(cpu, task);
                }
                else
                {
                    task.RunState = TaskRunState.Runnable;
                    cpu.RunQueue.Enqueue(task);
                    if (cpu.IsIdle)
                    {
                        cpu.Idle.Parker.Unpark();
                    }
                    else
                    {
                        cpu.NeedResched = true;
                    }
                }
            }
            else if (task.RunState != TaskRunState.Dead)
            {
                task.WakePending = true;
            }
        }
    }

    public override void Preempt(TaskStruct current)
    {
        lock (_sched)
        {
            var cpu = current.Cpu!;
            cpu.NeedResched = false;
            if (current.Kind == TaskKind.Idle)
            {
                if (cpu.RunQueue.Count == 0)
                {
                    return;
                }

                current.RunState = TaskRunState.IdleWait;
                SwitchCpuTo(cpu, PickNext(cpu));
            }
            else
            {
                if (IsAllowedOn(current, cpu) && cpu.RunQueue.Count == 0)
                {
                    return;
                }

                current.RunState = TaskRunState.Runnable;
                var target = IsAllowedOn(current, cpu) ? cpu : SelectCpu(current);
                current.Cpu = target;
                target.RunQueue.Enqueue(current);
                if (target != cpu && target.IsIdle)
                {
                    target.Idle.Parker.Unpark();
                }

                SwitchCpuTo(cpu, PickNext(cpu));
            }
        }

        if (current.Kind == TaskKind.Idle)
        {
            IdleWait(current);
        }
        else
        {
            ParkUntilRunning(current);
        }
    }

    public override void Exit(TaskStruct current)
    {
        lock (_sched)
        {
            var cpu = current.Cpu!;
            current.RunState = TaskRunState.Dead;
            SwitchCpuTo(cpu, PickNext(cpu));
        }

        if (current.Kind == TaskKind.User && Machine.UserTaskExited())
        {
            Finish(null);
        }
    }

    public override void SpinWait(TaskStruct current, SpinLock lockObj, int ticket)
    {
        var cpu = current.Cpu!;
        var spinner = default(System.Threading.SpinWait);
        var start = Stopwatch.GetTimestamp();
        var timeout = Machine.Options.SpinLockupTimeout;
        while (lockObj.ServingTicket != ticket)
        {
            if (!cpu.HardirqsOff && cpu.HardirqCount == 0 && cpu.HasPendingIrq)
            {
                return;
            }

            if (_finished)
            {
                throw new TaskKilledException();
            }

            spinner.SpinOnce();
            if (spinner.Count % 1024 == 0 && Stopwatch.GetElapsedTime(start) > timeout)
            {
                throw new KernelBugException(
                    $"watchdog: BUG: soft lockup - CPU#{cpu.Id} stuck for {timeout.TotalSeconds:0}s! [{current}]\n" +
                    $"spinning on {lockObj.Class.Name} held by CPU#{lockObj.OwnerCpuId}");
            }
        }
    }

    public override void IdleWait(TaskStruct idle)
    {
        var cpu = idle.Cpu!;
        while (true)
        {
            lock (_sched)
            {
                if (cpu.Current == idle && IdleHasWork(cpu))
                {
                    idle.RunState = TaskRunState.Running;
                    return;
                }

                idle.RunState = TaskRunState.IdleWait;
            }

            idle.Parker.Park();
        }
    }

    public override void Adopt(TaskStruct task, Cpu cpu)
    {
        lock (_sched)
        {
            if (cpu.Current != cpu.Idle || cpu.Idle.Thread is not null)
            {
                throw new InvalidOperationException($"CPU {cpu.Id} is in use: adopt a thread only on a machine that is not running");
            }

            task.Cpu = cpu;
            task.RunState = TaskRunState.Running;
            cpu.Current = task;
        }

        Current.Set(task);
    }

    public override void Release(TaskStruct task)
    {
        lock (_sched)
        {
            var cpu = task.Cpu!;
            task.RunState = TaskRunState.Dead;
            task.Exited = true;
            cpu.Current = cpu.Idle;
        }

        Current.Set(null);
    }

    public override void EvacuateRunQueue(Cpu cpu)
    {
        lock (_sched)
        {
            while (cpu.RunQueue.Count > 0)
            {
                var t = cpu.RunQueue.Dequeue();
                t.RunState = TaskRunState.Sleeping;
                Wake(t);
            }
        }
    }

    public override void Kick(Cpu cpu)
    {
        lock (_sched)
        {
            if (cpu.Current == cpu.Idle)
            {
                StartOrUnpark(cpu.Idle);
            }
        }
    }

    public override void AddEvent(long dueNs, Action<long> action)
    {
        lock (_eventsLock)
        {
            _events.Enqueue((dueNs, action), (dueNs, _eventSeq++));
        }

        _eventSignal.Release();
    }

    public override void Trace(Cpu cpu, TaskStruct task, string what, string detail)
    {
        // The real engine's schedule is not reproducible; only count events.
        Interlocked.Increment(ref _decisions);
    }

    public override void Fail(Exception failure) => Finish(failure);

    public override void Dispose()
    {
        Finish(null);
        _eventSignal.Release();
    }

    private void Finish(Exception? failure)
    {
        lock (_sched)
        {
            if (_finished)
            {
                return;
            }

            _failure ??= failure;
            _finished = true;
            KillThreads();
        }

        _hash ^= (ulong)Decisions;
        _done.Set();
        _eventSignal.Release();
    }

    private void SwitchCpuTo(Cpu cpu, TaskStruct next)
    {
        if (cpu.Current != next)
        {
            cpu.ContextSwitches++;
            next.ContextSwitches++;
            cpu.Current = next;
            next.SliceStartNs = GlobalNow();
        }

        StartOrUnpark(next);
    }

    private void ParkUntilRunning(TaskStruct current)
    {
        while (true)
        {
            lock (_sched)
            {
                if (current.RunState == TaskRunState.Running && current.Cpu!.Current == current)
                {
                    return;
                }
            }

            current.Parker.Park();
        }
    }


    private void TimerLoop()
    {
        while (!_finished)
        {
            (long Due, Action<long> Action) next;
            bool have;
            var wait = 0L;

            // Peek and take under one hold of the lock: an earlier event added meanwhile must not
            // be taken in place of the one that was found due (which would then run twice).
            lock (_eventsLock)
            {
                have = _events.TryPeek(out next, out _);
                if (have)
                {
                    wait = next.Due - GlobalNow();
                    if (wait <= 0)
                    {
                        _events.Dequeue();
                    }
                }
            }

            if (!have)
            {
                _eventSignal.Wait();
                continue;
            }

            if (wait > 0)
            {
                _eventSignal.Wait(TimeSpan.FromTicks(Math.Max(1, wait / 100)));
                continue;
            }

            try
            {
                next.Action(next.Due);
            }
            catch (Exception ex) when (ex is not TaskKilledException)
            {
                Fail(ex);
            }
        }
    }
}
