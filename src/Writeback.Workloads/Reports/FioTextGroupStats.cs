using Writeback.Workloads.Running;

namespace Writeback.Workloads.Reports;

/// <summary>One direction of a reporting group as fio's "Run status group" line prints it.</summary>
/// <remarks>fio: the group_run_stats loop of __show_run_stats() in stat.c. Jobs that did not run
/// the direction are left out of the minimum and maximum; the aggregate bandwidth is the group's
/// bytes over its longest runtime.</remarks>
/// <param name="IoBytes">Bytes the group moved.</param>
/// <param name="AggBytesPerSec">Aggregate bandwidth: bytes times 1000 over the longest runtime in ms.</param>
/// <param name="MinBw">The slowest job's bandwidth, bytes/s.</param>
/// <param name="MaxBw">The fastest job's bandwidth, bytes/s.</param>
/// <param name="MinRunMs">The shortest job runtime, ms.</param>
/// <param name="MaxRunMs">The longest job runtime, ms (0: no job ran this direction).</param>
internal sealed record FioTextGroupStats(long IoBytes, long AggBytesPerSec, long MinBw, long MaxBw, long MinRunMs, long MaxRunMs)
{
    /// <summary>The figures of group <paramref name="groupId"/>: totals from <see cref="RunResult.Groups"/>,
    /// minimum and maximum over <see cref="RunResult.Jobs"/> (as reported, so a group_reporting job counts once).</summary>
    public static FioTextGroupStats For(RunResult run, int groupId, bool write)
    {
        long minRun = 0, maxRun = 0, minBw = long.MaxValue, maxBw = 0, jobBytes = 0;
        foreach (var job in run.Jobs.Where(j => j.GroupId == groupId))
        {
            var s = write ? job.Write : job.Read;
            var runMs = FioTextNumbers.RuntimeMs(s.RuntimeNs);
            if (runMs == 0)
            {
                continue;
            }

            minRun = minRun == 0 ? runMs : Math.Min(minRun, runMs);
            maxRun = Math.Max(maxRun, runMs);
            var bw = s.Bytes * 1000 / runMs;
            minBw = Math.Min(minBw, bw);
            maxBw = Math.Max(maxBw, bw);
            jobBytes += s.Bytes;
        }

        var group = run.Groups.FirstOrDefault(g => g.GroupId == groupId);
        var io = group is null ? jobBytes : (write ? group.Write : group.Read).Bytes;
        var agg = maxRun == 0 ? 0 : io * 1000 / maxRun;
        return new FioTextGroupStats(io, agg, minBw == long.MaxValue ? 0 : minBw, maxBw, minRun, maxRun);
    }
}
