using Writeback.Lib;
using Writeback.Workloads.Running;

namespace Writeback.Workloads.Reports;

/// <summary>What <see cref="PlotWriter"/> draws for one run (one design): the model's latency
/// distributions and the jobs' throughput over time.</summary>
/// <remarks>Latencies are nanoseconds of the machine's clock, modelled or measured as
/// <paramref name="TimeBasis"/> says. Timelines hold bytes completed per millisecond since the jobs' stats
/// started (after ramp_time), summed over the jobs as <see cref="IoStats.Timeline"/> records them.</remarks>
/// <param name="Design">The design's name as reports print it (<see cref="WbsimOptions.DesignName"/>).</param>
/// <param name="TimeBasis">"modelled" or "measured" (<see cref="ModelReport.TimeBasis"/>).</param>
/// <param name="HoldTime">How long the i_pages lock was held, per acquisition.</param>
/// <param name="CompletionLatency">Device completion of a bio to its filesystem completion work done.</param>
/// <param name="IrqsOff">The length of each interrupts-off span.</param>
/// <param name="WriteTimeline">Bytes written per millisecond, summed over the jobs.</param>
/// <param name="ReadTimeline">Bytes read per millisecond, summed over the jobs.</param>
/// <param name="Clat">fio's completion latency (clat) of every I/O, reads and writes together.</param>
public sealed record PlotData(
    string Design,
    string TimeBasis,
    LatencyHistogram HoldTime,
    LatencyHistogram CompletionLatency,
    LatencyHistogram IrqsOff,
    IReadOnlyList<long> WriteTimeline,
    IReadOnlyList<long> ReadTimeline,
    LatencyHistogram Clat)
{
    /// <summary>Length of one timeline slot (ns), as <see cref="IoStats.Record"/> fills it.</summary>
    public const long TimelineSlotNs = IoStats.TimelineSlotNs;

    /// <summary>Everything from <paramref name="run"/>, including the model's distributions.</summary>
    public static PlotData From(RunResult run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return From(run, run.Model.PagesHoldHistogram, run.Model.CompletionHistogram, run.Model.IrqsOffHistogram);
    }

    /// <summary>Takes the design, time basis, timelines and clat distribution from <paramref name="run"/>
    /// and the model's distributions as given.</summary>
    /// <remarks>Timelines are summed slot by slot over <see cref="RunResult.Jobs"/>, each job's from its
    /// own stats start; jobs that start together (fio's default) line up.</remarks>
    public static PlotData From(RunResult run, LatencyHistogram hold, LatencyHistogram completion, LatencyHistogram irqsOff)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(hold);
        ArgumentNullException.ThrowIfNull(completion);
        ArgumentNullException.ThrowIfNull(irqsOff);
        var write = new List<long>();
        var read = new List<long>();
        var clat = new LatencyHistogram();
        foreach (var job in run.Jobs)
        {
            IoStats.AddInto(write, job.Write.Timeline);
            IoStats.AddInto(read, job.Read.Timeline);
            clat.Add(job.Write.ClatHistogram);
            clat.Add(job.Read.ClatHistogram);
        }

        return new PlotData(run.Options.DesignName, run.Model.TimeBasis, hold, completion, irqsOff, write, read, clat);
    }
}
