namespace Writeback.Kernel;

/// <summary>One entry of a task's held-lock stack.</summary>
/// <remarks>Kernel: struct held_lock in include/linux/lockdep_types.h. A value type, so that
/// tracking an acquisition allocates nothing.</remarks>
/// <param name="Lock">The lock instance.</param>
/// <param name="Class">Its class on this machine.</param>
/// <param name="Site">Where it was acquired.</param>
/// <param name="Read">A read acquisition (rw semaphores).</param>
/// <param name="Trylock">Acquired by a trylock.</param>
/// <param name="IrqContext">Interrupt nesting when acquired (0 task, 1 softirq, 2 hardirq): dependencies are only recorded within one context.</param>
internal readonly record struct HeldLock(ILockdepMap Lock, LockClass Class, CodeSite Site, bool Read, bool Trylock, int IrqContext);
