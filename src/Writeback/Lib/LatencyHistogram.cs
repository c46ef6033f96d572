using System.Numerics;

namespace Writeback.Lib;

/// <summary>A log-linear histogram of non-negative nanosecond values with about 6 % precision,
/// mergeable, with percentiles: what HdrHistogram gives, in 8 KiB and without allocation per record.</summary>
/// <remarks>Values below 16 are exact; above, each power of two is split into 16 linear sub-buckets.
/// Not thread-safe: the runtime keeps one per CPU and merges them to report.</remarks>
public sealed class LatencyHistogram
{
    private const int SubBits = 4;
    private const int SubCount = 1 << SubBits;
    private readonly long[] _counts = new long[(64 - SubBits + 1) * SubCount];

    /// <summary>Number of values recorded.</summary>
    public long Count { get; private set; }

    /// <summary>Sum of the values recorded.</summary>
    public long Total { get; private set; }

    /// <summary>Largest value recorded (0 when empty).</summary>
    public long Max { get; private set; }

    /// <summary>Smallest value recorded (0 when empty).</summary>
    public long Min { get; private set; }

    /// <summary>Mean of the values recorded (0 when empty).</summary>
    public double Mean => Count == 0 ? 0 : (double)Total / Count;

    /// <summary>Records one value (negative values count as 0).</summary>
    public void Record(long value)
    {
        if (value < 0)
        {
            value = 0;
        }

        _counts[IndexOf(value)]++;
        if (Count == 0 || value < Min)
        {
            Min = value;
        }

        Count++;
        Total += value;
        if (value > Max)
        {
            Max = value;
        }
    }

    /// <summary>Adds every value of <paramref name="other"/>.</summary>
    public void Add(LatencyHistogram other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Count == 0)
        {
            return;
        }

        for (var i = 0; i < _counts.Length; i++)
        {
            _counts[i] += other._counts[i];
        }

        Min = Count == 0 ? other.Min : Math.Min(Min, other.Min);
        Count += other.Count;
        Total += other.Total;
        Max = Math.Max(Max, other.Max);
    }

    /// <summary>Forgets every value.</summary>
    public void Clear()
    {
        Array.Clear(_counts);
        Count = 0;
        Total = 0;
        Max = 0;
        Min = 0;
    }

    /// <summary>The value at percentile <paramref name="p"/> (0 to 100): the upper bound of the
    /// bucket holding it, never above <see cref="Max"/>.</summary>
    public long Percentile(double p)
    {
        if (Count == 0)
        {
            return 0;
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(p, 0.0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(p, 100.0);
        var rank = Math.Max(1, (long)Math.Ceiling(p / 100.0 * Count));
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return Math.Min(UpperBound(i), Max);
            }
        }

        return Max;
    }

    /// <summary>Non-empty buckets as (lower bound, upper bound, count), for plots and JSON.</summary>
    public IEnumerable<(long Low, long High, long Count)> Buckets()
    {
        for (var i = 0; i < _counts.Length; i++)
        {
            if (_counts[i] != 0)
            {
                yield return (LowerBound(i), UpperBound(i), _counts[i]);
            }
        }
    }

    private static int IndexOf(long value)
    {
        if (value < SubCount)
        {
            return (int)value;
        }

        var msb = 63 - BitOperations.LeadingZeroCount((ulong)value);
        var shift = msb - SubBits;
        var sub = (int)((value >> shift) & (SubCount - 1));
        return ((shift + 1) * SubCount) + sub;
    }

    private static long LowerBound(int index)
    {
        if (index < SubCount)
        {
            return index;
        }

        var shift = (index / SubCount) - 1;
        var sub = index % SubCount;
        return (long)((ulong)(SubCount + sub) << shift);
    }

    private static long UpperBound(int index)
    {
        if (index < SubCount)
        {
            return index;
        }

        var shift = (index / SubCount) - 1;
        return LowerBound(index) + (1L << shift) - 1;
    }
}
