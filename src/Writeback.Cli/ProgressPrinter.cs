using System.Globalization;
using System.Threading;
using Writeback.Workloads.Running;

namespace Writeback.Cli;

/// <summary>Shows a run's progress on standard error: on a terminal a bar redrawn in place with the
/// modelled (or measured) throughput and the host time left; otherwise one line when each run
/// starts and ends.</summary>
internal sealed class ProgressPrinter(TextWriter error, bool terminal)
{
    private const int BarWidth = 30;
    private long _lastDrawMs;
    private long _startMs;
    private string _design = "";

    public void Start(string design)
    {
        _design = design;
        _startMs = Environment.TickCount64;
        Volatile.Write(ref _lastDrawMs, 0);
        if (!terminal)
        {
            error.WriteLine($"wbsim: [{design}] running");
        }
    }

    /// <summary>Called from job tasks; draws at most four times a second.</summary>
    public void Update(RunProgress p)
    {
        if (!terminal)
        {
            return;
        }

        var now = Environment.TickCount64;
        var last = Volatile.Read(ref _lastDrawMs);
        if (now - last < 250 || Interlocked.CompareExchange(ref _lastDrawMs, now, last) != last)
        {
            return;
        }

        var fraction = p.Fraction;
        var filled = (int)(fraction * BarWidth);
        var elapsed = (now - _startMs) / 1000.0;
        var eta = fraction > 0.01 ? TimeSpan.FromSeconds(elapsed / fraction * (1 - fraction)) : (TimeSpan?)null;
        var mibs = p.MachineNs > 0 ? p.BytesDone / (p.MachineNs / 1e9) / (1 << 20) : 0;
        error.Write(string.Create(CultureInfo.InvariantCulture,
            $"\r[{p.Design}] {fraction * 100,3:0}% |{new string('#', filled)}{new string(' ', BarWidth - filled)}| {mibs,8:0.0} MiB/s  eta {(eta is { } e ? e.ToString(@"m\:ss", CultureInfo.InvariantCulture) : "-:--")} "));
    }

    public void Done(RunResult run)
    {
        var seconds = run.HostWallMs / 1000.0;
        var how = run.Failure is not null ? "stopped" : run.Interrupted ? "interrupted" : "done";
        error.WriteLine(terminal
            ? string.Create(CultureInfo.InvariantCulture, $"\r[{_design}] {how} in {seconds:0.0} s{new string(' ', BarWidth + 30)}")
            : string.Create(CultureInfo.InvariantCulture, $"wbsim: [{_design}] {how} in {seconds:0.0} s"));
    }
}
