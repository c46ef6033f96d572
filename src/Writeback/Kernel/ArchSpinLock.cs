using System.Threading;
namespace Writeback.Kernel;

/// <summary>A raw test-and-set lock for the runtime's own bookkeeping (lockdep's graph lock),
/// invisible to lockdep and lock_stat, as arch_spinlock_t is.</summary>
/// <remarks>Kernel: arch_spinlock_t. Never contended on the deterministic engine, which runs one
/// thread at a time, so it cannot perturb a schedule.</remarks>
internal struct ArchSpinLock
{
    private int _held;

    public void Lock()
    {
        if (Interlocked.CompareExchange(ref _held, 1, 0) == 0)
        {
            return;
        }

        var spinner = default(SpinWait);
        while (Volatile.Read(ref _held) != 0 || Interlocked.CompareExchange(ref _held, 1, 0) != 0)
        {
            spinner.SpinOnce();
        }
    }

    public void Unlock() => Volatile.Write(ref _held, 0);
}
