using System.Threading;
using Writeback.Kernel;

namespace Writeback.Fs.Buffer;

/// <summary>A cached metadata block: its bytes, hold count, lock and I/O state.</summary>
/// <remarks>Kernel: struct xfs_buf. The lock is a semaphore (b_sema), not a mutex: an
/// asynchronous write is submitted by one task and unlocked by its completion, wherever that
/// runs. Holds keep the buffer in the cache's index; the last release of a clean buffer moves
/// it to the reclaimable tier.</remarks>
public sealed class XfsBuf
{
    private static readonly LockClassKey s_semaKey = LockClassKey.ForName("&bp->b_sema");
    private readonly WaitQueueHead _semaWait = new(s_semaKey);
    private int _locked;
    private int _hold;
    private int _flags;

    internal XfsBuf(BufTarget target, ulong block)
    {
        Target = target;
        Block = block;
        Data = new byte[target.BlockSize];
    }

    /// <summary>The cache it belongs to.</summary>
    public BufTarget Target { get; }

    /// <summary>Its block number on the device, in filesystem blocks.</summary>
    public ulong Block { get; }

    /// <summary>Its bytes.</summary>
    public byte[] Data { get; }

    /// <summary>Its state bits.</summary>
    public BufFlags Flags => (BufFlags)Volatile.Read(ref _flags);

    /// <summary>The error of its last I/O or verification (b_error), or none.</summary>
    public Errno Error { get; internal set; }

    /// <summary>Holds (b_hold).</summary>
    public int HoldCount => Volatile.Read(ref _hold);

    /// <summary>Whether its lock is held.</summary>
    public bool IsLocked => Volatile.Read(ref _locked) != 0;

    /// <summary>Its verifier, if it has been read or written as a known kind of block (b_ops).</summary>
    public IBufVerifier? Verifier { get; set; }

    internal Completion IoWait { get; } = new();

    internal WorkStruct? IoendWork { get; set; }

    /// <summary>Whether <paramref name="flag"/> is set.</summary>
    public bool Test(BufFlags flag) => (Volatile.Read(ref _flags) & (int)flag) != 0;

    /// <summary>Marks the buffer modified: queued for delayed write, never reclaimed until written.</summary>
    /// <remarks>Kernel: xfs_buf_delwri_queue() (the model keeps the queue in the cache). Context: the caller holds the lock.</remarks>
    public void MarkDirty()
    {
        AssertLocked("xfs_buf_delwri_queue");
        SetFlag(BufFlags.Dirty);
    }

    /// <summary>Takes the buffer lock, sleeping while someone else holds it (xfs_buf_lock()).</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public void Lock()
    {
        Context.MightSleep();
        if (!TryLock())
        {
            _semaWait.WaitEvent(TryLock);
        }
    }

    /// <summary>Takes the lock if it is free (xfs_buf_trylock()).</summary>
    public bool TryLock() => Interlocked.CompareExchange(ref _locked, 1, 0) == 0;

    /// <summary>Releases the lock, from any task or from I/O completion (xfs_buf_unlock()).</summary>
    public void Unlock()
    {
        if (Interlocked.Exchange(ref _locked, 0) == 0)
        {
            Bug.Fail($"xfs_buf_unlock: buffer {Block} is not locked");
        }

        if (_semaWait.HasSleeper)
        {
            _semaWait.WakeUp();
        }
    }

    /// <summary>Unlocks and drops the caller's hold (xfs_buf_relse()).</summary>
    public void Relse()
    {
        Unlock();
        Target.Rele(this);
    }

    internal void Hold() => Interlocked.Increment(ref _hold);

    internal int DropHold()
    {
        var left = Interlocked.Decrement(ref _hold);
        if (left < 0)
        {
            Bug.Fail($"xfs_buf_rele: buffer {Block} released more often than held");
        }

        return left;
    }

    internal void SetFlag(BufFlags flag) => Interlocked.Or(ref _flags, (int)flag);

    internal void ClearFlag(BufFlags flag) => Interlocked.And(ref _flags, ~(int)flag);

    internal void AssertLocked(string what)
    {
        if (!IsLocked)
        {
            Bug.Fail($"{what}: buffer {Block} is not locked");
        }
    }
}
