using Writeback.Mm;

namespace Writeback.Fs.Iomap;

/// <summary>A part of a folio an ioend writes.</summary>
/// <param name="Folio">The folio (under writeback).</param>
/// <param name="Offset">Its first byte in the folio.</param>
/// <param name="Length">Its bytes.</param>
/// <param name="State">The folio's iomap state, taken under the folio lock when the segment was
/// added (completion must not attach one: it runs without the lock, maybe in an interrupt).</param>
public readonly record struct IoendSegment(Folio Folio, int Offset, int Length, IomapFolioState State);
