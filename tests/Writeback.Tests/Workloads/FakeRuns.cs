using Writeback.Diagnostics;
using Writeback.Workloads.Running;

namespace Writeback.Tests.Workloads;

/// <summary>Run results built by hand for the report and plot tests: every field is empty, zero or
/// null unless the test gives it, so each figure a report prints is one the test chose.</summary>
internal static class FakeRuns
{
    /// <summary>A model report with no locks, spans, latencies, workqueues, reports or texts but
    /// those given.</summary>
    public static ModelReport Model(
        string timeBasis = "modelled",
        IReadOnlyList<LockStatEntry>? lockStat = null,
        IReadOnlyDictionary<string, string>? usage = null,
        IReadOnlyDictionary<string, long>? irqsOffByClassNs = null,
        IrqsOffMax? irqsOff = null,
        long irqsOffTotalNs = 0,
        LatencySummary? irqLatency = null,
        LatencySummary? completionLatency = null,
        LatencySummary? deferralLatency = null,
        IReadOnlyDictionary<string, (long Queued, long Executed)>? workqueues = null,
        long dropbehindLeft = 0,
        long dropbehindRemoved = 0,
        IReadOnlyList<string>? reports = null,
        string lockStatText = "",
        string lockStatPercentilesText = "",
        string irqsOffText = "",
        string irqsOffSummaryText = "") => new()
        {
            TimeBasis = timeBasis,
            LockStat = lockStat ?? [],
            Usage = usage ?? new Dictionary<string, string>(StringComparer.Ordinal),
            IrqsOffByClassNs = irqsOffByClassNs ?? new Dictionary<string, long>(StringComparer.Ordinal),
            IrqsOff = irqsOff,
            IrqsOffTotalNs = irqsOffTotalNs,
            IrqLatency = irqLatency ?? LatencySummary.Empty,
            CompletionLatency = completionLatency ?? LatencySummary.Empty,
            DeferralLatency = deferralLatency ?? LatencySummary.Empty,
            Workqueues = workqueues ?? new Dictionary<string, (long Queued, long Executed)>(StringComparer.Ordinal),
            DropbehindLeft = dropbehindLeft,
            DropbehindRemoved = dropbehindRemoved,
            Reports = reports ?? [],
            LockStatText = lockStatText,
            LockStatPercentilesText = lockStatPercentilesText,
            IrqsOffText = irqsOffText,
            IrqsOffSummaryText = irqsOffSummaryText,
        };

    /// <summary>A finished run of <paramref name="jobs"/>, by default in one reporting group that
    /// sums them (see <see cref="Group"/>) with an empty <see cref="Model"/> and default options.</summary>
    public static RunResult Run(
        IReadOnlyList<JobResult> jobs,
        ModelReport? model = null,
        WbsimOptions? options = null,
        string jobFile = "test.fio",
        long elapsedNs = 0,
        long hostWallMs = 0,
        bool interrupted = false,
        string? failure = null,
        IReadOnlyList<JobResult>? groups = null) => new()
        {
            Options = options ?? new WbsimOptions(),
            JobFile = jobFile,
            Jobs = jobs,
            Groups = groups ?? [Group(jobs)],
            Model = model ?? Model(),
            ElapsedNs = elapsedNs,
            HostWallMs = hostWallMs,
            Interrupted = interrupted,
            Failure = failure,
        };

    /// <summary>Reporting group 0 of <paramref name="jobs"/>, named after the first: their figures
    /// added up, as the runner adds up a group's jobs.</summary>
    public static JobResult Group(IReadOnlyList<JobResult> jobs)
    {
        var group = new JobResult(jobs[0].Spec, 0) { Jobs = 0 };
        foreach (var job in jobs)
        {
            group.Add(job);
        }

        return group;
    }
}
