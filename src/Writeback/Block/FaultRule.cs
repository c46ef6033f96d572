namespace Writeback.Block;

/// <summary>A fault to inject into the bios a device is handed: which bios it matches and what
/// it does to them (in the spirit of dm-flakey and the fstests error-injection targets).</summary>
/// <remarks>A bio matches when its operation matches, it overlaps the sector range, its
/// REQ_META flag agrees with <see cref="Metadata"/>, the rule has matches left, and the seeded
/// draw falls under <see cref="Probability"/>. The first matching rule applies.</remarks>
public sealed record FaultRule
{
    /// <summary>The operation matched; null for any.</summary>
    public BioOp? Op { get; init; }

    /// <summary>Whether the bio must be filesystem metadata: null for any bio, true for bios
    /// flagged <see cref="BioOpFlags.Meta"/> (the journal's and the buffer cache's), false for
    /// bios without it (file data).</summary>
    public bool? Metadata { get; init; }

    /// <summary>First sector of the range matched.</summary>
    public ulong FirstSector { get; init; }

    /// <summary>Last sector of the range matched.</summary>
    public ulong LastSector { get; init; } = ulong.MaxValue;

    /// <summary>How many bios the rule may hit; null for unlimited.</summary>
    public int? Count { get; init; }

    /// <summary>Probability (0 to 1) that a matching bio is hit.</summary>
    public double Probability { get; init; } = 1;

    /// <summary>What happens to a bio that is hit.</summary>
    public FaultAction Action { get; init; } = FaultAction.Fail;

    /// <summary>The status of a failed bio.</summary>
    public BlkStatus Status { get; init; } = BlkStatus.IoErr;

    /// <summary>The extra time of a delayed bio (ns).</summary>
    public long DelayNs { get; init; }

    /// <summary>Throws naming the first invalid field.</summary>
    public void Validate()
    {
        if (FirstSector > LastSector)
        {
            throw new ArgumentException($"fault rule: FirstSector {FirstSector} is after LastSector {LastSector}");
        }

        if (Count is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Count), Count, "must not be negative");
        }

        if (Probability is < 0 or > 1 || double.IsNaN(Probability))
        {
            throw new ArgumentOutOfRangeException(nameof(Probability), Probability, "must be between 0 and 1");
        }

        if (Action == FaultAction.Fail && Status == BlkStatus.Ok)
        {
            throw new ArgumentException("fault rule: a Fail rule needs an error status");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(DelayNs, nameof(DelayNs));
    }
}
