namespace Writeback.Kernel;

/// <summary>One entry of a task's held-lock stack.</summary>
/// <remarks>Kernel: struct held_lock in include/linux/lockdep_types.h.</remarks>
internal sealed class HeldLock(ILockdepMap lockObj, LockClass cls, CodeSite site, bool read, bool trylock, int irqContext, long acquiredAtNs)
{
    public ILockdepMap Lock { get; } = lockObj;

    public LockClass Class { get; } = cls;

    public CodeSite Site { get; } = site;

    public bool Read { get; } = read;

    public bool Trylock { get; } = trylock;

    /// <summary>Interrupt nesting when acquired (0 task, 1 softirq, 2 hardirq): dependencies are only recorded within one context.</summary>
    public int IrqContext { get; } = irqContext;

    public long AcquiredAtNs { get; } = acquiredAtNs;
}
