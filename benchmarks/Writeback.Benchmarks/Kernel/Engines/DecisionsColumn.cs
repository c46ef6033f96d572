using System.Collections.Concurrent;
using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Writeback.Benchmarks.Kernel.Engines;

/// <summary>Turns the mean time of a whole machine run into time per scheduling decision: the
/// deterministic engine takes the same number of decisions for the same seed and options, so the
/// host counts them once with a calibration run of its own.</summary>
public sealed class DecisionsColumn : IColumn
{
    private static readonly ConcurrentDictionary<string, long> s_counts = new(StringComparer.Ordinal);
    private readonly Kind _kind;
    private readonly Func<string, long> _decisionsOf;

    /// <summary>What the column shows.</summary>
    public enum Kind
    {
        /// <summary>Scheduling decisions per run.</summary>
        Decisions,

        /// <summary>Mean nanoseconds per decision.</summary>
        NsPerDecision,

        /// <summary>Decisions per second.</summary>
        DecisionsPerSecond,
    }

    /// <summary>Creates the column; <paramref name="decisionsOf"/> maps a benchmark method name to its decisions per run.</summary>
    public DecisionsColumn(Kind kind, Func<string, long> decisionsOf)
    {
        _kind = kind;
        _decisionsOf = decisionsOf;
    }

    /// <inheritdoc/>
    public string Id => nameof(DecisionsColumn) + "." + _kind;

    /// <inheritdoc/>
    public string ColumnName => _kind switch
    {
        Kind.Decisions => "Decisions",
        Kind.NsPerDecision => "ns/decision",
        _ => "Decisions/s",
    };

    /// <inheritdoc/>
    public bool AlwaysShow => true;

    /// <inheritdoc/>
    public ColumnCategory Category => ColumnCategory.Custom;

    /// <inheritdoc/>
    public int PriorityInCategory => (int)_kind;

    /// <inheritdoc/>
    public bool IsNumeric => true;

    /// <inheritdoc/>
    public UnitType UnitType => UnitType.Dimensionless;

    /// <inheritdoc/>
    public string Legend => _kind switch
    {
        Kind.Decisions => "Scheduling decisions per machine run (Machine.SchedulingDecisions; deterministic for the fixed seed)",
        Kind.NsPerDecision => "Mean wall time of a run divided by its scheduling decisions",
        _ => "Scheduling decisions per second of wall time (1e9 / ns per decision)",
    };

    /// <inheritdoc/>
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    /// <inheritdoc/>
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        ArgumentNullException.ThrowIfNull(summary);
        ArgumentNullException.ThrowIfNull(benchmarkCase);
        var method = benchmarkCase.Descriptor.WorkloadMethod.Name;
        var decisions = s_counts.GetOrAdd(method, _decisionsOf);
        if (decisions <= 0)
        {
            return "-";
        }

        if (_kind == Kind.Decisions)
        {
            return decisions.ToString("N0", CultureInfo.InvariantCulture);
        }

        var mean = summary[benchmarkCase]?.ResultStatistics?.Mean;
        if (mean is not double ns)
        {
            return "NA";
        }

        var perDecision = ns / decisions;
        return _kind == Kind.NsPerDecision
            ? perDecision.ToString("N1", CultureInfo.InvariantCulture)
            : (1e9 / perDecision).ToString("N0", CultureInfo.InvariantCulture);
    }

    /// <inheritdoc/>
    public bool IsAvailable(Summary summary) => true;

    /// <inheritdoc/>
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    /// <inheritdoc/>
    public override string ToString() => ColumnName;
}
