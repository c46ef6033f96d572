namespace Writeback.Kernel;

/// <summary>What mutexes and rw semaphores share: the class, lockdep and lock_stat bookkeeping around a sleeping wait.</summary>
internal static class SleepingLockCore
{
    public static LockClass ClassFor(ILockdepMap map, Machine m, ref LockClass? cache, ref Machine? cacheMachine)
    {
        if (cache is not null && ReferenceEquals(cacheMachine, m))
        {
            return cache;
        }

        cache = m.Lockdep.ClassOf(map.Key, map.WaitType);
        cacheMachine = m;
        return cache;
    }

    /// <summary>Validates and records an acquisition about to happen (lock_acquire()).</summary>
    public static void BeforeAcquire(TaskStruct t, ILockdepMap map, LockClass cls, in CodeSite site, bool read)
    {
        var m = t.Machine;
        m.Lockdep.MightSleep(t, site);
        var cpu = t.Cpu!;
        m.Engine.Charge(cpu, m.Options.Costs.SpinLockNs);
        m.Engine.Yield(t);
        if (m.LockdepActive)
        {
            m.Lockdep.Acquire(t, cpu, map, cls, site, read, trylock: false);
        }
    }

    public static void Acquired(TaskStruct t, LockClass cls, bool read, long waitStartNs, bool contended, in CodeSite site)
    {
        var m = t.Machine;
        if (!m.Options.LockStat)
        {
            return;
        }

        var cpu = t.Cpu!;
        var s = cls.StatsFor(cpu.Id, read);
        s.Acquisitions++;
        if (contended)
        {
            s.Contentions++;
            s.Wait.Record(cpu.Now - waitStartNs);
            var point = site.ToString();
            s.ContentionPoints[point] = s.ContentionPoints.GetValueOrDefault(point) + 1;
        }
    }

    public static void Released(TaskStruct t, ILockdepMap map, LockClass cls, bool read, long acquiredAtNs)
    {
        var m = t.Machine;
        if (m.LockdepActive)
        {
            m.Lockdep.Release(t, map);
        }

        // A negative start means the hold time is not known (rwsem readers are not tracked per task).
        if (m.Options.LockStat && acquiredAtNs >= 0)
        {
            var cpu = t.Cpu!;
            cls.StatsFor(cpu.Id, read).Hold.Record(cpu.Now - acquiredAtNs);
        }
    }
}
