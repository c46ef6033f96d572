using System.Globalization;

namespace Writeback.Workloads.Reports;

/// <summary>What the JSON report says about the host that ran the model — the only part of the
/// document that differs between two runs of the same job file, seed and design.</summary>
/// <param name="WallMs">Host wall-clock time of the run, ms.</param>
/// <param name="HostName">The host's name.</param>
/// <param name="Now">When the report was written (fio's "time", "timestamp" and "timestamp_ms").</param>
public sealed record JsonReportHost(long WallMs, string HostName, DateTimeOffset Now)
{
    /// <summary>This host, now (local time, as fio prints it).</summary>
    /// <param name="wallMs">The run's host wall-clock time, ms (<c>RunResult.HostWallMs</c>).</param>
    /// <param name="clock">The clock to read; the system's unless given.</param>
    public static JsonReportHost Current(long wallMs, TimeProvider? clock = null) =>
        new(wallMs, Environment.MachineName, (clock ?? TimeProvider.System).GetLocalNow());

    /// <summary><see cref="Now"/> as fio prints it (C's ctime() without the newline): <c>Tue Dec  1 22:25:45 2026</c>.</summary>
    public string Time => string.Create(CultureInfo.InvariantCulture, $"{Now:ddd MMM} {Now.Day,2} {Now:HH:mm:ss yyyy}");
}
