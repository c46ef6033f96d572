using System.Threading;
using System.Runtime.CompilerServices;

namespace Writeback.Kernel;

/// <summary>A sleeping mutual-exclusion lock with an owner.</summary>
/// <remarks>Kernel: struct mutex, kernel/locking/mutex.c. Model: waiters queue in FIFO order and
/// the woken waiter retries, as the kernel's slow path does; no optimistic spinning.</remarks>
public sealed class Mutex : ILockdepMap
{
    private static long s_nextAddress;
    private readonly WaitQueueHead _wait = new(LockClassKey.ForName("&lock->wait_lock"));
    private TaskStruct? _owner;
    private long _acquiredAtNs;
    private LockClass? _class;
    private Machine? _classMachine;

    // What a sleeper waits for, made once rather than on every acquisition.
    private readonly string _lockWhat;

    /// <summary>Creates a mutex of the given class.</summary>
    public Mutex(LockClassKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        Key = key;
        _lockWhat = "mutex_lock " + key.Name;
        Address = 0xffff888100000000UL + ((ulong)Interlocked.Increment(ref s_nextAddress) * 0x40UL);
    }

    /// <summary>Creates a mutex whose class is the shared class of that name.</summary>
    public Mutex(string className) : this(LockClassKey.ForName(className))
    {
    }

    /// <inheritdoc/>
    public LockClassKey Key { get; }

    /// <inheritdoc/>
    public string WaitType => "{4:4}";

    /// <inheritdoc/>
    public ulong Address { get; }

    /// <summary>The owning task, or null.</summary>
    public TaskStruct? Owner => Volatile.Read(ref _owner);

    /// <summary>True while held (mutex_is_locked()).</summary>
    public bool IsLocked => Owner is not null;

    /// <summary>Acquires the mutex, sleeping while another task holds it.</summary>
    /// <remarks>Kernel: mutex_lock(). Context: Process context. May sleep. Acquires the mutex; caller releases it.</remarks>
    public void Lock([CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = Current.Task;
        var site = new CodeSite(caller, file, line, "mutex_lock_nested");
        var cls = SleepingLockCore.ClassFor(this, t.Machine, ref _class, ref _classMachine);
        SleepingLockCore.BeforeAcquire(t, this, cls, site, read: false);
        var start = t.Cpu!.Now;
        var contended = false;
        if (Interlocked.CompareExchange(ref _owner, t, null) is not null)
        {
            contended = true;
            if (_owner == t)
            {
                Bug.Fail($"mutex_lock: {Key.Name} already held by {t} (recursive locking)");
            }
            _wait.WaitLocked(() => Interlocked.CompareExchange(ref _owner, t, null) is null, exclusive: true, _lockWhat);
        }

        SleepingLockCore.Acquired(t, cls, read: false, start, contended, site);
        _acquiredAtNs = t.Cpu!.Now;
        t.Cpu!.Point(t, t.Machine.Options.Costs.PointNs);
    }

    /// <summary>Acquires the mutex if it is free.</summary>
    /// <remarks>Kernel: mutex_trylock(). Context: Process context.</remarks>
    public bool TryLock([CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = Current.Task;
        if (Interlocked.CompareExchange(ref _owner, t, null) is not null)
        {
            return false;
        }

        var site = new CodeSite(caller, file, line, "mutex_trylock");
        var cls = SleepingLockCore.ClassFor(this, t.Machine, ref _class, ref _classMachine);
        if (t.Machine.LockdepActive)
        {
            t.Machine.Lockdep.Acquire(t, t.Cpu!, this, cls, site, read: false, trylock: true);
        }

        SleepingLockCore.Acquired(t, cls, read: false, 0, contended: false, site);
        _acquiredAtNs = t.Cpu!.Now;
        return true;
    }

    /// <summary>Releases the mutex and wakes one waiter.</summary>
    /// <remarks>Kernel: mutex_unlock(). Context: Process context. Caller holds the mutex.</remarks>
    public void Unlock()
    {
        var t = Current.Task;
        if (_owner != t)
        {
            Bug.Fail($"mutex_unlock: {Key.Name} is not held by {t} (owner {_owner?.ToString() ?? "none"})");
        }
        var cls = SleepingLockCore.ClassFor(this, t.Machine, ref _class, ref _classMachine);
        SleepingLockCore.Released(t, this, cls, read: false, _acquiredAtNs);
        _wait.UpdateAndWake(() => Volatile.Write(ref _owner, null), 1);
    }

    /// <summary>Asserts that the current task holds the mutex.</summary>
    /// <remarks>Kernel: lockdep_assert_held().</remarks>
    public void AssertHeld()
    {
        if (Owner != Current.TaskOrNull)
        {
            Bug.Fail($"lockdep_assert_held: {Key.Name} is not held by the current task");
        }
    }
}
