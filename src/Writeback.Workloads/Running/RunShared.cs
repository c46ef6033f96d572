using System.Threading;

namespace Writeback.Workloads.Running;

/// <summary>What a run's job instances share: the stop signal, the byte count for progress, the metrics.</summary>
internal sealed class RunShared(RunControl control, string design, long bytesPlanned, long runtimeNs, Func<long> machineNow)
{
    public long BytesDone;
    private long _startNs = -1;

    public CancellationToken Cancellation => control.Cancellation;

    public WritebackMetrics? Metrics => control.Metrics;

    public Action<Fs.FileSystem, JobSpec, int>? BeforeVerify => control.BeforeVerify;

    /// <summary>Marks the start of the job phase.</summary>
    public void Start() => _startNs = machineNow();

    /// <summary>Tells the caller where the run stands.</summary>
    public void Report() =>
        control.Progress?.Invoke(new RunProgress(design, Interlocked.Read(ref BytesDone), bytesPlanned, _startNs < 0 ? 0 : machineNow() - _startNs, runtimeNs));
}
