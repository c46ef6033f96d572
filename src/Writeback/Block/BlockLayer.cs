using System.Threading;
using Writeback.Kernel;
using Writeback.Lib;

namespace Writeback.Block;

/// <summary>A machine's block layer: the task-completion facility that bio_endio() defers
/// flagged bios to, and its counters.</summary>
/// <remarks>Kernel: the BIO_COMPLETE_IN_TASK code in block/bio.c (per-CPU batches, the
/// bio_complete workqueue, the hotplug hooks) in the variant chosen by
/// <see cref="BlockLayerOptions.Variant"/>. Create one per machine, inside its run (the variants
/// register hotplug states and allocate their workqueue), before creating devices.</remarks>
public sealed class BlockLayer
{
    private readonly BioTaskCompleter _completer;
    private readonly PerCpu<CompletionCounters> _counters;
    private readonly PerCpu<BioLlist> _done;
    private long _submitted;
    private long _ended;
    private long _inFlight;

    private BlockLayer(Machine machine, BlockLayerOptions options)
    {
        Machine = machine;
        Options = options;
        _counters = new PerCpu<CompletionCounters>(machine, _ => new CompletionCounters());
        _done = new PerCpu<BioLlist>(machine, _ => new BioLlist());
        machine.OpenSoftirq(Softirq.Block, BlockSoftirq);
        _completer = options.Variant switch
        {
            TaskCompletionVariant.V4 => new V4Completer(this),
            TaskCompletionVariant.V5 => new V5Completer(this),
            TaskCompletionVariant.Cpumask => new CpumaskCompleter(this),
            _ => new MergedCompleter(this),
        };
    }

    /// <summary>The machine.</summary>
    public Machine Machine { get; }

    /// <summary>The variant and decision in use.</summary>
    public BlockLayerOptions Options { get; }

    /// <summary>The facility's workqueue (bio_complete), for its counters.</summary>
    public Workqueue Workqueue => _completer.Workqueue;

    /// <summary>Sets up the block layer of <paramref name="machine"/> (bio_complete_batch_init()).</summary>
    /// <remarks>Context: Process context, inside the machine's run.</remarks>
    public static BlockLayer Create(Machine machine, BlockLayerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(machine);
        return new BlockLayer(machine, options ?? new BlockLayerOptions());
    }

    /// <summary>Bios handed to <see cref="Bio.Submit"/> on this layer's devices whose completion
    /// has not finished: a bio counts from the start of its submission to the return of its
    /// callback (inline, or in the task-completion worker after a deferral; a re-deferral by
    /// <see cref="BioCompleteInTask"/> keeps it counted until the re-run returns). A chain child
    /// that was itself submitted counts until its completion hands over to its parent; the pieces
    /// a device splits off are not counted, their parent stays counted until the last completes.
    /// Zero when no submitted bio remains uncompleted — at the end of a run, anything else is a
    /// bio that was never completed.</summary>
    /// <remarks>Context: Any context. Exact at the instant it is read.</remarks>
    public long InFlight => Interlocked.Read(ref _inFlight);

    /// <summary>Bios handed to <see cref="Bio.Submit"/> on this layer's devices (unlike
    /// <see cref="BlockDevice.Submitted"/>, which counts the pieces after splitting).</summary>
    /// <remarks>Context: Any context.</remarks>
    public long Submitted => Interlocked.Read(ref _submitted);

    /// <summary>Submitted bios whose completion has finished (see <see cref="InFlight"/>).</summary>
    /// <remarks>Context: Any context.</remarks>
    public long Ended => Interlocked.Read(ref _ended);

    /// <summary>The facility's counters, summed over CPUs.</summary>
    public BioCompletionStats Stats()
    {
        var sum = new CompletionCounters();
        for (var cpu = 0; cpu < _counters.Count; cpu++)
        {
            sum.Add(_counters[cpu]);
        }

        return sum.ToStats();
    }

    /// <summary>Forgets the facility's counters, so that figures cover what follows. Call when no
    /// bio is completing.</summary>
    public void ResetStats()
    {
        for (var cpu = 0; cpu < _counters.Count; cpu++)
        {
            _counters[cpu].Clear();
        }
    }

    /// <summary>For a bio's end_io that decides at completion time: in a context where the
    /// callback may not sleep, flags the bio, queues it to the worker (which runs the callback
    /// again) and returns true; otherwise — including when re-run from the worker — returns false
    /// and the callback proceeds.</summary>
    /// <remarks>Kernel: bio_complete_in_task(); the flag is the sentinel that stops a second
    /// deferral. Context: Inside the bio's end_io, any context.</remarks>
    public bool BioCompleteInTask(Bio bio)
    {
        ArgumentNullException.ThrowIfNull(bio);
        if (bio.Flagged(BioFlags.CompleteInTask) || !ShouldDefer())
        {
            return false;
        }

        if (!bio.TryRedefer())
        {
            Bug.Fail("bio_complete_in_task: called outside the bio's end_io");
        }

        bio.SetFlag(BioFlags.CompleteInTask);
        Defer(bio);
        return true;
    }

    /// <summary>Waits until every bio deferred so far has completed ("flush all deferred
    /// completions"): the cpumask variant walks its mask, the others flush their workqueue.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public void FlushDeferred() => _completer.FlushAll();

    /// <summary>For a driver's interrupt handler: completes <paramref name="bio"/> from
    /// BLOCK_SOFTIRQ on this CPU instead of in the handler.</summary>
    /// <remarks>Kernel: blk_mq_raise_softirq() and blk_done_softirq(): the CPU's done list, drained
    /// in completion order at irq exit. Context: Hardirq (or any context; the softirq then runs at
    /// the next point where bottom halves are enabled).</remarks>
    public void CompleteInSoftirq(Bio bio)
    {
        ArgumentNullException.ThrowIfNull(bio);
        _done[Context.RawSmpProcessorId].Add(bio);
        Machine.RaiseSoftirq(Softirq.Block);
    }

    /// <summary>The deferral decision for the current context.</summary>
    internal bool ShouldDefer() => Options.Decision == DeferralDecision.NotInTask ? !Context.InTask : Context.BioInAtomic;

    internal void Defer(Bio bio)
    {
        Counters.Deferred++;
        _completer.Defer(bio);
    }

    internal void CountInline(Bio bio)
    {
        if (bio.Flagged(BioFlags.CompleteInTask))
        {
            var c = Counters;
            c.Inline++;
            if (Context.BioInAtomic)
            {
                c.InlineAtomic++;
            }

            // Only the !in_task() decision can get here in interrupt context (in a bottom-half
            // disabled section): bio_in_atomic() is true wherever in_interrupt() is.
            if (Options.Checked && Context.InInterrupt)
            {
                Bug.Fail($"bio_endio: the flagged bio for sector {bio.Sector} runs its bi_end_io inline with in_interrupt() true ({Options.Decision} decision)");
            }
        }
    }

    internal void AccountSubmitted()
    {
        Interlocked.Increment(ref _submitted);
        Interlocked.Increment(ref _inFlight);
    }

    internal void AccountEnded()
    {
        Interlocked.Increment(ref _ended);
        if (Interlocked.Decrement(ref _inFlight) < 0)
        {
            Bug.Fail("bio_endio: more bios ended than were submitted");
        }
    }

    /// <summary>Runs a batch the worker (or a drain) took: the callbacks in list order.</summary>
    /// <remarks>Context: Process context.</remarks>
    internal void CompleteBatch(Bio? first, bool byHotplug)
    {
        if (first is null)
        {
            return;
        }

        if (byHotplug && Machine.Options.InjectedBugs.HasFlag(InjectedBug.LoseDeferredBioOnOffline))
        {
            first = first.Next;
        }

        var n = 0;
        for (var bio = first; bio is not null;)
        {
            var next = bio.Next;
            bio.Next = null;
            Counters.DeferralLatencyNs.Record(Machine.NowNs - bio.CompletedNs);
            bio.RunDeferred();
            n++;
            bio = next;
        }

        var c = Counters;
        if (byHotplug)
        {
            c.DrainedByHotplug += n;
        }
        else
        {
            c.WorkerRuns++;
            c.BatchSizes.Record(n);
        }
    }

    internal void CountDrain(int batchCpu, int ownerCpu)
    {
        var c = Counters;
        if (batchCpu != ownerCpu)
        {
            c.ForeignDrains++;
        }

        if (Context.RawSmpProcessorId != batchCpu)
        {
            c.RemoteDrains++;
        }
    }

    private void BlockSoftirq(Cpu cpu)
    {
        for (var bio = _done[cpu.Id].DelAllFifo(); bio is not null;)
        {
            var next = bio.Next;
            bio.Next = null;
            bio.Endio();
            bio = next;
        }
    }

    /// <summary>The current CPU's counters: recording never reaches a runtime primitive, so an
    /// interrupt cannot nest inside it.</summary>
    private CompletionCounters Counters => _counters[Current.Cpu.Id];

    private sealed class CompletionCounters
    {
        public long Deferred;
        public long Inline;
        public long InlineAtomic;
        public long WorkerRuns;
        public long DrainedByHotplug;
        public long ForeignDrains;
        public long RemoteDrains;
        public LatencyHistogram BatchSizes = new();
        public LatencyHistogram DeferralLatencyNs = new();

        public void Add(CompletionCounters o)
        {
            Deferred += o.Deferred;
            Inline += o.Inline;
            InlineAtomic += o.InlineAtomic;
            WorkerRuns += o.WorkerRuns;
            DrainedByHotplug += o.DrainedByHotplug;
            ForeignDrains += o.ForeignDrains;
            RemoteDrains += o.RemoteDrains;
            BatchSizes.Add(o.BatchSizes);
            DeferralLatencyNs.Add(o.DeferralLatencyNs);
        }

        public void Clear()
        {
            Deferred = Inline = InlineAtomic = WorkerRuns = DrainedByHotplug = ForeignDrains = RemoteDrains = 0;
            BatchSizes.Clear();
            DeferralLatencyNs.Clear();
        }

        public BioCompletionStats ToStats() => new(Deferred, Inline, InlineAtomic, WorkerRuns, DrainedByHotplug, ForeignDrains, RemoteDrains, BatchSizes, DeferralLatencyNs);
    }
}
