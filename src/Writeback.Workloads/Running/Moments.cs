namespace Writeback.Workloads.Running;

/// <summary>Exact count, minimum, maximum, mean and standard deviation of nanosecond values
/// (Welford's method), mergeable: what fio prints on its min/max/avg/stdev lines.</summary>
/// <remarks>Not thread-safe: one per job instance, merged to report.</remarks>
public sealed class Moments
{
    private double _m2;

    /// <summary>Values recorded.</summary>
    public long Count { get; private set; }

    /// <summary>Smallest value (0 when empty).</summary>
    public long Min { get; private set; }

    /// <summary>Largest value (0 when empty).</summary>
    public long Max { get; private set; }

    /// <summary>Mean (0 when empty).</summary>
    public double Mean { get; private set; }

    /// <summary>Sample standard deviation, as fio computes it (0 with fewer than two values).</summary>
    public double StdDev => Count < 2 ? 0 : Math.Sqrt(_m2 / (Count - 1));

    /// <summary>Records one value.</summary>
    public void Record(long value)
    {
        if (Count == 0 || value < Min)
        {
            Min = value;
        }

        if (value > Max)
        {
            Max = value;
        }

        Count++;
        var delta = value - Mean;
        Mean += delta / Count;
        _m2 += delta * (value - Mean);
    }

    /// <summary>Adds every value of <paramref name="other"/> (Chan's parallel formula).</summary>
    public void Add(Moments other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Count == 0)
        {
            return;
        }

        if (Count == 0)
        {
            (Count, Min, Max, Mean, _m2) = (other.Count, other.Min, other.Max, other.Mean, other._m2);
            return;
        }

        var n = Count + other.Count;
        var delta = other.Mean - Mean;
        _m2 += other._m2 + (delta * delta * Count * other.Count / n);
        Mean += delta * other.Count / n;
        Count = n;
        Min = Math.Min(Min, other.Min);
        Max = Math.Max(Max, other.Max);
    }
}
