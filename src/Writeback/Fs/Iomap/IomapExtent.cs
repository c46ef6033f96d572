namespace Writeback.Fs.Iomap;

/// <summary>A file range and what backs it.</summary>
/// <param name="Offset">Its first byte in the file.</param>
/// <param name="Length">Its bytes.</param>
/// <param name="Type">Hole, delalloc, mapped or unwritten.</param>
/// <param name="Address">The disk byte address of <paramref name="Offset"/> for mapped and unwritten ranges; -1 otherwise.</param>
/// <param name="Flags">New, dirty.</param>
/// <remarks>Kernel: struct iomap (offset, length, type, flags, addr; bdev implied).</remarks>
public readonly record struct IomapExtent(long Offset, long Length, IomapType Type, long Address, IomapFlags Flags = IomapFlags.None)
{
    /// <summary>The byte after the range.</summary>
    public long End => Offset + Length;

    /// <summary>Whether <paramref name="pos"/> lies in the range.</summary>
    public bool Contains(long pos) => pos >= Offset && pos < End;

    /// <summary>The disk byte address of <paramref name="pos"/> (mapped and unwritten ranges).</summary>
    public long AddressOf(long pos) => Address < 0 ? -1 : Address + (pos - Offset);
}
