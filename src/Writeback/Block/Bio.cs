using System.Threading;
using Writeback.Kernel;

namespace Writeback.Block;

/// <summary>A block I/O: an operation on a run of sectors of a device, with the memory segments
/// it moves, a status, and the callback that runs when it completes.</summary>
/// <remarks>Kernel: struct bio, submit_bio(), bio_endio(), bio_chain(), bio_split() in
/// block/bio.c. <see cref="Endio"/> follows the merged order: chain accounting first, then a hop
/// to the parent of a chain (so the parent's flag decides deferral and a child's flag has no
/// effect), then the deferral decision, then the callback. Model: a bio also checks the
/// guarantee the facility gives — its callback runs exactly once per completion (a second
/// <see cref="Endio"/> is a bug), and for a flagged bio completion in atomic context is counted
/// (in a checked build, a flagged bio's callback running with in_interrupt() true is a bug).
/// A bio handed to <see cref="Submit"/> is in flight for <see cref="BlockLayer.InFlight"/> until
/// its completion has run its callback (a chain child: until it has handed its completion to its
/// parent). Integrity, zones, rq-qos and cgroup accounting are not modelled.</remarks>
public sealed class Bio
{
    private const int InFlight = 0;
    private const int Deferred = 1;
    private const int Ending = 2;

    private readonly List<BioVec> _vecs = [];
    private Action<Bio>? _endIo;
    private int _invoking;
    private int _remaining = 1;
    private int _flags;
    private int _endState;
    private int _accounted;
    private int _redeferrals;

    /// <summary>A bio for <paramref name="device"/>.</summary>
    public Bio(BlockDevice device, BioOp op, BioOpFlags opFlags = BioOpFlags.None)
    {
        ArgumentNullException.ThrowIfNull(device);
        Device = device;
        Op = op;
        OpFlags = opFlags;
    }

    /// <summary>The device the bio is for (bi_bdev).</summary>
    public BlockDevice Device { get; }

    /// <summary>The operation (bi_opf's op).</summary>
    public BioOp Op { get; }

    /// <summary>The operation's modifiers (bi_opf's flags).</summary>
    public BioOpFlags OpFlags { get; set; }

    /// <summary>The first 512-byte sector (bi_iter.bi_sector).</summary>
    public ulong Sector { get; set; }

    /// <summary>The segments (bi_io_vec).</summary>
    public IReadOnlyList<BioVec> Vecs => _vecs;

    /// <summary>Bytes the bio moves (bi_iter.bi_size).</summary>
    public int Size { get; private set; }

    /// <summary>The completion status (bi_status): set by the device, or by a chained child's first error.</summary>
    public BlkStatus Status { get; set; }

    /// <summary>The owner's data (bi_private).</summary>
    public object? Private { get; set; }

    /// <summary>The callback run on completion (bi_end_io).</summary>
    /// <remarks>Only <see cref="Endio"/> and the task-completion worker may call it: calling it
    /// directly bypasses the deferral. With <see cref="BlockLayerOptions.Checked"/> (a checked
    /// build), what this property returns is a guard that reports such a call as a bug.</remarks>
    public Action<Bio>? EndIoHandler
    {
        get => _endIo is not null && Device.Layer.Options.Checked ? CheckedCall : _endIo;
        set => _endIo = value;
    }

    /// <summary>The bio this one is chained to, or null (a chain child's bi_private).</summary>
    public Bio? Parent { get; private set; }

    /// <summary>The bio's state flags (bi_flags).</summary>
    public BioFlags Flags => (BioFlags)Volatile.Read(ref _flags);

    /// <summary>When the device submitted the bio (ns on the machine's clock; 0 before).</summary>
    public long SubmittedNs { get; internal set; }

    /// <summary>When <see cref="Endio"/> decided the bio's completion (ns; 0 before): the device
    /// completion time that deferral latency is measured from.</summary>
    public long CompletedNs { get; private set; }

    /// <summary>Link for the intrusive lists of the completion batches (bi_next).</summary>
    internal Bio? Next { get; set; }

    /// <summary>Whether <paramref name="flag"/> is set (bio_flagged()).</summary>
    public bool Flagged(BioFlags flag) => (Volatile.Read(ref _flags) & (int)flag) != 0;

    /// <summary>Sets <paramref name="flag"/> (bio_set_flag()).</summary>
    public void SetFlag(BioFlags flag) => Interlocked.Or(ref _flags, (int)flag);

    /// <summary>Clears <paramref name="flag"/> (bio_clear_flag()).</summary>
    public void ClearFlag(BioFlags flag) => Interlocked.And(ref _flags, ~(int)flag);

    /// <summary>Appends a segment (bio_add_page()).</summary>
    public void AddVec(Memory<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            throw new ArgumentException("a bio segment must not be empty", nameof(buffer));
        }

        _vecs.Add(new BioVec(buffer));
        Size += buffer.Length;
    }

    /// <summary>Chains this bio to <paramref name="parent"/>: the parent completes when it and every
    /// chained child have, with the first child error as its status (bio_chain()).</summary>
    public void Chain(Bio parent)
    {
        ArgumentNullException.ThrowIfNull(parent);
        if (Parent is not null || _endIo is not null)
        {
            throw new InvalidOperationException("bio_chain: the child already has a parent or an end_io");
        }

        Parent = parent;
        parent.IncRemaining();
    }

    /// <summary>Splits off the first <paramref name="sectors"/> sectors into a new bio, which is
    /// chained to this one; this bio then covers the rest (bio_split() + bio_chain()).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The split point is not inside the bio on a segment boundary or inside one.</exception>
    public Bio Split(int sectors)
    {
        var bytes = (long)sectors * BlockDevice.SectorSize;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sectors);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(bytes, Size);
        var front = new Bio(Device, Op, OpFlags) { Sector = Sector };
        var left = (int)bytes;
        var rest = new List<BioVec>();
        foreach (var v in _vecs)
        {
            if (left >= v.Length)
            {
                front.AddVec(v.Buffer);
                left -= v.Length;
            }
            else if (left > 0)
            {
                front.AddVec(v.Buffer[..left]);
                rest.Add(new BioVec(v.Buffer[left..]));
                left = 0;
            }
            else
            {
                rest.Add(v);
            }
        }

        _vecs.Clear();
        _vecs.AddRange(rest);
        Size -= (int)bytes;
        Sector += (ulong)sectors;
        front.Chain(this);
        return front;
    }

    /// <summary>Hands the bio to its device (submit_bio()).</summary>
    /// <remarks>A bio flagged <see cref="BioFlags.CompleteInTask"/> without an end_io is a bug
    /// reported here: the deferred-completion worker would call it unconditionally.
    /// Context: Any context the device allows; usually process context.</remarks>
    public void Submit()
    {
        if (Flagged(BioFlags.CompleteInTask) && _endIo is null && Parent is null)
        {
            Bug.Fail("submit_bio: BIO_COMPLETE_IN_TASK set on a bio with no bi_end_io");
        }

        if (Op != BioOp.Flush && Size == 0)
        {
            throw new InvalidOperationException("submit_bio: a read or write bio has no segments");
        }

        // Counted before the device sees it: a device may complete it before Submit returns.
        if (Interlocked.Exchange(ref _accounted, 1) == 0)
        {
            Device.Layer.AccountSubmitted();
        }

        Device.Submit(this);
    }

    /// <summary>Submits the bio and sleeps until it completes; returns its status as an errno.</summary>
    /// <remarks>Kernel: submit_bio_wait(). The bio must have no end_io: the wait supplies one.
    /// Context: Process context. May sleep.</remarks>
    public Errno SubmitWait()
    {
        if (EndIoHandler is not null)
        {
            throw new InvalidOperationException("submit_bio_wait: the bio already has an end_io");
        }

        var done = new Completion();
        EndIoHandler = _ => done.Complete();
        Submit();
        done.WaitForCompletion();
        return Status.ToErrno();
    }

    /// <summary>Waits for this polled bio (<see cref="BioOpFlags.Polled"/>) and completes it in the
    /// calling task (bio_poll()).</summary>
    /// <remarks>Context: Process context, the submitter.</remarks>
    public void Poll() => Device.Poll(this);

    /// <summary>Completes the bio (bio_endio()): chain accounting, the hop to the parent, the
    /// deferral decision for a flagged bio, then the callback.</summary>
    /// <remarks>Context: Any context: hardirq, softirq or task, as the device completes.</remarks>
    public void Endio()
    {
        var bio = this;
        while (true)
        {
            if (!bio.RemainingDone())
            {
                return;
            }

            if (bio.Parent is not { } parent)
            {
                break;
            }

            // A chain child hands its first error to the parent and completes as the parent.
            if (bio.Status != BlkStatus.Ok && parent.Status == BlkStatus.Ok)
            {
                parent.Status = bio.Status;
            }

            bio.MarkEnded(Ending);
            bio.AccountEnded();
            bio = parent;
        }

        bio.CompletedNs = Device.Layer.Machine.NowNs;
        var layer = bio.Device.Layer;
        if (bio.Flagged(BioFlags.CompleteInTask) && layer.ShouldDefer())
        {
            if (bio._endIo is null)
            {
                Bug.Fail("bio_endio: BIO_COMPLETE_IN_TASK set on a bio with no bi_end_io");
            }

            bio.MarkEnded(Deferred);
            layer.Defer(bio);
            return;
        }

        bio.MarkEnded(Ending);
        layer.CountInline(bio);
        bio.InvokeAndAccount();
    }

    /// <summary>Runs the callback of a bio the facility deferred: from its worker or a drain.</summary>
    /// <remarks>In a checked build, running it anywhere the callback could not sleep in
    /// (in_interrupt(), or interrupts disabled) is a bug: the facility exists to guarantee task
    /// context. Context: Process context.</remarks>
    internal void RunDeferred()
    {
        if (Device.Layer.Options.Checked && (Context.InInterrupt || Context.IrqsDisabled))
        {
            Bug.Fail($"bio_complete_work_fn: the deferred bio for sector {Sector} would run its bi_end_io outside task context (in_interrupt() {Context.InInterrupt}, irqs_disabled() {Context.IrqsDisabled})");
        }

        if (Interlocked.CompareExchange(ref _endState, Ending, Deferred) != Deferred)
        {
            Bug.Fail("bio_complete_work_fn: a deferred bio was completed twice or was never deferred");
        }

        InvokeAndAccount();
    }

    /// <summary>Re-queues a bio from inside its running callback (the dynamic helper).</summary>
    internal bool TryRedefer()
    {
        if (Interlocked.CompareExchange(ref _endState, Deferred, Ending) != Ending)
        {
            return false;
        }

        // The invocation running now will not be the bio's last: see InvokeAndAccount.
        Interlocked.Increment(ref _redeferrals);
        return true;
    }

    /// <summary>Runs the callback and then, unless the callback re-deferred the bio, counts the
    /// bio's completion as finished.</summary>
    /// <remarks>The re-deferral count is sampled before the callback: an invocation that
    /// re-deferred sees it changed and leaves the count to the worker's re-run, even when that
    /// re-run (on another CPU) finishes first.</remarks>
    private void InvokeAndAccount()
    {
        var redeferrals = Volatile.Read(ref _redeferrals);
        Invoke();
        if (Volatile.Read(ref _redeferrals) == redeferrals)
        {
            AccountEnded();
        }
    }

    private void AccountEnded()
    {
        if (Interlocked.Exchange(ref _accounted, 0) == 1)
        {
            Device.Layer.AccountEnded();
        }
    }

    private void Invoke()
    {
        if (_endIo is not { } f)
        {
            return;
        }

        Interlocked.Increment(ref _invoking);
        try
        {
            f(this);
        }
        finally
        {
            Interlocked.Decrement(ref _invoking);
        }
    }

    private static void CheckedCall(Bio bio)
    {
        if (Volatile.Read(ref bio._invoking) == 0)
        {
            Bug.Fail($"bi_end_io of the bio for sector {bio.Sector} called directly, bypassing bio_endio()");
        }

        bio._endIo!(bio);
    }

    private void MarkEnded(int state)
    {
        if (Interlocked.CompareExchange(ref _endState, state, InFlight) != InFlight)
        {
            Bug.Fail($"bio_endio: bio for sector {Sector} completed twice");
        }
    }

    private void IncRemaining()
    {
        SetFlag(BioFlags.Chain);
        Interlocked.Increment(ref _remaining);
    }

    private bool RemainingDone()
    {
        if (!Flagged(BioFlags.Chain))
        {
            return true;
        }

        var left = Interlocked.Decrement(ref _remaining);
        if (left < 0)
        {
            Bug.Fail("bio_remaining_done: remaining count went negative");
        }

        if (left == 0)
        {
            ClearFlag(BioFlags.Chain);
            return true;
        }

        return false;
    }
}
