using Writeback.Mm;

namespace Writeback.Fs.Iomap;

/// <summary>A part of a folio an ioend writes.</summary>
/// <param name="Folio">The folio (under writeback).</param>
/// <param name="Offset">Its first byte in the folio.</param>
/// <param name="Length">Its bytes.</param>
public readonly record struct IoendSegment(Folio Folio, int Offset, int Length);
