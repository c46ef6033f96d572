using System.Collections.Concurrent;
using System.Threading;
using Writeback.Block;
using Writeback.Kernel;

namespace Writeback.Tests.Block;

/// <summary>A test-only block device: it records every bio the driver is handed and completes it
/// the way hardware does — an interrupt on a chosen CPU after a latency, in hardirq context (or in
/// the block softirq that interrupt raises) — or, in <see cref="Manual"/> mode, keeps it for the
/// test to complete itself from any context.</summary>
/// <remarks>Every completion goes through <see cref="Complete"/>, which stores an error status and
/// calls <see cref="Bio.Endio"/>, and counts it in <see cref="Completions"/> first.</remarks>
public sealed class TestDisk : BlockDevice
{
    /// <summary>Default size: 1 GiB.</summary>
    public const ulong DefaultCapacitySectors = 2UL * 1024 * 1024;

    private readonly ConcurrentQueue<Bio> _seen = new();
    private readonly ConcurrentQueue<Bio> _held = new();
    private long _completions;

    /// <summary>Creates the disk on <paramref name="layer"/>'s machine.</summary>
    public TestDisk(BlockLayer layer, ulong capacitySectors = DefaultCapacitySectors, QueueLimits? limits = null, string name = "testdisk0")
        : base(layer, name, capacitySectors, limits)
    {
    }

    /// <summary>Keep submitted bios (see <see cref="TakeHeld"/>) instead of completing them.</summary>
    public bool Manual { get; set; }

    /// <summary>Nanoseconds from submission to the completion interrupt.</summary>
    public long LatencyNs { get; set; } = 10_000;

    /// <summary>The CPU the completion interrupt is raised on; -1 (default) for the submitting CPU.</summary>
    public int CompletionCpu { get; set; } = -1;

    /// <summary>Chooses the completion CPU per bio; overrides <see cref="CompletionCpu"/>. Called in the submitter's context.</summary>
    public Func<Bio, int>? CompletionCpuFor { get; set; }

    /// <summary>Chooses the latency per bio; overrides <see cref="LatencyNs"/>. Called in the submitter's context.</summary>
    public Func<Bio, long>? LatencyFor { get; set; }

    /// <summary>The status every bio completes with, unless <see cref="CompletionStatusFor"/> says otherwise.</summary>
    public BlkStatus CompletionStatus { get; set; } = BlkStatus.Ok;

    /// <summary>Chooses the status per bio; overrides <see cref="CompletionStatus"/>.</summary>
    public Func<Bio, BlkStatus>? CompletionStatusFor { get; set; }

    /// <summary>Complete in the block softirq the interrupt raises, rather than in the hardirq handler.</summary>
    public bool CompleteInSoftirq { get; set; }

    /// <summary>Every bio the driver was handed (after splitting), in submission order.</summary>
    public IReadOnlyList<Bio> Seen => [.. _seen];

    /// <summary>Completions delivered so far (counted just before <see cref="Bio.Endio"/>).</summary>
    public long Completions => Interlocked.Read(ref _completions);

    /// <summary>Bios held in <see cref="Manual"/> mode and not yet taken.</summary>
    public int HeldCount => _held.Count;

    /// <summary>Completes the bio in the caller's context, as a driver does: an error is stored
    /// in the status, success leaves it alone (so that an error a chained piece handed to this
    /// bio survives), as req_bio_endio() does.</summary>
    public void Complete(Bio bio, BlkStatus status = BlkStatus.Ok)
    {
        ArgumentNullException.ThrowIfNull(bio);
        Interlocked.Increment(ref _completions);
        if (status != BlkStatus.Ok)
        {
            bio.Status = status;
        }

        bio.Endio();
    }

    /// <summary>Takes the oldest held bio.</summary>
    public Bio TakeHeld()
    {
        if (!_held.TryDequeue(out var bio))
        {
            throw new InvalidOperationException("no bio is held");
        }

        return bio;
    }

    /// <summary>Takes every held bio, oldest first.</summary>
    public List<Bio> TakeAllHeld()
    {
        var all = new List<Bio>();
        while (_held.TryDequeue(out var bio))
        {
            all.Add(bio);
        }

        return all;
    }

    /// <inheritdoc/>
    protected override void SubmitToDriver(Bio bio)
    {
        _seen.Enqueue(bio);
        if (Manual)
        {
            _held.Enqueue(bio);
            return;
        }

        var machine = Layer.Machine;
        var cpu = CompletionCpuFor?.Invoke(bio) ?? (CompletionCpu >= 0 ? CompletionCpu : Context.RawSmpProcessorId);
        var latency = LatencyFor?.Invoke(bio) ?? LatencyNs;
        machine.RaiseIrqIn(latency, cpu, Name, () =>
        {
            if (CompleteInSoftirq)
            {
                Interlocked.Increment(ref _completions);
                if (StatusFor(bio) is var status && status != BlkStatus.Ok)
                {
                    bio.Status = status;
                }

                Layer.CompleteInSoftirq(bio);
            }
            else
            {
                Complete(bio, StatusFor(bio));
            }
        });
    }

    private BlkStatus StatusFor(Bio bio) => CompletionStatusFor?.Invoke(bio) ?? CompletionStatus;
}
