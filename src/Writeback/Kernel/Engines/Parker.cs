using System.Threading;

namespace Writeback.Kernel.Engines;

/// <summary>Parks and unparks the OS thread of one task: the baton the engines pass around.</summary>
/// <remarks>A parked thread spins for a short while before it blocks, because on the
/// deterministic engine the next thread to run is usually resumed within microseconds and a
/// blocking hand-off costs tens of microseconds. The permit/sleeping pair is a Dekker handshake:
/// both sides use full fences, so an unpark is never lost and a stale semaphore count only
/// causes a re-check.</remarks>
internal sealed class Parker
{
    private const int SpinIterations = 100;
    private static readonly int s_maxSpinners = Math.Max(1, Environment.ProcessorCount - 1);
    private static int s_spinners;
    private readonly SemaphoreSlim _sem = new(0, int.MaxValue);
    private int _permit;
    private int _sleeping;
    private volatile bool _killed;

    /// <summary>Blocks until <see cref="Unpark"/>; throws <see cref="TaskKilledException"/> when the machine is torn down.</summary>
    public void Park()
    {
        // Only as many threads spin as there are spare host cores; the rest block at once, so
        // that a machine with many more tasks than cores does not starve the running one.
        if (Interlocked.Increment(ref s_spinners) <= s_maxSpinners)
        {
            try
            {
                for (var i = 0; i < SpinIterations; i++)
                {
                    if (Volatile.Read(ref _permit) != 0 && Interlocked.Exchange(ref _permit, 0) != 0)
                    {
                        CheckKilled();
                        return;
                    }

                    if (_killed)
                    {
                        throw new TaskKilledException();
                    }

                    Thread.SpinWait(4);
                }
            }
            finally
            {
                Interlocked.Decrement(ref s_spinners);
            }
        }
        else
        {
            Interlocked.Decrement(ref s_spinners);
        }

        while (true)
        {
            Interlocked.Exchange(ref _sleeping, 1);
            if (Interlocked.Exchange(ref _permit, 0) != 0)
            {
                Volatile.Write(ref _sleeping, 0);
                CheckKilled();
                return;
            }

            CheckKilled();
            _sem.Wait();
            Volatile.Write(ref _sleeping, 0);
            if (Interlocked.Exchange(ref _permit, 0) != 0)
            {
                CheckKilled();
                return;
            }
        }
    }

    /// <summary>Lets the parked thread go (or the next <see cref="Park()"/> return at once).</summary>
    public void Unpark()
    {
        Interlocked.Exchange(ref _permit, 1);
        if (Volatile.Read(ref _sleeping) != 0)
        {
            _sem.Release();
        }
    }

    /// <summary>Makes every present and future park throw, so that the thread unwinds.</summary>
    public void Kill()
    {
        _killed = true;
        Interlocked.Exchange(ref _permit, 1);
        _sem.Release();
    }

    private void CheckKilled()
    {
        if (_killed)
        {
            throw new TaskKilledException();
        }
    }
}
