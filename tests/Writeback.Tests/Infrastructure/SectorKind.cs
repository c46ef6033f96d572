namespace Writeback.Tests.Infrastructure;

/// <summary>What a 512-byte sector read back from a crash image holds.</summary>
public enum SectorKind
{
    /// <summary>All zeros.</summary>
    Zeros,

    /// <summary>A complete stamp.</summary>
    Stamp,

    /// <summary>Anything else: metadata, another run's stamp, a torn stamp.</summary>
    Garbage,
}
