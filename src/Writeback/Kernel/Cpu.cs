using System.Threading;
using System.Collections.Concurrent;
using static Writeback.Kernel.PreemptCount;

namespace Writeback.Kernel;

/// <summary>A simulated CPU: its execution context (preempt count, interrupt flag), its current
/// task and run queue, and its pending hardirqs and softirqs.</summary>
/// <remarks>Kernel: the per-CPU preempt_count, the IF flag, struct rq, and the softirq pending
/// mask. Model: the preempt count is kept per CPU, as x86 keeps it; a task can only sleep with a
/// zero count, so the per-task save and restore of the kernel changes nothing observable.
/// Context: everything here is touched only by the thread currently running for this CPU,
/// except the pending-interrupt queue and the flags that other CPUs set.</remarks>
public sealed partial class Cpu
{
    private readonly ConcurrentQueue<PendingIrq> _pendingIrqs = new();
    private int _pendingIrqCount;
    private int _softirqPending;

    internal Cpu(Machine machine, int id)
    {
        Machine = machine;
        Id = id;
        IsOnline = true;
    }

    /// <summary>The machine this CPU belongs to.</summary>
    public Machine Machine { get; }

    /// <summary>CPU number (smp_processor_id()).</summary>
    public int Id { get; }

    /// <summary>True while the CPU is online (cpu_online()).</summary>
    public bool IsOnline { get; internal set; }

    /// <summary>The raw preempt count (preempt_count()).</summary>
    public int PreemptCountValue { get; internal set; }

    /// <summary>True while hardware interrupts are disabled on this CPU (irqs_disabled()).</summary>
    public bool HardirqsOff { get; internal set; }

    /// <summary>The task running on this CPU (current), or its idle task.</summary>
    public TaskStruct? Current { get; internal set; }

    /// <summary>The idle task (swapper/N).</summary>
    public TaskStruct Idle { get; internal set; } = null!;

    internal Queue<TaskStruct> RunQueue { get; } = new();

    /// <summary>Set when another task should get this CPU at the next preemption point.</summary>
    internal volatile bool NeedResched;

    /// <summary>Virtual clock of the deterministic engine, in nanoseconds.</summary>
    internal long Clock;

    /// <summary>Interrupts handled on this CPU.</summary>
    public long Interrupts { get; private set; }

    /// <summary>Softirq vectors run on this CPU.</summary>
    public long SoftirqsRun { get; private set; }

    /// <summary>Context switches on this CPU.</summary>
    public long ContextSwitches { get; internal set; }

    internal bool HasPendingIrq => Volatile.Read(ref _pendingIrqCount) != 0;

    internal int SoftirqPendingMask => Volatile.Read(ref _softirqPending);

    internal bool IsIdle => Current is { Kind: TaskKind.Idle };

    // ---- context predicates, exactly as include/linux/preempt.h and irqflags.h define them ----

    internal int HardirqCount => PreemptCountValue & HardirqMask;

    internal int SoftirqCount => PreemptCountValue & SoftirqMask;

    /// <summary>in_task(): not in NMI, not in hardirq, not serving a softirq.</summary>
    public bool InTask => (PreemptCountValue & (NmiMask | HardirqMask | SoftirqOffset)) == 0;

    /// <summary>in_interrupt(): any NMI, hardirq or softirq count, including a bottom-half-disabled section.</summary>
    public bool InInterrupt => (PreemptCountValue & (NmiMask | HardirqMask | SoftirqMask)) != 0;

    /// <summary>in_softirq(): serving a softirq or bottom halves disabled.</summary>
    public bool InSoftirq => SoftirqCount != 0;

    /// <summary>in_serving_softirq(): running a softirq handler.</summary>
    public bool InServingSoftirq => (SoftirqCount & SoftirqOffset) != 0;

    /// <summary>in_hardirq(): inside a hardirq handler.</summary>
    public bool InHardirq => HardirqCount != 0;

    /// <summary>in_atomic(): a non-zero preempt count.</summary>
    public bool InAtomic => PreemptCountValue != 0;

    /// <summary>irqs_disabled().</summary>
    public bool IrqsDisabled => HardirqsOff;

    /// <summary>preemptible(): zero preempt count and interrupts on; always false without CONFIG_PREEMPT_COUNT.</summary>
    public bool Preemptible => Machine.Options.PreemptCount && PreemptCountValue == 0 && !HardirqsOff;

    /// <summary>bio_in_atomic() as merged for 7.3: true when the kernel cannot prove the caller may
    /// sleep — inside a preemptible-RCU read-side section, always without CONFIG_PREEMPT_COUNT,
    /// otherwise !preemptible().</summary>
    public bool BioInAtomic => (Current?.RcuReadDepth ?? 0) != 0 || !Machine.Options.PreemptCount || !Preemptible;

    /// <summary>lockdep's view: softirqs enabled (no softirq count).</summary>
    internal bool SoftirqsEnabled => SoftirqCount == 0;

    /// <summary>The lockdep context tuple, e.g. [HC0[0]:SC0[0]:HE1:SE1].</summary>
    public string ContextTuple =>
        $"[HC{(InHardirq ? 1 : 0)}[{HardirqCount >> HardirqShift}]:SC{(InServingSoftirq ? 1 : 0)}[{SoftirqCount >> SoftirqShift}]:HE{(HardirqsOff ? 0 : 1)}:SE{(SoftirqsEnabled ? 1 : 0)}]";

    internal long Now => Machine.Engine.Now(this);

    // ---- interrupts ----

    internal void EnqueueIrq(PendingIrq irq)
    {
        _pendingIrqs.Enqueue(irq);
        Interlocked.Increment(ref _pendingIrqCount);
    }

    internal bool TryPeekIrq(out PendingIrq irq) => _pendingIrqs.TryPeek(out irq!);

    internal List<PendingIrq> DrainIrqs()
    {
        var all = new List<PendingIrq>();
        while (_pendingIrqs.TryDequeue(out var irq))
        {
            Interlocked.Decrement(ref _pendingIrqCount);
            all.Add(irq);
        }

        return all;
    }

    internal void RaiseSoftirqBit(Softirq nr)
    {
        int old, neu;
        do
        {
            old = Volatile.Read(ref _softirqPending);
            neu = old | (1 << (int)nr);
        }
        while (Interlocked.CompareExchange(ref _softirqPending, neu, old) != old);
    }

    internal int TakeSoftirqs() => TakeSoftirqPending();

    private int TakeSoftirqPending() => Interlocked.Exchange(ref _softirqPending, 0);

    /// <summary>Takes due hardirqs when the context allows it (interrupts on, not in a hardirq).</summary>
    internal void TakePendingIrqs(TaskStruct t)
    {
        if (HasPendingIrq && !HardirqsOff && HardirqCount == 0)
        {
            HandleIrqs(t);
        }
    }

    /// <summary>Runs every due pending hardirq, nested on top of the current code.</summary>
    /// <remarks>Context: Interrupts must be enabled on entry; runs each handler with them disabled.</remarks>
    internal void HandleIrqs(TaskStruct t)
    {
        var engine = Machine.Engine;
        while (!HardirqsOff && HardirqCount == 0 && _pendingIrqs.TryPeek(out var irq) && engine.IsDue(this, irq.RaisedAtNs))
        {
            if (!_pendingIrqs.TryDequeue(out irq))
            {
                break;
            }

            Interlocked.Decrement(ref _pendingIrqCount);
            RunHardirq(t, irq);
        }
    }

    private void RunHardirq(TaskStruct t, PendingIrq irq)
    {
        var engine = Machine.Engine;
        var costs = Machine.Options.Costs;

        // The CPU takes the vector: interrupts go off before any handler code runs.
        HardirqsOff = true;
        var entrySite = new CodeSite(irq.Name, string.Empty, 0, "irq_enter");
        Machine.IrqsOff.Begin(this, entrySite, null);
        Machine.Lockdep.OnHardirqsOff(this, entrySite);
        engine.Charge(this, costs.IrqEntryNs);
        PreemptCountValue += HardirqOffset;
        Interrupts++;
        if (Machine.IrqsOff.IsEnabled)
        {
            Machine.IrqsOff.RecordIrqLatency(this, Math.Max(0, Now - irq.RaisedAtNs));
        }
        Machine.Trace(this, t, "irq", irq.Name);
        t.IrqNames.Push(irq.Name);
        try
        {
            irq.Handler();
            if (!HardirqsOff)
            {
                throw new KernelBugException($"irq handler {irq.Name} returned with interrupts enabled");
            }
        }
        finally
        {
            t.IrqNames.Pop();
            PreemptCountValue -= HardirqOffset;
        }

        engine.Charge(this, costs.IrqExitNs);

        // irq_exit(): softirqs raised by the handler run now, unless we interrupted a softirq
        // or a bottom-half-disabled section.
        if (!InInterrupt && SoftirqPendingMask != 0)
        {
            DoSoftirq(t);
        }

        HardirqsOff = false;
        var exitSite = new CodeSite(irq.Name, string.Empty, 0, "irq_exit");
        Machine.IrqsOff.End(this, exitSite);
        Machine.Lockdep.OnHardirqsOn(t, this, exitSite);
    }

    /// <summary>Runs pending softirqs with SOFTIRQ_OFFSET set and interrupts on, restarting up to ten times.</summary>
    /// <remarks>Kernel: __do_softirq() in kernel/softirq.c. Model: softirqs raised outside
    /// interrupt context run at the next runtime primitive rather than in ksoftirqd.</remarks>
    internal void DoSoftirq(TaskStruct t)
    {
        if (InInterrupt)
        {
            return;
        }

        var wasOff = HardirqsOff;
        var site = CodeSite.Of("__do_softirq");
        var softirqsWereOn = SoftirqsEnabled;
        PreemptCountValue += SoftirqOffset;
        if (softirqsWereOn)
        {
            Machine.Lockdep.OnSoftirqsOff(this, site);
        }

        try
        {
            var restarts = 10;
            var pending = TakeSoftirqPending();
            while (pending != 0)
            {
                if (HardirqsOff)
                {
                    HardirqsOff = false;
                    Machine.IrqsOff.End(this, site);
                    Machine.Lockdep.OnHardirqsOn(t, this, site);
                }

                for (var nr = 0; nr < 10; nr++)
                {
                    if ((pending & (1 << nr)) == 0)
                    {
                        continue;
                    }

                    SoftirqsRun++;
                    Machine.Trace(this, t, "softirq", ((Softirq)nr).ToString());
                    Machine.SoftirqHandler((Softirq)nr)?.Invoke(this);
                }

                pending = --restarts > 0 ? TakeSoftirqPending() : 0;
            }
        }
        finally
        {
            PreemptCountValue -= SoftirqOffset;
        }

        if (wasOff && !HardirqsOff)
        {
            HardirqsOff = true;
            Machine.IrqsOff.Begin(this, site, null);
            Machine.Lockdep.OnHardirqsOff(this, site);
        }

        if (SoftirqsEnabled && softirqsWereOn)
        {
            Machine.Lockdep.OnSoftirqsOn(t, this, site);
        }
    }

    /// <summary>Raises an injected interrupt on this CPU with the configured probability.</summary>
    private void MaybeInjectIrq()
    {
        var p = Machine.Options.IrqInjectionProbability;
        const int scale = 1 << 20;
        if (p <= 0 || HardirqCount != 0 || Machine.Engine.Choose(scale) >= (int)(p * scale))
        {
            return;
        }

        var inject = Machine.IrqInjector ?? (static () => { });
        EnqueueIrq(new PendingIrq("injected", inject, Now));
    }

    /// <summary>A runtime primitive: charge its cost, let the engine decide what runs next, then
    /// take due interrupts and softirqs and honour a reschedule request, as far as the context allows.</summary>
    internal void Point(TaskStruct t, long costNs)
    {
        var engine = Machine.Engine;
        engine.Charge(this, costNs);
        engine.Yield(t);
        PollAfterPoint(t);
    }

    /// <summary>What every primitive does once it may be interrupted: take due hardirqs, run
    /// pending softirqs, honour a reschedule request.</summary>
    internal void PollAfterPoint(TaskStruct t)
    {
        if (HardirqsOff)
        {
            return;
        }

        MaybeInjectIrq();
        TakePendingIrqs(t);
        if (SoftirqPendingMask != 0 && !InInterrupt)
        {
            DoSoftirq(t);
        }

        // The scheduler tick's part: a task that has used its slice yields to a waiting one.
        if (!NeedResched && RunQueue.Count > 0 && Now - t.SliceStartNs >= Machine.Options.TimesliceNs)
        {
            NeedResched = true;
        }

        if (NeedResched && PreemptCountValue == 0 && t.Kind != TaskKind.Idle && Machine.Options.PreemptCount)
        {
            Machine.Engine.Preempt(t);
        }
    }
}
