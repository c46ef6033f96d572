using System.Globalization;

namespace Writeback.Workloads.Torture.Crash;

/// <summary>What a crash enumeration checked and found: workloads, crash states (and how many
/// had a torn write), log entries and flushes covered, and the violations (the first
/// <see cref="CrashOptions.MaxReportedViolations"/> kept, all counted).</summary>
public sealed class CrashReport
{
    private readonly List<CrashViolation> _violations = [];
    private readonly int _maxReported;

    /// <summary>An empty report that keeps up to <paramref name="maxReported"/> violations.</summary>
    public CrashReport(int maxReported = 50)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxReported);
        _maxReported = maxReported;
    }

    /// <summary>Workloads run.</summary>
    public int Workloads { get; private set; }

    /// <summary>Crash images rebuilt, mounted and checked.</summary>
    public long StatesChecked { get; private set; }

    /// <summary>Of <see cref="StatesChecked"/>, the states in which one write was torn: some of its
    /// sectors on the media, others not (<see cref="CrashOptions.TornWrites"/>).</summary>
    public long TornStates { get; private set; }

    /// <summary>Write-log entries (writes and flushes) the workloads made.</summary>
    public long LogEntries { get; private set; }

    /// <summary>Flush boundaries crashed at (the end of each workload counts as one).</summary>
    public long FlushBoundaries { get; private set; }

    /// <summary>Host milliseconds spent, running and checking.</summary>
    public long HostMs { get; internal set; }

    /// <summary>Violations found, all counted.</summary>
    public long TotalViolations { get; private set; }

    /// <summary>The first violations found.</summary>
    public IReadOnlyList<CrashViolation> Violations => _violations;

    /// <summary>Whether nothing was wrong.</summary>
    public bool IsClean => TotalViolations == 0;

    /// <summary>Crash states checked per host second.</summary>
    public double StatesPerSecond => HostMs > 0 ? StatesChecked * 1000.0 / HostMs : 0;

    /// <summary>One line: workloads, states (torn ones among them), entries, flushes, violations, rate.</summary>
    public string Summary => string.Create(CultureInfo.InvariantCulture,
        $"{Workloads} workloads, {StatesChecked} crash states ({TornStates} torn), {LogEntries} log entries, {FlushBoundaries} flush boundaries, {TotalViolations} violations, {HostMs} ms ({StatesPerSecond:0} states/s)");

    /// <summary>Adds <paramref name="other"/>'s counts and violations (for runs in several modes).</summary>
    /// <exception cref="ArgumentException"><paramref name="other"/> is this report.</exception>
    public void Merge(CrashReport other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (ReferenceEquals(other, this))
        {
            throw new ArgumentException("crash report: a report cannot be merged into itself", nameof(other));
        }

        Workloads += other.Workloads;
        StatesChecked += other.StatesChecked;
        TornStates += other.TornStates;
        LogEntries += other.LogEntries;
        FlushBoundaries += other.FlushBoundaries;
        HostMs += other.HostMs;
        TotalViolations += other.TotalViolations - other._violations.Count;
        foreach (var v in other._violations)
        {
            Add(v);
        }
    }

    /// <summary>The summary line.</summary>
    public override string ToString() => Summary;

    internal void Add(CrashViolation violation)
    {
        TotalViolations++;
        if (_violations.Count < _maxReported)
        {
            _violations.Add(violation);
        }
    }

    internal void CountWorkload(long logEntries)
    {
        Workloads++;
        LogEntries += logEntries;
    }

    internal void CountState() => StatesChecked++;

    internal void CountTornState() => TornStates++;

    internal void CountBoundary() => FlushBoundaries++;
}
