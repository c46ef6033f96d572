using System.Threading;
using Writeback.Kernel;

namespace Writeback.Lib;

/// <summary>An error sequence: the latest error plus a counter that moves only after someone
/// has seen the previous error, so that each observer, comparing with its own sample, learns of
/// every error exactly once.</summary>
/// <remarks>Kernel: errseq_t, lib/errseq.c. The 32-bit value holds the errno in its low 12 bits,
/// a "seen" bit above them, and a counter in the rest. Setting an error replaces the errno and,
/// only if the old value was seen, bumps the counter; a sample taken while an error is unseen is
/// 0, so the sampler will still be told of it; checking and advancing marks the value seen and
/// moves the caller's sample to it. Lock-free, any context.</remarks>
public sealed class Errseq
{
    /// <summary>Bits of the value that hold the errno (MAX_ERRNO).</summary>
    public const uint ErrnoMask = 0xFFF;

    /// <summary>The "someone has seen this error" bit (ERRSEQ_SEEN).</summary>
    public const uint Seen = 0x1000;

    /// <summary>One step of the counter (ERRSEQ_CTR_INC).</summary>
    public const uint CounterStep = 0x2000;

    private int _value;

    /// <summary>The raw value.</summary>
    public uint Value => (uint)Volatile.Read(ref _value);

    /// <summary>Records <paramref name="error"/> and returns the new value.</summary>
    /// <remarks>Kernel: errseq_set().</remarks>
    public uint Set(Errno error)
    {
        if (error == Errno.None || (uint)error > ErrnoMask)
        {
            throw new ArgumentOutOfRangeException(nameof(error), error, "errseq: not an error number");
        }

        var old = Value;
        while (true)
        {
            var next = (old & ~(ErrnoMask | Seen)) | (uint)error;
            if ((old & Seen) != 0)
            {
                next += CounterStep;
            }

            if (next == old)
            {
                return next;
            }

            var found = (uint)Interlocked.CompareExchange(ref _value, (int)next, (int)old);
            if (found == old || found == next)
            {
                return found == old ? next : found;
            }

            old = found;
        }
    }

    /// <summary>A sample to compare with later: the current value if its error was seen, else 0
    /// (so that an unseen error is still reported to the sampler).</summary>
    /// <remarks>Kernel: errseq_sample().</remarks>
    public uint Sample()
    {
        var v = Value;
        return (v & Seen) != 0 ? v : 0;
    }

    /// <summary>The error recorded since <paramref name="since"/>, or <see cref="Errno.None"/>; does not advance.</summary>
    /// <remarks>Kernel: errseq_check().</remarks>
    public Errno Check(uint since)
    {
        var v = Value;
        return v == since ? Errno.None : (Errno)(v & ErrnoMask);
    }

    /// <summary>The error recorded since <paramref name="since"/>, or <see cref="Errno.None"/>;
    /// marks the value seen and moves <paramref name="since"/> to it.</summary>
    /// <remarks>Kernel: errseq_check_and_advance(). The caller serialises uses of one sample.</remarks>
    public Errno CheckAndAdvance(ref uint since)
    {
        var v = Value;
        if (v == since)
        {
            return Errno.None;
        }

        var seen = v | Seen;
        if (seen != v)
        {
            Interlocked.CompareExchange(ref _value, (int)seen, (int)v);
        }

        since = seen;
        return (Errno)(seen & ErrnoMask);
    }
}
