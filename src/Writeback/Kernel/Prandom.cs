using System.Threading;

namespace Writeback.Kernel;

/// <summary>A seeded pseudo-random stream for model code (device jitter, fault injection),
/// reproducible from the machine's seed and the stream's name.</summary>
/// <remarks>Kernel: prandom / get_random_u32(), as far as model code needs randomness. SplitMix64
/// with an atomically advanced state, so several CPUs may draw from one stream on the real
/// engine; on the deterministic engine the draws, like everything else, replay exactly.</remarks>
public sealed class Prandom
{
    private const ulong Gamma = 0x9E3779B97F4A7C15UL;
    private ulong _state;

    /// <summary>A stream starting from <paramref name="seed"/>.</summary>
    public Prandom(ulong seed) => _state = seed;

    /// <summary>The stream named <paramref name="name"/> of a machine seeded with <paramref name="seed"/>.</summary>
    public static Prandom ForStream(ulong seed, string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var h = 14695981039346656037UL;
        foreach (var c in name)
        {
            h = (h ^ c) * 1099511628211UL;
        }

        return new Prandom(seed ^ h);
    }

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        var z = Interlocked.Add(ref _state, Gamma);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Fills <paramref name="buffer"/> with random bytes, eight at a time (the tail from one more draw).</summary>
    public void NextBytes(Span<byte> buffer)
    {
        for (var i = 0; i < buffer.Length; i += sizeof(ulong))
        {
            var word = NextUInt64();
            var n = Math.Min(sizeof(ulong), buffer.Length - i);
            for (var b = 0; b < n; b++)
            {
                buffer[i + b] = (byte)(word >> (8 * b));
            }
        }
    }

    /// <summary>A uniform double in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>A uniform integer in [0, <paramref name="bound"/>).</summary>
    public long NextInt64(long bound)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bound);
        return (long)(NextUInt64() % (ulong)bound);
    }
}
