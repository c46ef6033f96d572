namespace Writeback.Kernel.Engines;

/// <summary>A small, fast, seeded generator whose sequence never changes across .NET versions.</summary>
/// <remarks>SplitMix64 (Steele, Lea, Flood 2014). Deterministic runs depend on its exact sequence.</remarks>
internal struct SplitMix64
{
    private ulong _state;

    public SplitMix64(ulong seed) => _state = seed;

    public ulong Next()
    {
        var z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A uniform draw in [0, bound) (bound &gt; 0).</summary>
    public ulong NextBelow(ulong bound) => bound <= 1 ? 0 : Next() % bound;
}
