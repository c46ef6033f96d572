using System.Threading;
namespace Writeback.Kernel;

/// <summary>The static identity of a lock class, shared by every lock initialised with it.</summary>
/// <remarks>Kernel: struct lock_class_key. Each <see cref="Machine"/> keeps its own
/// <see cref="LockClass"/> state per key, so that machines running side by side (as tests do)
/// never see each other's lock history.</remarks>
public sealed class LockClassKey
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, LockClassKey> s_byName = new(StringComparer.Ordinal);
    private static int s_nextId;

    /// <summary>The shared key for a class name: every lock created with the same name is one class.</summary>
    public static LockClassKey ForName(string name) => s_byName.GetOrAdd(name, n => new LockClassKey(n));

    /// <summary>Creates a key with the name reports print, such as <c>&amp;mapping-&gt;i_pages</c>.</summary>
    public LockClassKey(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        Id = Interlocked.Increment(ref s_nextId);
    }

    /// <summary>The class name.</summary>
    public string Name { get; }

    internal int Id { get; }

    /// <inheritdoc/>
    public override string ToString() => Name;
}
