namespace Writeback.Workloads.Running;

/// <summary>Where a run stands.</summary>
/// <param name="Design">The design running (irq, task, …).</param>
/// <param name="BytesDone">Bytes of job I/O completed so far.</param>
/// <param name="BytesPlanned">Bytes the jobs will move (0 for time-based jobs).</param>
/// <param name="MachineNs">Machine time since the jobs started.</param>
/// <param name="RuntimeNs">The longest runtime limit of the jobs (0 for none).</param>
public readonly record struct RunProgress(string Design, long BytesDone, long BytesPlanned, long MachineNs, long RuntimeNs)
{
    /// <summary>Fraction done, from bytes or from time, whichever is further (0 to 1).</summary>
    public double Fraction => Math.Clamp(
        Math.Max(BytesPlanned > 0 ? (double)BytesDone / BytesPlanned : 0, RuntimeNs > 0 ? (double)MachineNs / RuntimeNs : 0), 0, 1);
}
