using System.Threading;
namespace Writeback.Kernel;

/// <summary>Timers and jiffies (kernel/time/timer.c).</summary>
public sealed partial class Machine
{
    private TimerBase[]? _timerBases;

    private TimerBase BaseOf(int cpu)
    {
        var bases = _timerBases;
        if (bases is null)
        {
            bases = new TimerBase[Cpus.Count];
            for (var i = 0; i < bases.Length; i++)
            {
                bases[i] = new TimerBase();
            }

            _timerBases = bases;
        }

        return bases[cpu];
    }

    /// <summary>Arms or re-arms a timer to expire at <paramref name="expires"/> jiffies, on the current CPU
    /// (or its pinned CPU); returns whether it was pending.</summary>
    /// <remarks>Kernel: mod_timer(). Context: Any context. Takes and releases the timer base lock.</remarks>
    public bool ModTimer(TimerList timer, ulong expires)
    {
        ArgumentNullException.ThrowIfNull(timer);
        var cpu = timer.Pinned ? timer.Cpu : Current.TaskOrNull?.Cpu?.Id ?? 0;
        return Arm(timer, expires, cpu, pinned: timer.Pinned);
    }

    /// <summary>Arms a timer on a given CPU.</summary>
    /// <remarks>Kernel: add_timer_on(). Context: Any context.</remarks>
    public void AddTimerOn(TimerList timer, ulong expires, int cpu)
    {
        ArgumentNullException.ThrowIfNull(timer);
        Arm(timer, expires, cpu, pinned: true);
    }

    /// <summary>Disarms a timer; returns whether it was pending. The callback may still be running.</summary>
    /// <remarks>Kernel: timer_delete(). Context: Any context.</remarks>
    public bool DelTimer(TimerList timer)
    {
        ArgumentNullException.ThrowIfNull(timer);
        var b = BaseOf(timer.Cpu);
        var flags = b.Lock.LockIrqSave();
        var was = timer.IsPending;
        timer.IsPending = false;
        timer.Generation++;
        b.Lock.UnlockIrqRestore(flags);
        return was;
    }

    /// <summary>Disarms a timer and waits until its callback is not running anywhere.</summary>
    /// <remarks>Kernel: timer_delete_sync(). Context: Process context; not from the timer's own callback.</remarks>
    public bool DelTimerSync(TimerList timer)
    {
        var was = DelTimer(timer);
        while (timer.Running)
        {
            Context.Point();
        }

        return was;
    }

    private bool Arm(TimerList timer, ulong expires, int cpu, bool pinned)
    {
        if (!Cpus[cpu].IsOnline)
        {
            cpu = FirstOnlineCpu().Id;
        }

        // The timer may move between bases; take the old base's lock to disarm, the new one to arm.
        var oldBase = BaseOf(timer.Cpu);
        var flags = oldBase.Lock.LockIrqSave();
        var was = timer.IsPending;
        timer.IsPending = false;
        timer.Generation++;
        oldBase.Lock.UnlockIrqRestore(flags);

        var b = BaseOf(cpu);
        flags = b.Lock.LockIrqSave();
        timer.Cpu = cpu;
        timer.Pinned = pinned;
        timer.Expires = expires;
        timer.IsPending = true;
        var gen = ++timer.Generation;
        b.Lock.UnlockIrqRestore(flags);

        var due = Math.Max((long)expires * JiffyNs, NowNs);
        Engine.AddEvent(due, at => RaiseIrqAt(cpu, "local_timer", () => TimerInterrupt(timer, gen), at));
        return was;
    }

    private void TimerInterrupt(TimerList timer, long gen)
    {
        var cpu = Current.Cpu;
        var b = BaseOf(cpu.Id);
        b.Lock.Lock();
        b.Expired.Add((timer, gen));
        b.Lock.Unlock();
        cpu.RaiseSoftirqBit(Softirq.Timer);
    }

    private void RunTimerSoftirq(Cpu cpu)
    {
        var b = BaseOf(cpu.Id);
        var flags = b.Lock.LockIrqSave();
        var expired = b.Expired.ToArray();
        b.Expired.Clear();
        b.Lock.UnlockIrqRestore(flags);
        foreach (var (timer, gen) in expired)
        {
            // A timer re-armed or deleted since its interrupt fired has a new generation: skip it.
            var tb = BaseOf(timer.Cpu);
            flags = tb.Lock.LockIrqSave();
            var fire = timer.IsPending && timer.Generation == gen;
            if (fire)
            {
                timer.IsPending = false;
                timer.Running = true;
            }

            tb.Lock.UnlockIrqRestore(flags);
            if (!fire)
            {
                continue;
            }

            try
            {
                timer.Function(timer);
            }
            finally
            {
                timer.Running = false;
            }
        }
    }
}
