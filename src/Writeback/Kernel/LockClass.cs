using System.Threading;
using System.Text;

namespace Writeback.Kernel;

/// <summary>One lock class on one machine: lockdep's usage bits and dependencies, and lock_stat's figures.</summary>
/// <remarks>Kernel: struct lock_class in include/linux/lockdep_types.h.</remarks>
public sealed class LockClass
{
    private readonly LockClassStats?[] _write;
    private readonly LockClassStats?[] _read;
    private int _usage;

    internal LockClass(LockClassKey key, string waitType, int cpus)
    {
        Key = key;
        WaitType = waitType;
        _write = new LockClassStats?[cpus];
        _read = new LockClassStats?[cpus];
    }

    /// <summary>The class key.</summary>
    public LockClassKey Key { get; }

    /// <summary>The class name.</summary>
    public string Name => Key.Name;

    /// <summary>Lockdep wait type, e.g. <c>{2:2}</c>.</summary>
    public string WaitType { get; }

    /// <summary>The usage bits recorded so far.</summary>
    public LockUsage Usage => (LockUsage)Volatile.Read(ref _usage);

    /// <summary>Where each usage bit was first registered: the site, the context, and the call chain.</summary>
    internal Dictionary<LockUsage, UsageTrace> UsageTraces { get; } = [];

    /// <summary>Direct dependencies this → other, with the sites that created them.</summary>
    internal Dictionary<LockClass, LockDependency> After { get; } = [];

    /// <summary>Reverse edges.</summary>
    internal HashSet<LockClass> Before { get; } = [];

    /// <summary>The usage string lockdep prints, such as <c>{?.-.}</c>.</summary>
    public string UsageString
    {
        get
        {
            var u = Usage;
            var sb = new StringBuilder(6);
            sb.Append('{')
                .Append(UsageChar(u, LockUsage.InHardirqW, LockUsage.HardirqOnW))
                .Append(UsageChar(u, LockUsage.InHardirqR, LockUsage.HardirqOnR))
                .Append(UsageChar(u, LockUsage.InSoftirqW, LockUsage.SoftirqOnW))
                .Append(UsageChar(u, LockUsage.InSoftirqR, LockUsage.SoftirqOnR))
                .Append('}');
            return sb.ToString();
        }
    }

    /// <summary>True if the class has been write- or read-acquired in hardirq context.</summary>
    public bool IsHardirqSafe => (Usage & (LockUsage.InHardirqW | LockUsage.InHardirqR)) != 0;

    /// <summary>True if the class has been acquired with hardirqs enabled.</summary>
    public bool IsHardirqUnsafe => (Usage & (LockUsage.HardirqOnW | LockUsage.HardirqOnR)) != 0;

    /// <summary>Write-side lock_stat figures merged over CPUs.</summary>
    public LockClassStats Stats => Merge(_write);

    /// <summary>Read-side lock_stat figures merged over CPUs (rw semaphores).</summary>
    public LockClassStats ReadStats => Merge(_read);

    internal LockClassStats StatsFor(int cpu, bool read)
    {
        var arr = read ? _read : _write;
        return arr[cpu] ??= new LockClassStats();
    }

    internal bool TrySetUsage(LockUsage bits)
    {
        int old, neu;
        do
        {
            old = Volatile.Read(ref _usage);
            neu = old | (int)bits;
            if (neu == old)
            {
                return false;
            }
        }
        while (Interlocked.CompareExchange(ref _usage, neu, old) != old);
        return true;
    }

    internal void ClearStats()
    {
        Array.Clear(_write);
        Array.Clear(_read);
    }

    /// <inheritdoc/>
    public override string ToString() => Name;

    private static char UsageChar(LockUsage u, LockUsage usedIn, LockUsage enabled)
    {
        var c = '.';
        if ((u & enabled) != 0)
        {
            c = '+';
        }

        if ((u & usedIn) != 0)
        {
            c = (u & enabled) != 0 ? '?' : '-';
        }

        return c;
    }

    private static LockClassStats Merge(LockClassStats?[] perCpu)
    {
        var sum = new LockClassStats();
        foreach (var s in perCpu)
        {
            if (s is not null)
            {
                sum.Add(s);
            }
        }

        return sum;
    }
}
