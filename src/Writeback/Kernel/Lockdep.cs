using System.Threading;
using System.Text;

namespace Writeback.Kernel;

/// <summary>The lock validator: per-class usage bits (the single-lock irq rule), the dependency
/// graph (circular dependencies, hardirq-safe → hardirq-unsafe orders, irq inversions), recursive
/// locking and sleeping in atomic context — reported in lockdep's own layout.</summary>
/// <remarks>Kernel: kernel/locking/lockdep.c. Model: as in the kernel, the first report turns
/// validation off for the rest of the run ("turning off the locking correctness validator");
/// dependencies are recorded only between locks taken in the same interrupt context, and a
/// chain of classes already validated is not checked again (the chain-hash cache).</remarks>
public sealed class Lockdep
{
    private readonly Machine _machine;
    private readonly Dictionary<int, LockClass> _classes = [];
    private readonly HashSet<ulong> _chains = [];
    private readonly HashSet<string> _sleepSites = new(StringComparer.Ordinal);
    private ArchSpinLock _graph;
    private volatile bool _debugLocks;

    internal Lockdep(Machine machine)
    {
        _machine = machine;
        _debugLocks = machine.Options.Lockdep != LockdepMode.Off;
    }

    /// <summary>True while validation runs (it stops after the first report).</summary>
    public bool IsValidating => _debugLocks;

    /// <summary>Forgets every class's lock statistics, so that figures cover what follows
    /// (echo 0 &gt; /proc/lock_stat). Call when no lock is being taken or released.</summary>
    /// <remarks>Kernel: lock_stat_write() → clear_lock_stats() for every class.</remarks>
    public void ClearLockStats()
    {
        foreach (var c in Classes)
        {
            c.ClearStats();
        }
    }

    /// <summary>Every lock class the machine has seen.</summary>
    public IReadOnlyList<LockClass> Classes
    {
        get
        {
            _graph.Lock();
            try
            {
                return [.. _classes.Values];
            }
            finally
            {
                _graph.Unlock();
            }
        }
    }

    /// <summary>The machine's class for a key.</summary>
    public LockClass ClassOf(LockClassKey key, string waitType = "{3:3}")
    {
        ArgumentNullException.ThrowIfNull(key);
        _graph.Lock();
        try
        {
            if (!_classes.TryGetValue(key.Id, out var cls))
            {
                cls = new LockClass(key, waitType, _machine.Cpus.Count);
                _classes.Add(key.Id, cls);
            }

            return cls;
        }
        finally
        {
            _graph.Unlock();
        }
    }

    // ---------------- acquisition and release ----------------

    internal void Acquire(TaskStruct t, Cpu cpu, ILockdepMap map, LockClass cls, in CodeSite site, bool read, bool trylock)
    {
        var ctx = cpu.InHardirq ? 2 : cpu.InServingSoftirq ? 1 : 0;
        if (_debugLocks)
        {
            MarkUsageOnAcquire(t, cpu, map, cls, site, read);
            if (_debugLocks && !trylock)
            {
                CheckDependencies(t, cpu, map, cls, site, read, ctx);
            }
        }

        t.HeldLocks.Add(new HeldLock(map, cls, site, read, trylock, ctx));
    }

    internal void Release(TaskStruct t, ILockdepMap map)
    {
        var held = t.HeldLocks;
        for (var i = held.Count - 1; i >= 0; i--)
        {
            if (ReferenceEquals(held[i].Lock, map))
            {
                held.RemoveAt(i);
                return;
            }
        }

        if (_debugLocks)
        {
            PrintBadUnlock(t, map);
        }
    }

    // Kept out of Release: a lambda capturing its parameters would allocate on every unlock.
    private void PrintBadUnlock(TaskStruct t, ILockdepMap map)
    {
        Report(t, "WARNING: bad unlock balance detected!", sb =>
        {
            sb.Append(t).Append(" is trying to release lock (").Append(map.Key.Name).Append(") at:\n  ")
                .Append(string.Join("\n  ", KernelStack.Capture(4))).Append("\nbut there are no more locks to release!\n");
        });
    }

    /// <summary>Checks a task that is about to exit holds no lock.</summary>
    internal void CheckExit(TaskStruct t)
    {
        if (t.HeldLocks.Count > 0 && _debugLocks)
        {
            Report(t, "WARNING: lock held when returning to user space!", sb =>
            {
                sb.Append(t).Append(" is leaving the kernel with locks still held!\n");
                AppendHeldLocks(sb, t);
            });
        }
    }

    // ---------------- irq state events ----------------

    internal void OnHardirqsOff(Cpu cpu, in CodeSite site)
    {
        cpu.HardirqOffEvent = (++cpu.IrqEventStamp, site);
    }

    internal void OnHardirqsOn(TaskStruct t, Cpu cpu, in CodeSite site)
    {
        cpu.HardirqOnEvent = (++cpu.IrqEventStamp, site);
        if (!_debugLocks || t.HeldLocks.Count == 0)
        {
            return;
        }

        MarkHeldLocks(t, cpu, LockUsage.HardirqOnW, site);
        if (cpu.SoftirqsEnabled)
        {
            MarkHeldLocks(t, cpu, LockUsage.SoftirqOnW, site);
        }
    }

    internal void OnSoftirqsOff(Cpu cpu, in CodeSite site)
    {
        cpu.SoftirqOffEvent = (++cpu.IrqEventStamp, site);
    }

    internal void OnSoftirqsOn(TaskStruct t, Cpu cpu, in CodeSite site)
    {
        cpu.SoftirqOnEvent = (++cpu.IrqEventStamp, site);
        if (_debugLocks && t.HeldLocks.Count > 0 && !cpu.HardirqsOff)
        {
            MarkHeldLocks(t, cpu, LockUsage.SoftirqOnW, site);
        }
    }

    // ---------------- might_sleep ----------------

    /// <summary>Reports a call that may sleep from atomic context (CONFIG_DEBUG_ATOMIC_SLEEP, independent of lockdep).</summary>
    internal void MightSleep(TaskStruct t, in CodeSite site)
    {
        var cpu = t.Cpu!;
        if (cpu.PreemptCountValue == 0 && !cpu.HardirqsOff && t.RcuReadDepth == 0)
        {
            return;
        }

        var where = site.ToString();
        // The kernel rate-limits this splat; one per call site keeps logs readable.
        _graph.Lock();
        var first = _sleepSites.Add(where);
        _graph.Unlock();
        if (!first)
        {
            return;
        }

        var sb = new StringBuilder();
        sb.Append("BUG: sleeping function called from invalid context at ").Append(where).Append('\n');
        sb.Append("in_atomic(): ").Append(cpu.InAtomic ? 1 : 0).Append(", irqs_disabled(): ").Append(cpu.IrqsDisabled ? 1 : 0)
            .Append(", non_block: 0, pid: ").Append(t.Pid).Append(", name: ").Append(t.Comm).Append('\n');
        sb.Append("preempt_count: ").Append(cpu.PreemptCountValue.ToString("x", System.Globalization.CultureInfo.InvariantCulture)).Append(", expected: 0\n");
        sb.Append("RCU nest depth: ").Append(t.RcuReadDepth).Append(", expected: 0\n");
        AppendHeldLocks(sb, t);
        AppendIrqEvents(sb, cpu);
        if (t.HeldLocks.Count > 0)
        {
            sb.Append("Preemption disabled at:\n").Append(t.HeldLocks[^1].Site.Op).Append(" at ").Append(t.HeldLocks[^1].Site).Append('\n');
        }

        AppendBacktrace(sb, t, cpu);
        _machine.Report(ReportKind.SleepInAtomic, sb.ToString());
    }

    // ---------------- usage ----------------

    private void MarkUsageOnAcquire(TaskStruct t, Cpu cpu, ILockdepMap map, LockClass cls, in CodeSite site, bool read)
    {
        var wanted = LockUsage.Used;
        if (cpu.InHardirq)
        {
            wanted |= read ? LockUsage.InHardirqR : LockUsage.InHardirqW;
        }

        if (cpu.InServingSoftirq)
        {
            wanted |= read ? LockUsage.InSoftirqR : LockUsage.InSoftirqW;
        }

        if (!cpu.HardirqsOff)
        {
            wanted |= read ? LockUsage.HardirqOnR : LockUsage.HardirqOnW;
            if (cpu.SoftirqsEnabled)
            {
                wanted |= read ? LockUsage.SoftirqOnR : LockUsage.SoftirqOnW;
            }
        }

        if ((cls.Usage & wanted) == wanted)
        {
            return;
        }

        foreach (var bit in s_bitsInOrder)
        {
            if ((wanted & bit) != 0 && (cls.Usage & bit) == 0 && !MarkLock(t, cpu, map, cls, bit, site, acquiring: true))
            {
                return;
            }
        }

        cls.TrySetUsage(LockUsage.Used);
    }

    private static readonly LockUsage[] s_bitsInOrder =
    [
        LockUsage.InHardirqW, LockUsage.InHardirqR, LockUsage.HardirqOnW, LockUsage.HardirqOnR,
        LockUsage.InSoftirqW, LockUsage.InSoftirqR, LockUsage.SoftirqOnW, LockUsage.SoftirqOnR,
    ];

    private void MarkHeldLocks(TaskStruct t, Cpu cpu, LockUsage writeBit, in CodeSite site)
    {
        foreach (var h in t.HeldLocks.ToArray())
        {
            var bit = h.Read ? writeBit.ReadVariant() : writeBit;
            if ((h.Class.Usage & bit) == 0 && !MarkLock(t, cpu, h.Lock, h.Class, bit, site, acquiring: false))
            {
                return;
            }
        }
    }

    /// <summary>Sets one usage bit after checking it against the exclusive bits (mark_lock_irq()).</summary>
    private bool MarkLock(TaskStruct t, Cpu cpu, ILockdepMap map, LockClass cls, LockUsage bit, in CodeSite site, bool acquiring)
    {
        var excl = bit.Exclusive();
        var trace = new UsageTrace(site, t.ToString(), cpu.ContextTuple, CaptureWithIrq(t));

        // Check and set under the graph lock, so that two CPUs registering conflicting first
        // uses at the same moment cannot both pass the check.
        var bad = LockUsage.None;
        _graph.Lock();
        try
        {
            var usage = cls.Usage;
            if ((usage & excl) != 0)
            {
                bad = excl;
            }
            else if (!bit.IsRead() && (usage & excl.ReadVariant()) != 0)
            {
                bad = excl.ReadVariant();
            }
            else if (!cls.TrySetUsage(bit))
            {
                return true;
            }
            else
            {
                cls.UsageTraces.TryAdd(bit, trace);
            }
        }
        finally
        {
            _graph.Unlock();
        }

        if (bad != LockUsage.None)
        {
            PrintUsageBug(t, cpu, map, cls, bad, bit, site, acquiring);
            return false;
        }

        // The new state may conflict with a lock reachable through recorded dependencies.
        return CheckIrqInversion(t, cpu, map, cls, bit, site);
    }

    private bool CheckIrqInversion(TaskStruct t, Cpu cpu, ILockdepMap map, LockClass cls, LockUsage bit, in CodeSite site)
    {
        var excl = bit.Exclusive();
        var mask = excl | excl.ReadVariant();
        LockClass? other;
        _graph.Lock();
        try
        {
            other = bit.IsUsedIn() ? FindReachable(cls, c => (c.Usage & mask) != 0, forwards: true)
                                   : FindReachable(cls, c => (c.Usage & mask) != 0, forwards: false);
        }
        finally
        {
            _graph.Unlock();
        }

        if (other is null || other == cls)
        {
            return true;
        }

        var state = bit.IsHardirq() ? "HARDIRQ" : "SOFTIRQ";
        var forwards = bit.IsUsedIn();
        var siteCopy = site;
        Report(t, "WARNING: possible irq lock inversion dependency detected", sb =>
        {
            sb.Append(t).Append(' ').Append(cpu.ContextTuple).Append(" just changed the state of lock:\n");
            sb.Append(LockLine(map, cls)).Append(", at: ").Append(siteCopy).Append('\n');
            sb.Append(forwards ? "but this lock took another, " : "but this lock was taken by another, ")
                .Append(state).Append(forwards ? "-unsafe lock in the past:\n" : "-safe lock in the past:\n");
            sb.Append(" (").Append(other.Name).Append(')').Append(other.UsageString).Append('-').Append(other.WaitType).Append("\n\n");
            sb.Append("\nand interrupts could create inverse lock ordering between them.\n\n");
            sb.Append("\nother info that might help us debug this:\n");
            var safe = forwards ? cls : other;
            var unsafeCls = forwards ? other : cls;
            AppendIrqScenario(sb, safe, unsafeCls);
            AppendHeldLocks(sb, t);
            AppendUsageTrace(sb, other, excl, "the shortest dependencies between 2nd lock and 1st lock");
        }, cpu);
        return false;
    }

    private void PrintUsageBug(TaskStruct t, Cpu cpu, ILockdepMap map, LockClass cls, LockUsage prevBit, LockUsage newBit, CodeSite site, bool acquiring)
    {
        Report(t, "WARNING: inconsistent lock state", sb =>
        {
            sb.Append("inconsistent {").Append(prevBit.Name()).Append("} -> {").Append(newBit.Name()).Append("} usage.\n");
            sb.Append(t).Append(' ').Append(cpu.ContextTuple).Append(acquiring ? " takes:\n" : " has just enabled interrupts while holding:\n");
            sb.Append(LockLine(map, cls, withNewBit: newBit)).Append(", at: ").Append(site).Append('\n');
            AppendUsageTrace(sb, cls, prevBit, null);
            AppendIrqEvents(sb, cpu);
            sb.Append("\nother info that might help us debug this:\n");
            sb.Append(" Possible unsafe locking scenario:\n\n");
            sb.Append("       CPU0\n");
            sb.Append("       ----\n");
            sb.Append("  lock(").Append(cls.Name).Append(");\n");
            sb.Append("  <Interrupt>\n");
            sb.Append("    lock(").Append(cls.Name).Append(");\n");
            sb.Append("\n *** DEADLOCK ***\n\n");
            AppendHeldLocks(sb, t);
        }, cpu);
    }

    // ---------------- dependencies ----------------

    private void CheckDependencies(TaskStruct t, Cpu cpu, ILockdepMap map, LockClass cls, CodeSite site, bool read, int ctx)
    {
        var held = t.HeldLocks;
        if (held.Count == 0)
        {
            return;
        }

        // Chain key of the same-context held classes plus the new one.
        var key = 14695981039346656037UL;
        for (var i = held.Count - 1; i >= 0 && held[i].IrqContext == ctx; i--)
        {
            key = (key ^ (ulong)held[i].Class.Key.Id) * 1099511628211UL;
        }

        key = (key ^ ((ulong)cls.Key.Id << 1) ^ (read ? 1UL : 0UL)) * 1099511628211UL;
        _graph.Lock();
        try
        {
            if (_chains.Contains(key))
            {
                return;
            }
        }
        finally
        {
            _graph.Unlock();
        }

        for (var i = held.Count - 1; i >= 0; i--)
        {
            var h = held[i];
            if (h.IrqContext != ctx)
            {
                break;
            }

            if (h.Class == cls && !(read && h.Read))
            {
                PrintRecursive(t, cpu, map, cls, h, site);
                return;
            }
        }

        for (var i = held.Count - 1; i >= 0; i--)
        {
            var h = held[i];
            if (h.IrqContext != ctx)
            {
                break;
            }

            if (!AddDependency(t, cpu, h, map, cls, site))
            {
                return;
            }

            // A trylock added no dependency of its own, so the lock below it still must.
            if (!h.Trylock)
            {
                break;
            }
        }

        _graph.Lock();
        try
        {
            _chains.Add(key);
        }
        finally
        {
            _graph.Unlock();
        }
    }

    private bool AddDependency(TaskStruct t, Cpu cpu, HeldLock prev, ILockdepMap nextMap, LockClass next, CodeSite nextSite)
    {
        List<LockDependency>? cycle;
        LockClass? safeHolder = null, unsafeTarget = null;
        _graph.Lock();
        try
        {
            if (prev.Class.After.ContainsKey(next))
            {
                return true;
            }

            cycle = FindPath(next, prev.Class);
            if (cycle is null)
            {
                foreach (var (safeBit, unsafeMask) in s_irqPairs)
                {
                    safeHolder = FindReachable(prev.Class, c => (c.Usage & safeBit) != 0, forwards: false);
                    unsafeTarget = safeHolder is null ? null : FindReachable(next, c => (c.Usage & unsafeMask) != 0, forwards: true);
                    if (unsafeTarget is not null)
                    {
                        break;
                    }

                    safeHolder = null;
                }

                if (safeHolder is null)
                {
                    var dep = new LockDependency(prev.Class, next, prev.Site, nextSite, t.ToString(), KernelStack.Capture());
                    prev.Class.After.Add(next, dep);
                    next.Before.Add(prev.Class);
                    return true;
                }
            }
        }
        finally
        {
            _graph.Unlock();
        }

        if (cycle is not null)
        {
            PrintCircular(t, cpu, prev, nextMap, next, nextSite, cycle);
        }
        else
        {
            PrintSafeToUnsafe(t, cpu, prev, nextMap, next, nextSite, safeHolder!, unsafeTarget!);
        }

        return false;
    }

    private static readonly (LockUsage Safe, LockUsage UnsafeMask)[] s_irqPairs =
    [
        (LockUsage.InHardirqW | LockUsage.InHardirqR, LockUsage.HardirqOnW | LockUsage.HardirqOnR),
        (LockUsage.InSoftirqW | LockUsage.InSoftirqR, LockUsage.SoftirqOnW | LockUsage.SoftirqOnR),
    ];

    /// <summary>Breadth-first search for a class matching <paramref name="match"/>, starting at (and including) <paramref name="from"/>.</summary>
    private static LockClass? FindReachable(LockClass from, Func<LockClass, bool> match, bool forwards)
    {
        var seen = new HashSet<LockClass> { from };
        var queue = new Queue<LockClass>();
        queue.Enqueue(from);
        while (queue.Count > 0)
        {
            var c = queue.Dequeue();
            if (match(c))
            {
                return c;
            }

            IEnumerable<LockClass> next = forwards ? c.After.Keys : c.Before;
            foreach (var n in next)
            {
                if (seen.Add(n))
                {
                    queue.Enqueue(n);
                }
            }
        }

        return null;
    }

    /// <summary>The dependency path from → to, or null.</summary>
    private static List<LockDependency>? FindPath(LockClass from, LockClass to)
    {
        var parent = new Dictionary<LockClass, LockDependency>();
        var queue = new Queue<LockClass>();
        queue.Enqueue(from);
        var seen = new HashSet<LockClass> { from };
        while (queue.Count > 0)
        {
            var c = queue.Dequeue();
            if (c == to)
            {
                var path = new List<LockDependency>();
                while (c != from)
                {
                    var d = parent[c];
                    path.Add(d);
                    c = d.From;
                }

                path.Reverse();
                return path;
            }

            foreach (var (n, dep) in c.After)
            {
                if (seen.Add(n))
                {
                    parent[n] = dep;
                    queue.Enqueue(n);
                }
            }
        }

        return from == to ? [] : null;
    }

    private void PrintRecursive(TaskStruct t, Cpu cpu, ILockdepMap map, LockClass cls, HeldLock prev, CodeSite site)
    {
        Report(t, "WARNING: possible recursive locking detected", sb =>
        {
            sb.Append(t).Append(" is trying to acquire lock:\n");
            sb.Append(LockLine(map, cls)).Append(", at: ").Append(site).Append("\n\n");
            sb.Append("but task is already holding lock:\n");
            sb.Append(LockLine(prev.Lock, prev.Class)).Append(", at: ").Append(prev.Site).Append("\n\n");
            sb.Append("other info that might help us debug this:\n");
            sb.Append(" Possible unsafe locking scenario:\n\n");
            sb.Append("       CPU0\n       ----\n");
            sb.Append("  lock(").Append(cls.Name).Append(");\n");
            sb.Append("  lock(").Append(cls.Name).Append(");\n");
            sb.Append("\n *** DEADLOCK ***\n\n");
            sb.Append(" May be due to missing lock nesting notation\n\n");
            AppendHeldLocks(sb, t);
        }, cpu);
    }

    private void PrintCircular(TaskStruct t, Cpu cpu, HeldLock prev, ILockdepMap nextMap, LockClass next, CodeSite nextSite, List<LockDependency> cycle)
    {
        Report(t, "WARNING: possible circular locking dependency detected", sb =>
        {
            sb.Append(t).Append(" is trying to acquire lock:\n");
            sb.Append(LockLine(nextMap, next)).Append(", at: ").Append(nextSite).Append("\n\n");
            sb.Append("but task is already holding lock:\n");
            sb.Append(LockLine(prev.Lock, prev.Class)).Append(", at: ").Append(prev.Site).Append("\n\n");
            sb.Append("which lock already depends on the new lock.\n\n\n");
            sb.Append("the existing dependency chain (in reverse order) is:\n");
            var n = cycle.Count;
            sb.Append("\n-> #").Append(n).Append(" (").Append(prev.Class.Name).Append(')').Append(prev.Class.UsageString).Append('-').Append(prev.Class.WaitType).Append(":\n");
            sb.Append("       lock_acquire\n       ").Append(prev.Site.Op).Append('\n');
            sb.Append("       ").Append(prev.Site).Append('\n');
            for (var i = cycle.Count - 1; i >= 0; i--)
            {
                var d = cycle[i];
                sb.Append("\n-> #").Append(i).Append(" (").Append(d.From.Name).Append(')').Append(d.From.UsageString).Append('-').Append(d.From.WaitType).Append(":\n");
                sb.Append("       lock_acquire\n       ").Append(d.ToSite.Op).Append('\n');
                sb.Append("       ").Append(d.ToSite).Append("   [").Append(d.To.Name).Append(" taken while holding ").Append(d.From.Name).Append(" by ").Append(d.Task).Append("]\n");
                foreach (var f in d.Stack)
                {
                    sb.Append("       ").Append(f).Append('\n');
                }
            }

            sb.Append("\nother info that might help us debug this:\n\n");
            sb.Append(" Possible unsafe locking scenario:\n\n");
            sb.Append("       CPU0                    CPU1\n");
            sb.Append("       ----                    ----\n");
            sb.Append("  lock(").Append(next.Name).Append(");\n");
            sb.Append("                               lock(").Append(prev.Class.Name).Append(");\n");
            sb.Append("                               lock(").Append(next.Name).Append(");\n");
            sb.Append("  lock(").Append(prev.Class.Name).Append(");\n");
            sb.Append("\n *** DEADLOCK ***\n\n");
            AppendHeldLocks(sb, t);
        }, cpu);
    }

    private void PrintSafeToUnsafe(TaskStruct t, Cpu cpu, HeldLock prev, ILockdepMap nextMap, LockClass next, CodeSite nextSite, LockClass safe, LockClass unsafeCls)
    {
        var hard = safe.IsHardirqSafe && unsafeCls.IsHardirqUnsafe;
        var state = hard ? "HARDIRQ" : "SOFTIRQ";
        Report(t, $"WARNING: {state}-safe -> {state}-unsafe lock order detected", sb =>
        {
            sb.Append(t).Append(' ').Append(cpu.ContextTuple).Append(" is trying to acquire:\n");
            sb.Append(LockLine(nextMap, next)).Append(", at: ").Append(nextSite).Append("\n\n");
            sb.Append("and this task is already holding:\n");
            sb.Append(LockLine(prev.Lock, prev.Class)).Append(", at: ").Append(prev.Site).Append('\n');
            sb.Append("which would create a new lock dependency:\n");
            sb.Append(" (").Append(prev.Class.Name).Append(')').Append(prev.Class.UsageString).Append(" -> (").Append(next.Name).Append(')').Append(next.UsageString).Append("\n\n");
            sb.Append("but this new dependency connects a ").Append(state).Append("-irq-safe lock:\n");
            sb.Append(" (").Append(safe.Name).Append(')').Append(safe.UsageString).Append('\n');
            AppendUsageTrace(sb, safe, hard ? LockUsage.InHardirqW : LockUsage.InSoftirqW, "... which became " + state + "-irq-safe at:");
            sb.Append("\nto a ").Append(state).Append("-irq-unsafe lock:\n");
            sb.Append(" (").Append(unsafeCls.Name).Append(')').Append(unsafeCls.UsageString).Append('\n');
            AppendUsageTrace(sb, unsafeCls, hard ? LockUsage.HardirqOnW : LockUsage.SoftirqOnW, "... which became " + state + "-irq-unsafe at:");
            sb.Append("\nother info that might help us debug this:\n\n");
            AppendIrqScenario(sb, safe, unsafeCls);
            AppendHeldLocks(sb, t);
        }, cpu);
    }

    // ---------------- report plumbing ----------------

    private static void AppendIrqScenario(StringBuilder sb, LockClass safe, LockClass unsafeCls)
    {
        sb.Append(" Possible interrupt unsafe locking scenario:\n\n");
        sb.Append("       CPU0                    CPU1\n");
        sb.Append("       ----                    ----\n");
        sb.Append("  lock(").Append(unsafeCls.Name).Append(");\n");
        sb.Append("                               local_irq_disable();\n");
        sb.Append("                               lock(").Append(safe.Name).Append(");\n");
        sb.Append("                               lock(").Append(unsafeCls.Name).Append(");\n");
        sb.Append("  <Interrupt>\n");
        sb.Append("    lock(").Append(safe.Name).Append(");\n");
        sb.Append("\n *** DEADLOCK ***\n\n");
    }

    private static void AppendUsageTrace(StringBuilder sb, LockClass cls, LockUsage bit, string? header)
    {
        if (!cls.UsageTraces.TryGetValue(bit, out var trace) && !cls.UsageTraces.TryGetValue(bit.ReadVariant(), out trace))
        {
            sb.Append(header ?? "{" + bit.Name() + "} state was registered at:").Append("\n  (not recorded)\n");
            return;
        }

        sb.Append(header ?? "{" + bit.Name() + "} state was registered at:").Append('\n');
        sb.Append("  lock_acquire\n  ").Append(trace.Site.Op).Append('\n');
        sb.Append("  ").Append(trace.Site).Append('\n');
        foreach (var f in trace.Stack)
        {
            sb.Append("  ").Append(f).Append('\n');
        }

        sb.Append("  [").Append(trace.Task).Append(' ').Append(trace.Context).Append("]\n");
    }

    internal static string LockLine(ILockdepMap map, LockClass cls, LockUsage withNewBit = LockUsage.None)
    {
        var usage = cls.UsageString;
        if (withNewBit != LockUsage.None)
        {
            // lockdep prints the usage as it would be with the new bit: '?' marks the conflict.
            var merged = new LockClass(cls.Key, cls.WaitType, 1);
            merged.TrySetUsage(cls.Usage | withNewBit);
            usage = merged.UsageString;
        }

        return $"{map.Address:x16} ({cls.Name}){usage}-{cls.WaitType}";
    }

    internal static void AppendHeldLocks(StringBuilder sb, TaskStruct t)
    {
        var held = t.HeldLocks;
        if (held.Count == 0)
        {
            sb.Append("no locks held by ").Append(t).Append(".\n");
            return;
        }

        sb.Append(held.Count).Append(held.Count == 1 ? " lock held by " : " locks held by ").Append(t).Append(":\n");
        for (var i = 0; i < held.Count; i++)
        {
            sb.Append(" #").Append(i).Append(": ").Append(LockLine(held[i].Lock, held[i].Class)).Append(", at: ").Append(held[i].Site).Append('\n');
        }
    }

    private static void AppendIrqEvents(StringBuilder sb, Cpu cpu)
    {
        sb.Append("irq event stamp: ").Append(cpu.IrqEventStamp).Append('\n');
        sb.Append("hardirqs last  enabled at (").Append(cpu.HardirqOnEvent.Stamp).Append("): ").Append(cpu.HardirqOnEvent.Site).Append('\n');
        sb.Append("hardirqs last disabled at (").Append(cpu.HardirqOffEvent.Stamp).Append("): ").Append(cpu.HardirqOffEvent.Site).Append('\n');
        sb.Append("softirqs last  enabled at (").Append(cpu.SoftirqOnEvent.Stamp).Append("): ").Append(cpu.SoftirqOnEvent.Site).Append('\n');
        sb.Append("softirqs last disabled at (").Append(cpu.SoftirqOffEvent.Stamp).Append("): ").Append(cpu.SoftirqOffEvent.Site).Append('\n');
    }

    internal static void AppendBacktrace(StringBuilder sb, TaskStruct t, Cpu cpu)
    {
        sb.Append("\nstack backtrace:\n");
        sb.Append("CPU: ").Append(cpu.Id).Append(" UID: 0 PID: ").Append(t.Pid).Append(" Comm: ").Append(t.Comm)
            .Append(" Not tainted ").Append(Machine.KernelRelease).Append(" #1\n");
        sb.Append("Call Trace:\n");
        var inIrq = t.IrqNames.Count > 0;
        sb.Append(inIrq ? " <IRQ>\n" : " <TASK>\n");
        foreach (var f in KernelStack.Capture())
        {
            sb.Append("  ").Append(f).Append('\n');
        }

        if (inIrq)
        {
            sb.Append("  handle_irq <").Append(t.IrqNames.Peek()).Append(">\n </IRQ>\n");
        }
        else
        {
            sb.Append(" </TASK>\n");
        }
    }

    private static IReadOnlyList<string> CaptureWithIrq(TaskStruct t)
    {
        var stack = KernelStack.Capture(12);
        if (t.IrqNames.Count == 0)
        {
            return stack;
        }

        var list = new List<string>(stack) { "handle_irq <" + t.IrqNames.Peek() + ">" };
        return list;
    }

    private void Report(TaskStruct t, string title, Action<StringBuilder> body, Cpu? cpu = null)
    {
        // debug_locks_off(): the first report stops validation, as in the kernel.
        _debugLocks = false;
        var sb = new StringBuilder();
        var rule = new string('=', Math.Max(32, title.Length));
        var dash = new string('-', rule.Length);
        sb.Append(rule).Append('\n').Append(title).Append('\n').Append(Machine.KernelRelease).Append(" #1 Not tainted\n").Append(dash).Append('\n');
        body(sb);
        if (cpu is not null)
        {
            AppendBacktrace(sb, t, cpu);
        }

        sb.Append("turning off the locking correctness validator.\n");
        _machine.Report(ReportKind.Lockdep, sb.ToString());
    }
}
