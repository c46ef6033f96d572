namespace Writeback.Kernel;

/// <summary>A lock instance lockdep and lock_stat know about.</summary>
/// <remarks>Kernel: struct lockdep_map.</remarks>
public interface ILockdepMap
{
    /// <summary>The lock's class key.</summary>
    LockClassKey Key { get; }

    /// <summary>The lock's wait type as lockdep prints it after the usage string (for example <c>{2:2}</c> for a spinlock, <c>{3:3}</c> for a mutex).</summary>
    string WaitType { get; }

    /// <summary>A stable pseudo-address for reports.</summary>
    ulong Address { get; }
}
