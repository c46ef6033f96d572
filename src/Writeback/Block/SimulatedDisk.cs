using System.Threading;
using Writeback.Kernel;

namespace Writeback.Block;

/// <summary>A blk-mq disk: per-CPU submission mapped to hardware queues with a queue depth,
/// service times from a latency model, a completion interrupt on a configurable CPU that
/// completes in hardirq or through BLOCK_SOFTIRQ (or no interrupt, for polled bios), a volatile
/// write cache, an optional write log, fault injection and power cuts.</summary>
/// <remarks>Model: a request's data is taken from its segments when it is dispatched (the DMA)
/// and reaches the cache or media when it completes, so the write log and the cache see writes
/// in completion order; up to the queue depth, requests are serviced in parallel. The media is
/// memory (<see cref="MemDisk"/>) or a file (<see cref="FileDisk"/>).</remarks>
public abstract class SimulatedDisk : BlockDevice
{
    private readonly IDiskMedia _media;
    private readonly VolatileCache? _cache;
    private readonly HardwareQueue[] _queues;
    private readonly Prandom _latencyRandom;
    private readonly Prandom _faultRandom;
    private readonly List<FaultState> _faults = [];
    private readonly Dictionary<Bio, Request> _polled = [];
    private ArchSpinLock _lock;
    private int _roundRobin;
    private int _generation;
    private long _completed;
    private long _failed;
    private long _flushes;
    private long _faultsInjected;

    private protected SimulatedDisk(BlockLayer layer, DiskOptions options, IDiskMedia media)
        : base(layer, Checked(layer, options).Name, media.CapacitySectors, options.Limits)
    {
        Options = options;
        _media = media;
        _cache = options.WriteCache ? new VolatileCache(options.WriteCacheBytes) : null;
        var nr = options.HardwareQueues == 0 ? layer.Machine.Cpus.Count : options.HardwareQueues;
        _queues = [.. Enumerable.Range(0, nr).Select(i => new HardwareQueue(i, options.QueueDepth))];
        _latencyRandom = layer.Machine.CreatePrandom($"{options.Name}/latency");
        _faultRandom = layer.Machine.CreatePrandom($"{options.Name}/faults");
    }

    /// <summary>The disk's options.</summary>
    public DiskOptions Options { get; }

    /// <inheritdoc/>
    public override bool HasWriteCache => Options.WriteCache;

    /// <inheritdoc/>
    /// <remarks>A device without FUA still accepts FUA bios (the block layer turns them into a
    /// write and a flush); callers that ask this choose the cheaper path themselves.</remarks>
    public override bool SupportsFua => Options.Fua;

    /// <summary>The write log, once <see cref="StartWriteLog"/> was called.</summary>
    public WriteLog? Log { get; private set; }

    /// <summary>Requests completed (including failed ones).</summary>
    public long Completed => Interlocked.Read(ref _completed);

    /// <summary>Requests completed with an error.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Cache flushes performed (empty flushes and preflushes).</summary>
    public long Flushes => Interlocked.Read(ref _flushes);

    /// <summary>Bios a fault rule hit, whatever its action (fail, drop or delay).</summary>
    public long FaultsInjected => Interlocked.Read(ref _faultsInjected);

    /// <summary>Bytes in the volatile write cache now.</summary>
    public long CachedBytes
    {
        get
        {
            _lock.Lock();
            var n = _cache?.Bytes ?? 0;
            _lock.Unlock();
            return n;
        }
    }

    /// <summary>Runs <paramref name="read"/> with the hardware's state still (no request completes meanwhile).</summary>
    private protected T WithMediaStill<T>(Func<T> read)
    {
        _lock.Lock();
        try
        {
            return read();
        }
        finally
        {
            _lock.Unlock();
        }
    }

    /// <summary>Starts recording every completed write and flush, from a copy of the current content.</summary>
    public WriteLog StartWriteLog()
    {
        var image = new DiskImage((long)CapacitySectors * SectorSize);
        var buffer = new byte[1 << 20];
        for (ulong s = 0; s < CapacitySectors; s += (ulong)(buffer.Length / SectorSize))
        {
            var n = (int)Math.Min((ulong)buffer.Length, (CapacitySectors - s) * SectorSize);
            ReadContent(s, buffer.AsSpan(0, n));
            if (buffer.AsSpan(0, n).ContainsAnyExcept((byte)0))
            {
                image.Write(s, buffer.AsSpan(0, n));
            }
        }

        var log = new WriteLog(image);
        Log = log;
        return log;
    }

    /// <summary>Adds a fault rule; the first rule a bio matches applies.</summary>
    public void AddFault(FaultRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        rule.Validate();
        _lock.Lock();
        _faults.Add(new FaultState(rule));
        _lock.Unlock();
    }

    /// <summary>Removes every fault rule.</summary>
    public void ClearFaults()
    {
        _lock.Lock();
        _faults.Clear();
        _lock.Unlock();
    }

    /// <summary>Reads the device's current content (cache over media) from the host, bypassing the block layer.</summary>
    public void ReadContent(ulong sector, Span<byte> destination)
    {
        _lock.Lock();
        try
        {
            if (_cache is null)
            {
                _media.Read(sector, destination);
            }
            else
            {
                _cache.Read(sector, destination, _media);
            }
        }
        finally
        {
            _lock.Unlock();
        }
    }

    /// <summary>Cuts the power: the volatile cache is lost — with <paramref name="torn"/>, a seeded
    /// subset of it reaches the media first, in a random order — and requests in flight complete
    /// with an I/O error without touching the media. Returns the cached writes that were applied.</summary>
    public int PowerCut(bool torn = false)
    {
        _lock.Lock();
        try
        {
            _generation++;
            return _cache?.PowerCut(_media, torn ? _faultRandom : null) ?? 0;
        }
        finally
        {
            _lock.Unlock();
        }
    }

    /// <summary>Spins until a polled bio's request is done, then completes it in the caller's context.</summary>
    /// <remarks>Kernel: bio_poll(). Context: Process context, the submitter.</remarks>
    protected internal override void Poll(Bio bio)
    {
        _lock.Lock();
        var found = _polled.Remove(bio, out var req);
        _lock.Unlock();
        if (!found)
        {
            throw new InvalidOperationException($"{Name}: the bio is not a polled request in flight");
        }

        Context.Ndelay(Math.Max(0, req!.DoneAtNs - Layer.Machine.NowNs));
        Finish(req);
        bio.Endio();
    }

    /// <inheritdoc/>
    protected override void SubmitToDriver(Bio bio)
    {
        var cpu = Context.RawSmpProcessorId;
        var queue = _queues[cpu % _queues.Length];
        if (!queue.TryGetTag())
        {
            if (Context.BioInAtomic)
            {
                _lock.Lock();
                var queued = !queue.TryGetTag();
                if (queued)
                {
                    queue.Backlog.Enqueue((bio, cpu));
                }

                _lock.Unlock();
                if (queued)
                {
                    return;
                }
            }
            else
            {
                queue.TagWaiters.WaitEvent(queue.TryGetTag);
            }
        }

        Start(bio, queue, cpu);
    }

    /// <summary>Validates <paramref name="options"/> for a disk on <paramref name="layer"/>'s
    /// machine (before any media is opened) and returns them.</summary>
    private protected static DiskOptions Checked(BlockLayer layer, DiskOptions options)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (options.Affinity == IrqAffinity.Fixed && options.IrqCpu >= layer.Machine.Cpus.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.IrqCpu, $"IrqCpu {options.IrqCpu} is not a CPU of this {layer.Machine.Cpus.Count}-CPU machine");
        }

        return options;
    }

    private void Start(Bio bio, HardwareQueue queue, int cpu)
    {
        _lock.Lock();
        var fault = MatchFault(bio);
        var generation = _generation;
        _lock.Unlock();
        var data = bio.Op == BioOp.Write && fault?.Action != FaultAction.Fail ? Gather(bio) : null;
        var latency = Options.Latency.Sample(bio.Op, bio.Size, _latencyRandom) + (fault?.Action == FaultAction.Delay ? fault.DelayNs : 0);
        var req = new Request(bio, queue, data, fault, generation);
        if ((bio.OpFlags & BioOpFlags.Polled) != 0)
        {
            req.DoneAtNs = Layer.Machine.NowNs + latency;
            _lock.Lock();
            _polled[bio] = req;
            _lock.Unlock();
            return;
        }

        if (latency == 0)
        {
            // Done at once: the interrupt is raised now rather than through the timer.
            Layer.Machine.RaiseIrq(IrqCpu(cpu), Name, () => Interrupt(req));
        }
        else
        {
            Layer.Machine.RaiseIrqIn(latency, IrqCpu(cpu), Name, () => Interrupt(req));
        }
    }

    private int IrqCpu(int submitter) => Options.Affinity switch
    {
        IrqAffinity.Fixed => Options.IrqCpu,
        IrqAffinity.RoundRobin => (int)((uint)Interlocked.Increment(ref _roundRobin) % (uint)Layer.Machine.Cpus.Count),
        _ => submitter,
    };

    private void Interrupt(Request req)
    {
        Finish(req);
        if (Options.Completion == CompletionPath.Softirq)
        {
            Layer.CompleteInSoftirq(req.Bio);
        }
        else
        {
            req.Bio.Endio();
        }
    }

    /// <summary>What the hardware does when a request completes: the media effects, the status,
    /// and the tag going to the next waiting bio.</summary>
    private void Finish(Request req)
    {
        var bio = req.Bio;
        var status = BlkStatus.Ok;
        _lock.Lock();
        try
        {
            if (req.Generation != _generation)
            {
                status = BlkStatus.IoErr;
            }
            else if (req.Fault?.Action == FaultAction.Fail)
            {
                status = req.Fault.Status;
            }
            else
            {
                Apply(req);
            }
        }
        finally
        {
            _lock.Unlock();
        }

        Interlocked.Increment(ref _completed);
        if (status != BlkStatus.Ok)
        {
            // Only errors are stored: a chained piece may already have handed one to its parent.
            Interlocked.Increment(ref _failed);
            bio.Status = status;
        }

        ReleaseTag(req.Queue);
    }

    private void Apply(Request req)
    {
        var bio = req.Bio;
        switch (bio.Op)
        {
            case BioOp.Read:
                Scatter(bio);
                break;
            case BioOp.Flush:
                FlushCache(bio.OpFlags);
                break;
            default:
                if ((bio.OpFlags & BioOpFlags.Preflush) != 0)
                {
                    FlushCache(BioOpFlags.Preflush);
                }

                if (req.Fault?.Action == FaultAction.DropWrite)
                {
                    break;
                }

                var fua = (bio.OpFlags & BioOpFlags.Fua) != 0;
                if (_cache is null)
                {
                    _media.Write(bio.Sector, req.Data);
                }
                else
                {
                    _cache.Add(bio.Sector, req.Data!, fua, _media);
                }

                Log?.Append(WriteLogEntryKind.Write, bio.Sector, req.Data, bio.OpFlags, null);
                break;
        }
    }

    private void FlushCache(BioOpFlags flags)
    {
        _cache?.Flush(_media);
        _media.Sync();
        Interlocked.Increment(ref _flushes);
        Log?.Append(WriteLogEntryKind.Flush, 0, default, flags, null);
    }

    private void ReleaseTag(HardwareQueue queue)
    {
        // Under the lock, so that a bio going onto the backlog either gets this tag or is seen here.
        _lock.Lock();
        var next = queue.Backlog.Count > 0 ? queue.Backlog.Dequeue() : default;
        if (next.Bio is null)
        {
            queue.PutTag();
        }

        _lock.Unlock();
        if (next.Bio is not null)
        {
            // The tag passes to the oldest waiting bio.
            Start(next.Bio, queue, next.Cpu);
            return;
        }

        if (queue.TagWaiters.HasSleeper)
        {
            queue.TagWaiters.WakeUp();
        }
    }

    private FaultRule? MatchFault(Bio bio)
    {
        var last = bio.Sector + (ulong)Math.Max(0, (bio.Size / SectorSize) - 1);
        foreach (var f in _faults)
        {
            var r = f.Rule;
            if ((r.Op is { } op && op != bio.Op) || last < r.FirstSector || bio.Sector > r.LastSector || f.Left == 0
                || (r.Metadata is { } meta && meta != ((bio.OpFlags & BioOpFlags.Meta) != 0)))
            {
                continue;
            }

            if (r.Probability < 1 && _faultRandom.NextDouble() >= r.Probability)
            {
                continue;
            }

            if (f.Left > 0)
            {
                f.Left--;
            }

            Interlocked.Increment(ref _faultsInjected);
            return r;
        }

        return null;
    }

    private static byte[] Gather(Bio bio)
    {
        var data = new byte[bio.Size];
        var at = 0;
        foreach (var v in bio.Vecs)
        {
            v.Buffer.Span.CopyTo(data.AsSpan(at));
            at += v.Length;
        }

        return data;
    }

    private void Scatter(Bio bio)
    {
        var sector = bio.Sector;
        var data = new byte[bio.Size];
        if (_cache is null)
        {
            _media.Read(sector, data);
        }
        else
        {
            _cache.Read(sector, data, _media);
        }

        var at = 0;
        foreach (var v in bio.Vecs)
        {
            data.AsSpan(at, v.Length).CopyTo(v.Buffer.Span);
            at += v.Length;
        }
    }

    private sealed class FaultState(FaultRule rule)
    {
        public FaultRule Rule { get; } = rule;

        /// <summary>Hits left; -1 for unlimited.</summary>
        public int Left { get; set; } = rule.Count ?? -1;
    }

    private sealed class Request(Bio bio, HardwareQueue queue, byte[]? data, FaultRule? fault, int generation)
    {
        public Bio Bio { get; } = bio;

        public HardwareQueue Queue { get; } = queue;

        public byte[]? Data { get; } = data;

        public FaultRule? Fault { get; } = fault;

        public int Generation { get; } = generation;

        public long DoneAtNs { get; set; }
    }
}
