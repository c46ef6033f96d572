using System.Threading;
using System.Runtime.CompilerServices;

namespace Writeback.Kernel;

/// <summary>A sleeping reader-writer semaphore: many readers or one writer.</summary>
/// <remarks>Kernel: struct rw_semaphore, kernel/locking/rwsem.c. Model: a reader waits while a
/// writer holds the semaphore or waits for it (writers are not starved), which is the fairness
/// the kernel's handoff gives in practice; no optimistic spinning; read hold times are not
/// measured (only read acquisitions and waits).</remarks>
public sealed class RwSemaphore : ILockdepMap
{
    private static long s_nextAddress;
    private readonly WaitQueueHead _wait = new(LockClassKey.ForName("&sem->wait_lock"));
    private int _readers;
    private int _writersWaiting;
    private TaskStruct? _writer;
    private long _writeAcquiredAtNs;
    private LockClass? _class;
    private Machine? _classMachine;

    /// <summary>Creates a semaphore of the given class.</summary>
    // What a sleeper waits for, made once rather than on every acquisition.
    private readonly string _downReadWhat;
    private readonly string _downWriteWhat;

    public RwSemaphore(LockClassKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        Key = key;
        _downReadWhat = "down_read " + key.Name;
        _downWriteWhat = "down_write " + key.Name;
        Address = 0xffff888200000000UL + ((ulong)Interlocked.Increment(ref s_nextAddress) * 0x40UL);
    }

    /// <summary>Creates a semaphore whose class is the shared class of that name.</summary>
    public RwSemaphore(string className) : this(LockClassKey.ForName(className))
    {
    }

    /// <inheritdoc/>
    public LockClassKey Key { get; }

    /// <inheritdoc/>
    public string WaitType => "{4:4}";

    /// <inheritdoc/>
    public ulong Address { get; }

    /// <summary>Readers holding the semaphore.</summary>
    public int Readers => Volatile.Read(ref _readers);

    /// <summary>The writer holding the semaphore, or null.</summary>
    public TaskStruct? Writer => Volatile.Read(ref _writer);

    /// <summary>Acquires for reading.</summary>
    /// <remarks>Kernel: down_read(). Context: Process context. May sleep.</remarks>
    public void DownRead([CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = Current.Task;
        var site = new CodeSite(caller, file, line, "down_read");
        var cls = SleepingLockCore.ClassFor(this, t.Machine, ref _class, ref _classMachine);
        SleepingLockCore.BeforeAcquire(t, this, cls, site, read: true);
        var start = t.Cpu!.Now;
        var contended = false;
        _wait.WaitLocked(() =>
        {
            if (_writer is null && _writersWaiting == 0)
            {
                _readers++;
                return true;
            }

            contended = true;
            return false;
        }, exclusive: false, _downReadWhat);
        SleepingLockCore.Acquired(t, cls, read: true, start, contended, site);
    }

    /// <summary>Releases a read hold.</summary>
    /// <remarks>Kernel: up_read(). Context: Process context.</remarks>
    public void UpRead()
    {
        var t = Current.Task;
        var cls = SleepingLockCore.ClassFor(this, t.Machine, ref _class, ref _classMachine);
        SleepingLockCore.Released(t, this, cls, read: true, acquiredAtNs: -1);
        _wait.UpdateAndWake(() =>
        {
            if (_readers <= 0)
            {
                Bug.Fail($"up_read: {Key.Name} has no readers");
            }
            _readers--;
        }, int.MaxValue);
    }

    /// <summary>Acquires for writing.</summary>
    /// <remarks>Kernel: down_write(). Context: Process context. May sleep.</remarks>
    public void DownWrite([CallerMemberName] string caller = "", [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = Current.Task;
        var site = new CodeSite(caller, file, line, "down_write");
        var cls = SleepingLockCore.ClassFor(this, t.Machine, ref _class, ref _classMachine);
        SleepingLockCore.BeforeAcquire(t, this, cls, site, read: false);
        var start = t.Cpu!.Now;
        var contended = false;
        var counted = false;
        _wait.WaitLocked(() =>
        {
            if (_writer is null && _readers == 0)
            {
                if (counted)
                {
                    _writersWaiting--;
                }

                _writer = t;
                return true;
            }

            if (!counted)
            {
                counted = true;
                _writersWaiting++;
            }

            contended = true;
            return false;
        }, exclusive: false, _downWriteWhat);
        SleepingLockCore.Acquired(t, cls, read: false, start, contended, site);
        _writeAcquiredAtNs = t.Cpu!.Now;
    }

    /// <summary>Releases the write hold.</summary>
    /// <remarks>Kernel: up_write(). Context: Process context. Caller holds the semaphore for writing.</remarks>
    public void UpWrite()
    {
        var t = Current.Task;
        if (_writer != t)
        {
            Bug.Fail($"up_write: {Key.Name} is not held for writing by {t}");
        }
        var cls = SleepingLockCore.ClassFor(this, t.Machine, ref _class, ref _classMachine);
        SleepingLockCore.Released(t, this, cls, read: false, _writeAcquiredAtNs);
        _wait.UpdateAndWake(() => _writer = null, int.MaxValue);
    }
}
