using System.Threading;
namespace Writeback.Kernel.Engines;

/// <summary>Parks and unparks the OS thread of one task: the baton the engines pass around.</summary>
/// <remarks>Spins briefly before blocking, because on the deterministic engine the next thread to
/// run is usually resumed within a microsecond.</remarks>
internal sealed class Parker
{
    private readonly SemaphoreSlim _sem = new(0, int.MaxValue);
    private volatile bool _killed;

    /// <summary>Blocks until <see cref="Unpark"/>; throws <see cref="TaskKilledException"/> when the machine is torn down.</summary>
    public void Park()
    {
        if (_killed)
        {
            throw new TaskKilledException();
        }

        _sem.Wait();
        if (_killed)
        {
            throw new TaskKilledException();
        }
    }

    /// <summary>Blocks for at most <paramref name="timeout"/>; returns false on timeout.</summary>
    public bool Park(TimeSpan timeout)
    {
        if (_killed)
        {
            throw new TaskKilledException();
        }

        var got = _sem.Wait(timeout);
        if (_killed)
        {
            throw new TaskKilledException();
        }

        return got;
    }

    /// <summary>Lets the parked thread go (or the next <see cref="Park()"/> return at once).</summary>
    public void Unpark() => _sem.Release();

    /// <summary>Makes every present and future park throw, so that the thread unwinds.</summary>
    public void Kill()
    {
        _killed = true;
        _sem.Release();
    }

    public bool IsKilled => _killed;
}
