using System.Runtime.CompilerServices;
using static Writeback.Kernel.PreemptCount;

namespace Writeback.Kernel;

/// <summary>The execution-context API of the current CPU: predicates, interrupt and bottom-half
/// control, preemption control, might_sleep and cond_resched.</summary>
/// <remarks>Kernel: include/linux/preempt.h, irqflags.h, bottom_half.h, kernel/sched/core.c.
/// Outside a machine (plain .NET code) the predicates describe ordinary task context and the
/// control calls do nothing, so that library types such as the XArray work on their own.</remarks>
public static class Context
{
    /// <summary>in_task().</summary>
    public static bool InTask => Current.TaskOrNull?.Cpu?.InTask ?? true;

    /// <summary>in_interrupt().</summary>
    public static bool InInterrupt => Current.TaskOrNull?.Cpu?.InInterrupt ?? false;

    /// <summary>in_softirq() (serving a softirq or bottom halves disabled).</summary>
    public static bool InSoftirq => Current.TaskOrNull?.Cpu?.InSoftirq ?? false;

    /// <summary>in_serving_softirq().</summary>
    public static bool InServingSoftirq => Current.TaskOrNull?.Cpu?.InServingSoftirq ?? false;

    /// <summary>in_hardirq().</summary>
    public static bool InHardirq => Current.TaskOrNull?.Cpu?.InHardirq ?? false;

    /// <summary>in_atomic().</summary>
    public static bool InAtomic => Current.TaskOrNull?.Cpu?.InAtomic ?? false;

    /// <summary>irqs_disabled().</summary>
    public static bool IrqsDisabled => Current.TaskOrNull?.Cpu?.IrqsDisabled ?? false;

    /// <summary>preemptible().</summary>
    public static bool Preemptible => Current.TaskOrNull?.Cpu?.Preemptible ?? true;

    /// <summary>bio_in_atomic() (7.3): true unless the caller is provably allowed to sleep.</summary>
    public static bool BioInAtomic => Current.TaskOrNull?.Cpu?.BioInAtomic ?? false;

    /// <summary>smp_processor_id(): reports a call from preemptible context, where the CPU may change under the caller.</summary>
    public static int SmpProcessorId
    {
        get
        {
            var t = Current.Task;
            var cpu = t.Cpu!;
            if (cpu.Preemptible && t.BoundCpu is null)
            {
                t.Machine.Report(ReportKind.Warning,
                    $"BUG: using smp_processor_id() in preemptible [{cpu.PreemptCountValue:x8}] code: {t}\ncaller is {string.Join(" <- ", KernelStack.Capture(3))}\n");
            }

            return cpu.Id;
        }
    }

    /// <summary>raw_smp_processor_id(): the CPU now, without checks.</summary>
    public static int RawSmpProcessorId => Current.Cpu.Id;

    /// <summary>Disables local interrupts and returns the previous state.</summary>
    /// <remarks>Kernel: local_irq_save(). Context: Any context. Disables interrupts.</remarks>
    public static IrqFlags LocalIrqSave([CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = Current.TaskOrNull;
        if (t is null)
        {
            return new IrqFlags(true);
        }

        var flags = new IrqFlags(!t.Cpu!.HardirqsOff);
        IrqDisable(t, new CodeSite(caller, file, line, "local_irq_save"), null);
        return flags;
    }

    /// <summary>Restores the interrupt state saved by <see cref="LocalIrqSave"/>.</summary>
    /// <remarks>Kernel: local_irq_restore(). Context: Any context.</remarks>
    public static void LocalIrqRestore(IrqFlags flags, [CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = Current.TaskOrNull;
        if (t is null)
        {
            return;
        }

        if (flags.WereEnabled)
        {
            IrqEnable(t, new CodeSite(caller, file, line, "local_irq_restore"));
        }
        else
        {
            IrqDisable(t, new CodeSite(caller, file, line, "local_irq_restore"), null);
        }
    }

    /// <summary>Disables local interrupts.</summary>
    /// <remarks>Kernel: local_irq_disable(). Context: Any context. Disables interrupts.</remarks>
    public static void LocalIrqDisable([CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = Current.TaskOrNull;
        if (t is not null)
        {
            IrqDisable(t, new CodeSite(caller, file, line, "local_irq_disable"), null);
        }
    }

    /// <summary>Enables local interrupts; pending interrupts run at once.</summary>
    /// <remarks>Kernel: local_irq_enable(). Context: Process or softirq context; not in hardirq.</remarks>
    public static void LocalIrqEnable([CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = Current.TaskOrNull;
        if (t is not null)
        {
            IrqEnable(t, new CodeSite(caller, file, line, "local_irq_enable"));
        }
    }

    /// <summary>Disables bottom halves (softirqs) on this CPU.</summary>
    /// <remarks>Kernel: local_bh_disable(). Context: Process or softirq context.</remarks>
    public static void LocalBhDisable([CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = Current.TaskOrNull;
        if (t is not null)
        {
            BhDisable(t, new CodeSite(caller, file, line, "local_bh_disable"));
        }
    }

    /// <summary>Re-enables bottom halves; pending softirqs run when the count reaches zero.</summary>
    /// <remarks>Kernel: local_bh_enable(). Context: Process or softirq context; not in hardirq.</remarks>
    public static void LocalBhEnable([CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = Current.TaskOrNull;
        if (t is not null)
        {
            BhEnable(t, new CodeSite(caller, file, line, "local_bh_enable"));
        }
    }

    /// <summary>Disables preemption.</summary>
    /// <remarks>Kernel: preempt_disable(). Context: Any context.</remarks>
    public static void PreemptDisable()
    {
        var t = Current.TaskOrNull;
        if (t is not null)
        {
            t.Cpu!.PreemptCountValue += PreemptOffset;
        }
    }

    /// <summary>Enables preemption; a pending reschedule happens here.</summary>
    /// <remarks>Kernel: preempt_enable(). Context: Any context.</remarks>
    public static void PreemptEnable()
    {
        var t = Current.TaskOrNull;
        if (t is not null)
        {
            PreemptEnable(t);
        }
    }

    /// <summary>Enters an RCU read-side critical section.</summary>
    /// <remarks>Kernel: rcu_read_lock() with CONFIG_PREEMPT_RCU: the section may be preempted but
    /// must not sleep, and bio_in_atomic() is true inside it. Model: no grace-period machinery
    /// here; the depth is what the context checks need. Context: Any context.</remarks>
    public static void RcuReadLock()
    {
        var t = Current.TaskOrNull;
        if (t is not null)
        {
            t.RcuReadDepth++;
        }
    }

    /// <summary>Leaves an RCU read-side critical section.</summary>
    /// <remarks>Kernel: rcu_read_unlock(). Context: Any context.</remarks>
    public static void RcuReadUnlock()
    {
        var t = Current.TaskOrNull;
        if (t is null)
        {
            return;
        }

        Bug.On(t.RcuReadDepth == 0, "rcu_read_unlock() without rcu_read_lock()");
        t.RcuReadDepth--;
    }

    /// <summary>Reports a sleep in atomic context, as the kernel's might_sleep() does.</summary>
    /// <remarks>Kernel: might_sleep(). Context: Process context. May sleep.</remarks>
    public static void MightSleep([CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = Current.TaskOrNull;
        if (t is not null)
        {
            t.Machine.Lockdep.MightSleep(t, new CodeSite(caller, file, line, "might_sleep"));
        }
    }

    /// <summary>Gives the CPU to another runnable task if one waits.</summary>
    /// <remarks>Kernel: cond_resched(). Context: Process context. May sleep.</remarks>
    public static void CondResched([CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = Current.TaskOrNull;
        if (t is null)
        {
            return;
        }

        t.Machine.Lockdep.MightSleep(t, new CodeSite(caller, file, line, "cond_resched"));
        var cpu = t.Cpu!;
        cpu.Point(t, t.Machine.Options.Costs.PointNs);
        cpu = t.Cpu!;
        if (cpu.PreemptCountValue == 0 && !cpu.HardirqsOff && (cpu.NeedResched || cpu.RunQueue.Count > 0))
        {
            t.Machine.Engine.Preempt(t);
        }
    }

    /// <summary>A point where the engine may switch CPUs and pending interrupts may run; charges
    /// the cost of touching <paramref name="bytes"/> bytes of memory (copy loops call this per page).</summary>
    /// <remarks>Context: Any context.</remarks>
    public static void Point(long bytes = 0)
    {
        var t = Current.TaskOrNull;
        if (t is null)
        {
            return;
        }

        var costs = t.Machine.Options.Costs;
        t.Cpu!.Point(t, costs.PointNs + (bytes * costs.CopyPsPerByte / 1000));
    }

    /// <summary>Busy-waits for <paramref name="ns"/> nanoseconds on this CPU, taking interrupts
    /// if they are enabled: the time passes on the deterministic engine's clock, or on the host's.</summary>
    /// <remarks>Kernel: ndelay(). Context: Any context.</remarks>
    public static void Ndelay(long ns)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ns);
        var t = Current.TaskOrNull;
        if (t is null || ns == 0)
        {
            return;
        }

        if (t.Machine.TimesAreModelled)
        {
            t.Cpu!.Point(t, ns);
            return;
        }

        var until = t.Machine.NowNs + ns;
        var step = t.Machine.Options.Costs.PointNs;
        while (t.Machine.NowNs < until)
        {
            t.Cpu!.Point(t, step);
        }
    }

    // ---- internal helpers shared with the locks ----

    internal static void IrqDisable(TaskStruct t, in CodeSite site, LockClass? cls)
    {
        var cpu = t.Cpu!;
        if (!cpu.HardirqsOff)
        {
            // Disabling is a point at which interrupts are still on: take what is due first.
            cpu.Point(t, t.Machine.Options.Costs.IrqToggleNs);
            cpu = t.Cpu!;
            cpu.HardirqsOff = true;
            t.Machine.IrqsOff.Begin(cpu, site, cls);
            t.Machine.Lockdep.OnHardirqsOff(cpu, site);
        }
    }

    internal static void IrqEnable(TaskStruct t, in CodeSite site)
    {
        var cpu = t.Cpu!;
        if (cpu.HardirqsOff)
        {
            if (cpu.InHardirq)
            {
                if (true)
                {
                    Bug.Warn($"{site}: interrupts enabled inside a hardirq handler");
                }
                return;
            }

            cpu.HardirqsOff = false;
            t.Machine.IrqsOff.End(cpu, site);
            t.Machine.Lockdep.OnHardirqsOn(t, cpu, site);
        }

        cpu.Point(t, t.Machine.Options.Costs.IrqToggleNs);
    }

    internal static void BhDisable(TaskStruct t, in CodeSite site)
    {
        var cpu = t.Cpu!;
        t.Machine.Engine.Charge(cpu, t.Machine.Options.Costs.IrqToggleNs);
        var wasEnabled = cpu.SoftirqsEnabled;
        cpu.PreemptCountValue += SoftirqDisableOffset;
        if (wasEnabled)
        {
            t.Machine.Lockdep.OnSoftirqsOff(cpu, site);
        }
    }

    internal static void BhEnable(TaskStruct t, in CodeSite site)
    {
        var cpu = t.Cpu!;
        // One warning per misuse: in hardirq, interrupts are off as a matter of course.
        if (cpu.InHardirq)
        {
            Bug.Warn($"{site}: local_bh_enable() in hardirq context");
        }
        else if (cpu.HardirqsOff)
        {
            Bug.Warn($"{site}: local_bh_enable() with interrupts disabled");
        }
        if (cpu.SoftirqCount < SoftirqDisableOffset)
        {
            Bug.Fail($"{site}: local_bh_enable() without local_bh_disable()");
        }
        cpu.PreemptCountValue -= SoftirqDisableOffset;
        if (cpu.SoftirqsEnabled)
        {
            t.Machine.Lockdep.OnSoftirqsOn(t, cpu, site);
        }

        if (!cpu.InInterrupt && cpu.SoftirqPendingMask != 0 && !cpu.HardirqsOff)
        {
            cpu.DoSoftirq(t);
        }

        cpu.Point(t, t.Machine.Options.Costs.IrqToggleNs);
    }

    internal static void PreemptEnable(TaskStruct t)
    {
        var cpu = t.Cpu!;
        Bug.On((cpu.PreemptCountValue & PreemptMask) == 0, "preempt_enable() without preempt_disable()");
        cpu.PreemptCountValue -= PreemptOffset;
        if (cpu.PreemptCountValue == 0)
        {
            cpu.Point(t, t.Machine.Options.Costs.IrqToggleNs);
        }
        else
        {
            t.Machine.Engine.Charge(cpu, t.Machine.Options.Costs.IrqToggleNs);
        }
    }
}
