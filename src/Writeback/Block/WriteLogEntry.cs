namespace Writeback.Block;

/// <summary>One entry of a device's write log.</summary>
/// <param name="Index">Position in the log, from 0.</param>
/// <param name="Kind">What it records.</param>
/// <param name="Sector">The first sector of a write.</param>
/// <param name="Data">The bytes a write put on the device.</param>
/// <param name="Flags">The write's flags (FUA, preflush, sync).</param>
/// <param name="Name">A mark's name.</param>
public sealed record WriteLogEntry(int Index, WriteLogEntryKind Kind, ulong Sector, ReadOnlyMemory<byte> Data, BioOpFlags Flags, string? Name);
