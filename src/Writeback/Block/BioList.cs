namespace Writeback.Block;

/// <summary>A singly linked FIFO of bios through <see cref="Bio.Next"/>, with head and tail.</summary>
/// <remarks>Kernel: struct bio_list. Not synchronised: its owner excludes other users (the
/// merged and v4 batches disable local interrupts around it).</remarks>
internal sealed class BioList
{
    private Bio? _head;
    private Bio? _tail;

    public bool IsEmpty => _head is null;

    /// <summary>Appends at the tail (bio_list_add()).</summary>
    public void Add(Bio bio)
    {
        bio.Next = null;
        if (_tail is null)
        {
            _head = bio;
        }
        else
        {
            _tail.Next = bio;
        }

        _tail = bio;
    }

    /// <summary>Takes the whole list, oldest first, leaving it empty (bio_list_get()).</summary>
    public Bio? Steal()
    {
        var head = _head;
        _head = null;
        _tail = null;
        return head;
    }
}
