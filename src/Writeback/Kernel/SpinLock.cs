using System.Threading;
using System.Runtime.CompilerServices;
using static Writeback.Kernel.PreemptCount;

namespace Writeback.Kernel;

/// <summary>A spinlock used with the kernel's flavours: plain, <c>_bh</c>, <c>_irq</c> and <c>_irqsave</c>.</summary>
/// <remarks>Kernel: spinlock_t, include/linux/spinlock.h and kernel/locking/spinlock.c.
/// Every acquisition is a runtime primitive: the deterministic engine may run another CPU first,
/// and an interrupt due on this CPU is taken when the flavour leaves interrupts enabled. A CPU
/// spinning with interrupts enabled keeps taking its interrupts. An acquisition that could never
/// succeed because this CPU already holds the lock (an interrupt handler on a plain lock that the
/// interrupted task holds) is detected and reported as the kernel's spinlock debugging reports
/// it, instead of hanging. Outside a machine the lock is a plain test-and-set lock.</remarks>
public sealed class SpinLock : ILockdepMap
{
    private const int OutsideMachine = -1;
    private static long s_nextAddress;

    // A ticket lock: FIFO like the kernel's qspinlock, so that a CPU that releases and retakes
    // the lock cannot starve a CPU already spinning for it.
    private int _next;
    private int _serving;
    private int _owner;
    private TaskStruct? _ownerTask;
    private CodeSite _ownerSite;
    private long _acquiredAtNs;
    private int _lastCpu = -1;
    private LockClass? _class;
    private Machine? _classMachine;

    /// <summary>Creates a lock of the given class.</summary>
    public SpinLock(LockClassKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        Key = key;
        Address = 0xffff888000000000UL + ((ulong)Interlocked.Increment(ref s_nextAddress) * 0x40UL);
    }

    /// <summary>Creates a lock whose class is the shared class of that name.</summary>
    public SpinLock(string className) : this(LockClassKey.ForName(className))
    {
    }

    /// <inheritdoc/>
    public LockClassKey Key { get; }

    /// <inheritdoc/>
    public string WaitType => "{3:3}";

    /// <inheritdoc/>
    public ulong Address { get; }

    /// <summary>True while some CPU holds the lock or waits for it (spin_is_locked()).</summary>
    public bool IsLocked => Volatile.Read(ref _next) != Volatile.Read(ref _serving);

    /// <summary>True when a CPU waits for the lock besides its holder (spin_is_contended()).</summary>
    /// <remarks>Kernel: ticket_spin_is_contended(): more than one ticket taken and not yet served.</remarks>
    public bool IsContended => Volatile.Read(ref _next) - Volatile.Read(ref _serving) > 1;

    /// <summary>The ticket now being served: a spinner whose ticket this is owns the lock.</summary>
    internal int ServingTicket => Volatile.Read(ref _serving);

    internal int OwnerCpuId => Volatile.Read(ref _owner) - 1;

    /// <summary>Virtual time of the last release, for the deterministic engine's spinners.</summary>
    internal long ReleasedAtNs { get; private set; }

    /// <summary>The lock's class on the current machine.</summary>
    public LockClass Class => ClassFor(Current.Machine);

    // ---------------- plain ----------------

    /// <summary>Acquires the lock, leaving interrupts as they are.</summary>
    /// <remarks>Kernel: spin_lock(). Context: Any context. Acquires the lock; caller releases it.</remarks>
    public void Lock([CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = Current.TaskOrNull;
        if (t is null)
        {
            RawLock();
            return;
        }

        t.Cpu!.PreemptCountValue += PreemptOffset;
        AcquireCore(t, new CodeSite(caller, file, line, "_raw_spin_lock"));
    }

    /// <summary>Releases the lock.</summary>
    /// <remarks>Kernel: spin_unlock(). Context: Caller holds the lock.</remarks>
    public void Unlock([CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = Current.TaskOrNull;
        if (t is null)
        {
            RawUnlock();
            return;
        }

        ReleaseCore(t);
        Context.PreemptEnable(t);
    }

    /// <summary>Tries once to acquire the lock.</summary>
    /// <remarks>Kernel: spin_trylock(). Context: Any context.</remarks>
    public bool TryLock([CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = Current.TaskOrNull;
        if (t is null)
        {
            return TryTakeTicket(OutsideMachine);
        }

        var cpu = t.Cpu!;
        cpu.PreemptCountValue += PreemptOffset;
        if (TryAcquireCore(t, new CodeSite(caller, file, line, "_raw_spin_trylock")))
        {
            return true;
        }

        Context.PreemptEnable(t);
        return false;
    }

    // ---------------- _bh ----------------

    /// <summary>Disables bottom halves and acquires the lock.</summary>
    /// <remarks>Kernel: spin_lock_bh(). Context: Process or softirq context. Acquires the lock; caller releases it.</remarks>
    public void LockBh([CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = Current.TaskOrNull;
        if (t is null)
        {
            RawLock();
            return;
        }

        var site = new CodeSite(caller, file, line, "_raw_spin_lock_bh");
        Context.BhDisable(t, site);
        t.Cpu!.PreemptCountValue += PreemptOffset;
        AcquireCore(t, site);
    }

    /// <summary>Releases the lock and re-enables bottom halves (pending softirqs run).</summary>
    /// <remarks>Kernel: spin_unlock_bh(). Context: Caller holds the lock.</remarks>
    public void UnlockBh([CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = Current.TaskOrNull;
        if (t is null)
        {
            RawUnlock();
            return;
        }

        ReleaseCore(t);
        t.Cpu!.PreemptCountValue -= PreemptOffset;
        Context.BhEnable(t, new CodeSite(caller, file, line, "_raw_spin_unlock_bh"));
    }

    // ---------------- _irq ----------------

    /// <summary>Disables local interrupts and acquires the lock.</summary>
    /// <remarks>Kernel: spin_lock_irq(). Context: Process or softirq context with interrupts enabled. Disables interrupts. Acquires the lock; caller releases it.</remarks>
    public void LockIrq([CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = Current.TaskOrNull;
        if (t is null)
        {
            RawLock();
            return;
        }

        var site = new CodeSite(caller, file, line, "_raw_spin_lock_irq");
        Context.IrqDisable(t, site, ClassFor(t.Machine));
        t.Cpu!.PreemptCountValue += PreemptOffset;
        AcquireCore(t, site);
    }

    /// <summary>Releases the lock and enables local interrupts unconditionally.</summary>
    /// <remarks>Kernel: spin_unlock_irq(). Context: Caller holds the lock.</remarks>
    public void UnlockIrq([CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = Current.TaskOrNull;
        if (t is null)
        {
            RawUnlock();
            return;
        }

        ReleaseCore(t);
        Context.IrqEnable(t, new CodeSite(caller, file, line, "_raw_spin_unlock_irq"));
        Context.PreemptEnable(t);
    }

    // ---------------- _irqsave ----------------

    /// <summary>Saves and disables local interrupts, then acquires the lock.</summary>
    /// <remarks>Kernel: spin_lock_irqsave(). Context: Any context. Disables interrupts. Acquires the lock; caller releases it.</remarks>
    public IrqFlags LockIrqSave([CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = Current.TaskOrNull;
        if (t is null)
        {
            RawLock();
            return new IrqFlags(true);
        }

        var cpu = t.Cpu!;
        var flags = new IrqFlags(!cpu.HardirqsOff);
        var site = new CodeSite(caller, file, line, "_raw_spin_lock_irqsave");
        Context.IrqDisable(t, site, ClassFor(t.Machine));
        t.Cpu!.PreemptCountValue += PreemptOffset;
        AcquireCore(t, site);
        return flags;
    }

    /// <summary>Releases the lock and restores the saved interrupt state.</summary>
    /// <remarks>Kernel: spin_unlock_irqrestore(). Context: Caller holds the lock.</remarks>
    public void UnlockIrqRestore(IrqFlags flags, [CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = Current.TaskOrNull;
        if (t is null)
        {
            RawUnlock();
            return;
        }

        ReleaseCore(t);
        if (flags.WereEnabled)
        {
            Context.IrqEnable(t, new CodeSite(caller, file, line, "_raw_spin_unlock_irqrestore"));
        }

        Context.PreemptEnable(t);
    }

    /// <summary>Saves and disables interrupts and tries once to acquire the lock; restores them on failure.</summary>
    /// <remarks>Kernel: spin_trylock_irqsave(). Context: Any context.</remarks>
    public bool TryLockIrqSave(out IrqFlags flags, [CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = Current.TaskOrNull;
        if (t is null)
        {
            flags = new IrqFlags(true);
            return TryTakeTicket(OutsideMachine);
        }

        var cpu = t.Cpu!;
        flags = new IrqFlags(!cpu.HardirqsOff);
        var site = new CodeSite(caller, file, line, "_raw_spin_trylock_irqsave");
        Context.IrqDisable(t, site, ClassFor(t.Machine));
        t.Cpu!.PreemptCountValue += PreemptOffset;
        if (TryAcquireCore(t, site))
        {
            return true;
        }

        if (flags.WereEnabled)
        {
            Context.IrqEnable(t, site);
        }

        Context.PreemptEnable(t);
        return false;
    }

    /// <summary>Asserts that the lock is held (by this CPU, on a machine).</summary>
    /// <remarks>Kernel: lockdep_assert_held().</remarks>
    public void AssertHeld()
    {
        var owner = Volatile.Read(ref _owner);
        var t = Current.TaskOrNull;
        if (owner == 0)
        {
            Bug.Fail($"lockdep_assert_held: {Key.Name} is not held");
        }
        if (t is not null && owner != t.Cpu!.Id + 1)
        {
            Bug.Fail($"lockdep_assert_held: {Key.Name} is held by CPU#{owner - 1}, not this CPU#{t?.Cpu!.Id}");
        }
    }

    // ---------------- core ----------------

    internal LockClass ClassFor(Machine m)
    {
        var cls = _class;
        if (cls is not null && ReferenceEquals(_classMachine, m))
        {
            return cls;
        }

        cls = m.Lockdep.ClassOf(Key, WaitType);
        _classMachine = m;
        _class = cls;
        return cls;
    }

    private void AcquireCore(TaskStruct t, in CodeSite site)
    {
        var m = t.Machine;
        var cpu = t.Cpu!;
        var cls = ClassFor(m);
        var engine = m.Engine;
        engine.Charge(cpu, m.Options.Costs.SpinLockNs);
        engine.Yield(t);
        cpu.TakePendingIrqs(t);
        if (m.LockdepActive)
        {
            m.Lockdep.Acquire(t, cpu, this, cls, site, read: false, trylock: false);
        }

        var me = cpu.Id + 1;
        if (Volatile.Read(ref _owner) == me)
        {
            // This CPU holds the lock already (the code this interrupt interrupted, or the same task).
            SelfDeadlock(t, cpu, site);
        }

        var ticket = Interlocked.Increment(ref _next) - 1;
        if (Volatile.Read(ref _serving) != ticket)
        {
            Contended(t, cpu, cls, site, ticket);
        }
        else if (engine.IsDeterministic && ReleasedAtNs > cpu.Now)
        {
            // The holder ran ahead of us in virtual time and released "later" than now: at our
            // time the lock was still held, so this acquisition waited until that release.
            CaughtUp(t, cpu, cls, site);
        }

        Volatile.Write(ref _owner, me);
        Acquired(t, cpu, cls, site);
    }

    private bool TryAcquireCore(TaskStruct t, in CodeSite site)
    {
        var m = t.Machine;
        var cpu = t.Cpu!;
        var cls = ClassFor(m);
        m.Engine.Charge(cpu, m.Options.Costs.SpinLockNs);
        m.Engine.Yield(t);
        // Released "in the future" by a CPU that ran ahead: at our time it is still held.
        if ((m.Engine.IsDeterministic && ReleasedAtNs > cpu.Now) || !TryTakeTicket(cpu.Id + 1))
        {
            return false;
        }

        if (m.LockdepActive)
        {
            m.Lockdep.Acquire(t, cpu, this, cls, site, read: false, trylock: true);
        }

        Acquired(t, cpu, cls, site);
        return true;
    }

    private void Acquired(TaskStruct t, Cpu cpu, LockClass cls, in CodeSite site)
    {
        _ownerTask = t;
        _ownerSite = site;
        if (t.Machine.Options.LockStat)
        {
            var s = cls.StatsFor(cpu.Id, read: false);
            s.Acquisitions++;
            if (_lastCpu >= 0 && _lastCpu != cpu.Id)
            {
                s.AcqBounces++;
            }

            _acquiredAtNs = cpu.Now;
        }
    }

    private void Contended(TaskStruct t, Cpu cpu, LockClass cls, CodeSite site, int ticket)
    {
        var m = t.Machine;
        var holderSite = _ownerSite;
        var holderCpu = Volatile.Read(ref _owner) - 1;
        var waitStart = cpu.Now;

        // An interrupt handler queueing behind a spinner it interrupted on this same CPU waits
        // for a ticket that can never be served.
        if (t.SpinStack.Contains(this))
        {
            SelfDeadlock(t, cpu, site);
        }

        t.SpinStack.Add(this);
        while (Volatile.Read(ref _serving) != ticket)
        {
            m.Engine.SpinWait(t, this, ticket);
            cpu.TakePendingIrqs(t);
        }

        t.SpinStack.RemoveAt(t.SpinStack.Count - 1);
        if (m.Options.LockStat)
        {
            RecordContention(cls.StatsFor(cpu.Id, read: false), holderCpu, cpu, cpu.Now - waitStart, site, holderSite);
        }
    }

    private void CaughtUp(TaskStruct t, Cpu cpu, LockClass cls, in CodeSite site)
    {
        var m = t.Machine;
        var waitStart = cpu.Now;
        m.Engine.AdvanceTo(cpu, ReleasedAtNs);
        if (m.Options.LockStat)
        {
            RecordContention(cls.StatsFor(cpu.Id, read: false), _lastCpu, cpu, cpu.Now - waitStart, site, _ownerSite);
        }
    }

    private static void RecordContention(LockClassStats s, int holderCpu, Cpu cpu, long waitNs, in CodeSite site, in CodeSite holderSite)
    {
        s.Contentions++;
        if (holderCpu >= 0 && holderCpu != cpu.Id)
        {
            s.ConBounces++;
        }

        s.Wait.Record(waitNs);
        var point = site.ToString();
        s.ContentionPoints[point] = s.ContentionPoints.GetValueOrDefault(point) + 1;
        var held = holderSite.ToString();
        s.ContendedPoints[held] = s.ContendedPoints.GetValueOrDefault(held) + 1;
    }

    private void ReleaseCore(TaskStruct t)
    {
        var m = t.Machine;
        var cpu = t.Cpu!;
        var owner = Volatile.Read(ref _owner);
        if (owner != cpu.Id + 1)
        {
            Bug.Fail($"spin_unlock of {Key.Name}: not held by this CPU#{cpu.Id} (owner CPU#{owner - 1})");
        }
        if (m.LockdepActive)
        {
            m.Lockdep.Release(t, this);
        }

        // Clock reads cost tens of nanoseconds on the real engine: only read when something uses it.
        var stat = m.Options.LockStat;
        if (stat || m.Engine.IsDeterministic)
        {
            var now = cpu.Now;
            ReleasedAtNs = now;
            if (stat)
            {
                ClassFor(m).StatsFor(cpu.Id, read: false).Hold.Record(now - _acquiredAtNs);
            }
        }

        _ownerTask = null;
        _lastCpu = cpu.Id;
        Volatile.Write(ref _owner, 0);
        Volatile.Write(ref _serving, _serving + 1);
        m.Engine.Charge(cpu, m.Options.Costs.SpinUnlockNs);
    }

    /// <summary>This CPU already holds the lock: the acquisition can never succeed.</summary>
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void SelfDeadlock(TaskStruct t, Cpu cpu, in CodeSite site)
    {
        var cls = ClassFor(t.Machine);
        var holder = _ownerTask;
        var sb = new System.Text.StringBuilder();
        sb.Append("BUG: spinlock recursion on CPU#").Append(cpu.Id).Append(", ").Append(t).Append('\n');
        sb.Append(" lock: ").Append(cls.Name).Append(", .magic: dead4ead, .owner: ").Append(holder?.ToString() ?? "?")
            .Append(", .owner_cpu: ").Append(cpu.Id).Append('\n');
        sb.Append(t).Append(' ').Append(cpu.ContextTuple).Append(" takes:\n");
        sb.Append(Lockdep.LockLine(this, cls)).Append(", at: ").Append(site).Append('\n');
        if (Volatile.Read(ref _owner) == cpu.Id + 1)
        {
            sb.Append("while this CPU already holds it, taken at: ").Append(_ownerSite).Append('\n');
        }
        else
        {
            sb.Append("while the code it interrupted on this CPU is queued for it: the ticket ahead can never be served\n");
        }
        sb.Append("\nother info that might help us debug this:\n");
        sb.Append(" Possible unsafe locking scenario:\n\n");
        sb.Append("       CPU0\n");
        sb.Append("       ----\n");
        sb.Append("  lock(").Append(cls.Name).Append(");\n");
        if (cpu.InHardirq || cpu.InServingSoftirq)
        {
            sb.Append("  <Interrupt>\n");
            sb.Append("    lock(").Append(cls.Name).Append(");\n");
        }
        else
        {
            sb.Append("  lock(").Append(cls.Name).Append(");\n");
        }

        sb.Append("\n *** DEADLOCK ***\n\n");
        Lockdep.AppendHeldLocks(sb, t);
        Lockdep.AppendBacktrace(sb, t, cpu);
        t.Machine.Report(ReportKind.Deadlock, sb.ToString());
        throw new KernelBugException(sb.ToString());
    }

    private bool TryTakeTicket(int owner)
    {
        var serving = Volatile.Read(ref _serving);
        if (Interlocked.CompareExchange(ref _next, serving + 1, serving) != serving)
        {
            return false;
        }

        Volatile.Write(ref _owner, owner);
        return true;
    }

    private void RawLock()
    {
        var ticket = Interlocked.Increment(ref _next) - 1;
        var spinner = default(SpinWait);
        while (Volatile.Read(ref _serving) != ticket)
        {
            spinner.SpinOnce();
        }

        Volatile.Write(ref _owner, OutsideMachine);
    }

    private void RawUnlock()
    {
        if (Volatile.Read(ref _owner) != OutsideMachine)
        {
            Bug.Fail($"spin_unlock of {Key.Name}: not held");
        }

        Volatile.Write(ref _owner, 0);
        Volatile.Write(ref _serving, _serving + 1);
    }
}
