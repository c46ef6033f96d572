using Writeback.Lib;

namespace Writeback.Diagnostics;

/// <summary>The figures of a <see cref="LatencyHistogram"/> that reports and JSON print: count,
/// min, percentiles, max and mean, all in nanoseconds.</summary>
/// <remarks>Percentiles carry the histogram's precision (about 6 %, never above
/// <see cref="MaxNs"/>); <see cref="MinNs"/>, <see cref="MaxNs"/> and <see cref="MeanNs"/> are exact.</remarks>
/// <param name="Count">Values recorded.</param>
/// <param name="MinNs">Smallest value.</param>
/// <param name="P50Ns">Median.</param>
/// <param name="P90Ns">90th percentile.</param>
/// <param name="P99Ns">99th percentile.</param>
/// <param name="P999Ns">99.9th percentile.</param>
/// <param name="MaxNs">Largest value.</param>
/// <param name="MeanNs">Mean.</param>
public sealed record LatencySummary(long Count, long MinNs, long P50Ns, long P90Ns, long P99Ns, long P999Ns, long MaxNs, double MeanNs)
{
    /// <summary>The summary of no values: every figure 0.</summary>
    public static LatencySummary Empty { get; } = new(0, 0, 0, 0, 0, 0, 0, 0);

    /// <summary>Summarises <paramref name="histogram"/> as it is now.</summary>
    public static LatencySummary From(LatencyHistogram histogram)
    {
        ArgumentNullException.ThrowIfNull(histogram);
        if (histogram.Count == 0)
        {
            return Empty;
        }

        return new LatencySummary(
            histogram.Count,
            histogram.Min,
            histogram.Percentile(50),
            histogram.Percentile(90),
            histogram.Percentile(99),
            histogram.Percentile(99.9),
            histogram.Max,
            histogram.Mean);
    }
}
