namespace Writeback.Block;

/// <summary>One segment of a bio: a run of memory the device reads into or writes from.</summary>
/// <remarks>Kernel: struct bio_vec (page, offset, length). Model: the segment is a
/// <see cref="Memory{T}"/> slice of whatever owns the data (a folio's bytes, a buffer), so that
/// the block layer does not depend on the page cache.</remarks>
/// <param name="Buffer">The bytes of the segment.</param>
public readonly record struct BioVec(Memory<byte> Buffer)
{
    /// <summary>Length of the segment in bytes (bv_len).</summary>
    public int Length => Buffer.Length;
}
