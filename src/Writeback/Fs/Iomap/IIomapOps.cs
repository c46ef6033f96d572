using Writeback.Kernel;

namespace Writeback.Fs.Iomap;

/// <summary>A filesystem's answer to "how is this file range backed" (iomap_begin) and its
/// clean-up when the operation is done (iomap_end).</summary>
/// <remarks>Kernel: struct iomap_ops. Context: Process context. May sleep.</remarks>
public interface IIomapOps
{
    /// <summary>Maps the range from <paramref name="pos"/>; the answer covers <paramref name="pos"/>
    /// and may be shorter than <paramref name="length"/>. For a write it reserves or allocates.</summary>
    Errno Begin(long pos, long length, IomapOperation op, out IomapExtent iomap);

    /// <summary>Ends an operation over a mapping: <paramref name="done"/> of the
    /// <paramref name="length"/> bytes asked for were processed (a short write gives back the
    /// space reserved for the rest).</summary>
    Errno End(long pos, long length, long done, IomapOperation op, IomapExtent iomap);
}
