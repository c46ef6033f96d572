using Writeback.Kernel;

namespace Writeback.Block;

/// <summary>How long a device takes to complete a request: fixed + per-byte + seeded jitter,
/// with an optional slow outlier.</summary>
/// <remarks>Model: service time only; requests up to the queue depth are serviced in parallel,
/// as an NVMe device does. The defaults are a fast NVMe SSD (20 µs + 0.25 ns/byte ≈ 4 GB/s).</remarks>
public sealed record LatencyModel
{
    /// <summary>Time every request takes (ns).</summary>
    public long FixedNs { get; init; } = 20_000;

    /// <summary>Transfer time per byte (ns).</summary>
    public double NsPerByte { get; init; } = 0.25;

    /// <summary>Upper bound of a uniform random extra (ns); 0 for none.</summary>
    public long JitterNs { get; init; } = 2_000;

    /// <summary>Probability (0 to 1) that a request is a slow outlier.</summary>
    public double OutlierProbability { get; init; }

    /// <summary>Extra time of a slow outlier (ns).</summary>
    public long OutlierNs { get; init; } = 5_000_000;

    /// <summary>Time a cache flush takes (ns).</summary>
    public long FlushNs { get; init; } = 100_000;

    /// <summary>A latency of exactly <paramref name="ns"/> for every request: no per-byte cost, jitter or outliers.</summary>
    public static LatencyModel Constant(long ns) => new() { FixedNs = ns, NsPerByte = 0, JitterNs = 0, FlushNs = ns };

    /// <summary>Throws naming the first invalid field.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(FixedNs, nameof(FixedNs));
        ArgumentOutOfRangeException.ThrowIfNegative(NsPerByte, nameof(NsPerByte));
        ArgumentOutOfRangeException.ThrowIfNegative(JitterNs, nameof(JitterNs));
        ArgumentOutOfRangeException.ThrowIfNegative(OutlierNs, nameof(OutlierNs));
        ArgumentOutOfRangeException.ThrowIfNegative(FlushNs, nameof(FlushNs));
        if (OutlierProbability is < 0 or > 1 || double.IsNaN(OutlierProbability))
        {
            throw new ArgumentOutOfRangeException(nameof(OutlierProbability), OutlierProbability, "must be between 0 and 1");
        }
    }

    /// <summary>The service time of a request of <paramref name="op"/> moving <paramref name="bytes"/>.</summary>
    public long Sample(BioOp op, int bytes, Prandom random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var ns = op == BioOp.Flush ? FlushNs : FixedNs + (long)(bytes * NsPerByte);
        if (JitterNs > 0)
        {
            ns += random.NextInt64(JitterNs + 1);
        }

        if (OutlierProbability > 0 && random.NextDouble() < OutlierProbability)
        {
            ns += OutlierNs;
        }

        return ns;
    }
}
