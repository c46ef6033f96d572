using System.Threading;
using Writeback.Kernel;

namespace Writeback.Block;

/// <summary>One hardware queue of a blk-mq device: its tags and the bios waiting for one.</summary>
/// <remarks>Kernel: struct blk_mq_hw_ctx with its tag set. A submitter that may sleep waits for a
/// tag (blk_mq_get_tag() → io_schedule()); one that may not leaves the bio on the backlog, which a
/// completing request hands its tag to (the queue is run again on completion).</remarks>
internal sealed class HardwareQueue(int index, int depth)
{
    private static readonly LockClassKey s_tagWaitKey = LockClassKey.ForName("&bt->ws");
    private int _inFlight;

    public int Index { get; } = index;

    public int Depth { get; } = depth;

    public int InFlight => Volatile.Read(ref _inFlight);

    public WaitQueueHead TagWaiters { get; } = new(s_tagWaitKey);

    /// <summary>Bios waiting for a tag, with their submitting CPU; guarded by the disk's lock.</summary>
    public Queue<(Bio Bio, int Cpu)> Backlog { get; } = new();

    public bool TryGetTag()
    {
        while (true)
        {
            var n = Volatile.Read(ref _inFlight);
            if (n >= Depth)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _inFlight, n + 1, n) == n)
            {
                return true;
            }
        }
    }

    public void PutTag() => Interlocked.Decrement(ref _inFlight);
}
