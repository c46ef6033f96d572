namespace Writeback.Block;

/// <summary>Where a disk's durable bytes live: memory or a file.</summary>
/// <remarks>Not synchronised: the disk serialises access under its own lock.</remarks>
internal interface IDiskMedia
{
    ulong CapacitySectors { get; }

    void Read(ulong sector, Span<byte> destination);

    void Write(ulong sector, ReadOnlySpan<byte> source);

    /// <summary>Makes what was written survive the host process (a file's fsync); no-op in memory.</summary>
    void Sync();
}
