using System.Threading;
namespace Writeback.Kernel;

/// <summary>A completion: waiters sleep until another context signals that something is done.</summary>
/// <remarks>Kernel: struct completion, kernel/sched/completion.c.</remarks>
public sealed class Completion
{
    private static readonly LockClassKey s_key = LockClassKey.ForName("&x->wait");
    private readonly WaitQueueHead _wait = new(s_key);
    private int _done;

    /// <summary>True if a wait would not block (completion_done()).</summary>
    public bool IsDone => Volatile.Read(ref _done) > 0;

    /// <summary>Signals one waiter (or the next one to wait).</summary>
    /// <remarks>Kernel: complete(). Context: Any context. Takes and releases the completion's lock.</remarks>
    public void Complete() => _wait.UpdateAndWake(() =>
    {
        if (_done != int.MaxValue)
        {
            _done++;
        }
    }, 1);

    /// <summary>Signals every present and future waiter.</summary>
    /// <remarks>Kernel: complete_all(). Context: Any context. Takes and releases the completion's lock.</remarks>
    public void CompleteAll() => _wait.UpdateAndWake(() => _done = int.MaxValue, int.MaxValue);

    /// <summary>Sleeps until completed, consuming one completion.</summary>
    /// <remarks>Kernel: wait_for_completion(). Context: Process context. May sleep.</remarks>
    public void WaitForCompletion()
    {
        Context.MightSleep();
        _wait.WaitLocked(TryConsume, exclusive: true, "wait_for_completion");
    }

    /// <summary>Consumes a completion if one is available, without sleeping.</summary>
    /// <remarks>Kernel: try_wait_for_completion(). Context: Any context.</remarks>
    public bool TryWaitForCompletion()
    {
        var flags = _wait.Lock.LockIrqSave();
        var ok = TryConsume();
        _wait.Lock.UnlockIrqRestore(flags);
        return ok;
    }

    /// <summary>Makes the completion usable again.</summary>
    /// <remarks>Kernel: reinit_completion(). Context: Any context.</remarks>
    public void Reinit() => Volatile.Write(ref _done, 0);

    private bool TryConsume()
    {
        if (_done == 0)
        {
            return false;
        }

        if (_done != int.MaxValue)
        {
            _done--;
        }

        return true;
    }
}
