namespace Writeback.Tests.Infrastructure;

/// <summary>A decoded sector: its kind and, for a stamp, whose it is.</summary>
/// <param name="Kind">Zeros, a stamp, or garbage.</param>
/// <param name="FileId">The file the stamp names.</param>
/// <param name="FileSector">The sector of that file the stamp names.</param>
/// <param name="Gen">The write generation the stamp names.</param>
public readonly record struct StampedSector(SectorKind Kind, int FileId, long FileSector, int Gen);
