using System.Collections.Concurrent;
using System.Threading;
using Writeback.Block;
using Writeback.Kernel;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Block;

/// <summary>The BIO_COMPLETE_IN_TASK facility in its four variants: where a flagged bio's
/// callback runs, in what order, what the deferral decision does in each context, chains, the
/// dynamic helper, flush, CPU hotplug and the producer/worker races.</summary>
public class TaskCompletionTests
{
    /// <summary>A section of task code in which bio_in_atomic() is true while in_task() stays true.</summary>
    public enum AtomicSection
    {
        IrqsOff,
        BhOff,
        PreemptOff,
        RcuRead,
    }

    /// <summary>Where a device calls bio_endio().</summary>
    public enum DeviceContext
    {
        Hardirq,
        Softirq,
    }

    public static TheoryData<TaskCompletionVariant> Variants => new()
    {
        TaskCompletionVariant.Merged,
        TaskCompletionVariant.V4,
        TaskCompletionVariant.V5,
        TaskCompletionVariant.Cpumask,
    };

    public static TheoryData<TaskCompletionVariant, AtomicSection> VariantsBySection =>
        ByVariant(Enum.GetValues<AtomicSection>());

    public static TheoryData<TaskCompletionVariant, DeviceContext> VariantsByDeviceContext =>
        ByVariant([DeviceContext.Hardirq, DeviceContext.Softirq]);

    public static TheoryData<TaskCompletionVariant, ulong> VariantsBySeed(ulong[] seeds) => ByVariant(seeds);

    /// <summary>Every variant, each with every one of <paramref name="values"/>.</summary>
    private static TheoryData<TaskCompletionVariant, T> ByVariant<T>(IEnumerable<T> values)
    {
        var data = new TheoryData<TaskCompletionVariant, T>();
        foreach (var v in Enum.GetValues<TaskCompletionVariant>())
        {
            foreach (var value in values)
            {
                data.Add(v, value);
            }
        }

        return data;
    }

    public static TheoryData<TaskCompletionVariant, ulong> HotplugSeeds => VariantsBySeed([1, 2, 3, 4]);

    public static TheoryData<TaskCompletionVariant, ulong> RaceSeeds => VariantsBySeed([1, 2, 3, 4, 5, 6, 7, 8]);

    // ---------------- helpers ----------------

    /// <summary>Records every callback: per bio, how often it ran, whether it overlapped itself,
    /// whether it could sleep, where and when it ran; and the global order of callbacks.</summary>
    private sealed class Tracker(int n)
    {
        private readonly int[] _runs = new int[n];
        private readonly int[] _active = new int[n];
        private readonly long[] _startNs = new long[n];
        private readonly long[] _completedNs = new long[n];
        private readonly int[] _cpu = new int[n];
        private readonly TaskStruct?[] _ranIn = new TaskStruct?[n];
        private readonly ConcurrentQueue<int> _order = new();
        private int _total;
        private int _overlaps;
        private int _notSleepable;
        private int _inHardirq;

        public int Total => Volatile.Read(ref _total);

        public int Overlaps => Volatile.Read(ref _overlaps);

        /// <summary>Callbacks that ran where they could not sleep (!in_task() or bio_in_atomic()).</summary>
        public int NotSleepable => Volatile.Read(ref _notSleepable);

        public int InHardirq => Volatile.Read(ref _inHardirq);

        public IReadOnlyList<int> Runs => _runs;

        public IReadOnlyList<long> StartNs => _startNs;

        public IReadOnlyList<long> CompletedNs => _completedNs;

        public IReadOnlyList<int> Cpu => _cpu;

        /// <summary>The task each callback (last) ran in.</summary>
        public TaskStruct?[] RanIn => _ranIn;

        public List<int> Order => [.. _order];

        public void OnEnd(Bio bio)
        {
            var id = (int)bio.Private!;
            if (Interlocked.Increment(ref _active[id]) != 1)
            {
                Interlocked.Increment(ref _overlaps);
            }

            Interlocked.Increment(ref _runs[id]);
            if (!Context.InTask || Context.BioInAtomic)
            {
                Interlocked.Increment(ref _notSleepable);
            }

            if (Context.InHardirq)
            {
                Interlocked.Increment(ref _inHardirq);
            }

            _startNs[id] = bio.Device.Layer.Machine.NowNs;
            _completedNs[id] = bio.CompletedNs;
            _cpu[id] = Context.RawSmpProcessorId;
            _ranIn[id] = Current.Task;
            _order.Enqueue(id);

            // A point inside the callback: another instance of it, if there were one, could run here.
            Context.Point();
            Interlocked.Decrement(ref _active[id]);
            Interlocked.Increment(ref _total);
        }

        public Bio NewBio(BlockDevice disk, int id, bool flagged)
        {
            var bio = new Bio(disk, BioOp.Write) { Sector = 8 * (ulong)id, Private = id, EndIoHandler = OnEnd };
            bio.AddVec(new byte[4096]);
            if (flagged)
            {
                bio.SetFlag(BioFlags.CompleteInTask);
            }

            return bio;
        }
    }

    /// <summary>Creates a deterministic machine, runs <paramref name="body"/> as init with a block
    /// layer of <paramref name="variant"/> and a <see cref="TestDisk"/>; with lockdep in fail mode
    /// checks the machine is clean afterwards; returns the machine's reports.</summary>
    private static IReadOnlyList<KernelReport> OnDisk(
        TaskCompletionVariant variant,
        Action<Machine, BlockLayer, TestDisk> body,
        DeferralDecision decision = DeferralDecision.BioInAtomic,
        int cpus = 2,
        ulong seed = 1,
        QueueLimits? limits = null,
        LockdepMode lockdep = LockdepMode.Fail)
    {
        using var m = MachineFixture.Create(seed: seed, cpus: cpus, lockdep: lockdep);
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m, new BlockLayerOptions { Variant = variant, Decision = decision });
            var disk = new TestDisk(layer, limits: limits);
            body(m, layer, disk);
        });
        if (lockdep == LockdepMode.Fail)
        {
            MachineFixture.AssertClean(m);
        }

        return m.Reports;
    }

    /// <summary>Sleeps a jiffy at a time until <paramref name="condition"/> holds; false after <paramref name="maxMs"/>.</summary>
    private static bool SleepUntil(Machine m, Func<bool> condition, int maxMs = 1000)
    {
        for (var i = 0; !condition(); i++)
        {
            if (i >= maxMs)
            {
                return false;
            }

            m.Msleep(1);
        }

        return true;
    }

    /// <summary>The calls that enter and leave <paramref name="section"/>.</summary>
    private static (Action Enter, Action Leave) Bracket(AtomicSection section) => section switch
    {
        AtomicSection.IrqsOff => (() => Context.LocalIrqDisable(), () => Context.LocalIrqEnable()),
        AtomicSection.BhOff => (() => Context.LocalBhDisable(), () => Context.LocalBhEnable()),
        AtomicSection.PreemptOff => (() => Context.PreemptDisable(), () => Context.PreemptEnable()),
        _ => (() => Context.RcuReadLock(), () => Context.RcuReadUnlock()),
    };

    private static void Enter(AtomicSection section) => Bracket(section).Enter();

    private static void Leave(AtomicSection section) => Bracket(section).Leave();

    /// <summary>Sleeps a jiffy if <paramref name="sleep"/>, else only passes a scheduling point.</summary>
    private static void SleepOrPoint(Machine m, bool sleep)
    {
        if (sleep)
        {
            m.Msleep(1);
        }
        else
        {
            Context.Point();
        }
    }

    /// <summary>Submits bios 0..<paramref name="n"/>-1 of <paramref name="t"/> to <paramref name="disk"/>.</summary>
    private static void SubmitAll(Tracker t, BlockDevice disk, int n, bool flagged = true)
    {
        for (var id = 0; id < n; id++)
        {
            t.NewBio(disk, id, flagged).Submit();
        }
    }

    /// <summary>Waits until every callback of <paramref name="t"/> has run, lets the machine settle
    /// for <paramref name="settleMs"/> (if any) and returns the layer's statistics.</summary>
    private static BioCompletionStats AwaitCallbacks(Machine m, BlockLayer layer, Tracker t, int settleMs = 5)
    {
        var n = t.Runs.Count;
        Assert.True(SleepUntil(m, () => t.Total == n), $"{t.Total} of {n} callbacks ran");
        if (settleMs > 0)
        {
            m.Msleep(settleMs);
        }

        return layer.Stats();
    }

    /// <summary>Submits <paramref name="n"/> bios to a disk that completes them on CPU 1, in hardirq
    /// or (<paramref name="inSoftirq"/>) softirq context, waits for every callback and returns the
    /// tracker and the layer's statistics. <paramref name="beforeSubmit"/> runs just before the
    /// bios are submitted, <paramref name="afterSettle"/> once the machine has settled.</summary>
    private static (Tracker Tracker, BioCompletionStats Stats) CompleteOnCpu1(
        TaskCompletionVariant variant,
        int n,
        bool flagged = true,
        bool inSoftirq = false,
        DeferralDecision decision = DeferralDecision.BioInAtomic,
        int settleMs = 5,
        Action<Machine>? beforeSubmit = null,
        Action<Machine>? afterSettle = null)
    {
        var t = new Tracker(n);
        BioCompletionStats? stats = null;
        OnDisk(variant, (m, layer, disk) =>
        {
            disk.CompletionCpu = 1;
            disk.CompleteInSoftirq = inSoftirq;
            beforeSubmit?.Invoke(m);
            SubmitAll(t, disk, n, flagged);
            stats = AwaitCallbacks(m, layer, t, settleMs);
            afterSettle?.Invoke(m);
        }, decision: decision);
        return (t, stats!);
    }

    private static void AssertEachRanOnce(Tracker t)
    {
        for (var id = 0; id < t.Runs.Count; id++)
        {
            Assert.True(t.Runs[id] == 1, $"bio {id}: callback ran {t.Runs[id]} times");
        }

        Assert.Equal(0, t.Overlaps);
    }

    /// <summary>Every callback ran once, and each where it could sleep.</summary>
    private static void AssertEachRanOnceSleepable(Tracker t)
    {
        AssertEachRanOnce(t);
        Assert.Equal(0, t.NotSleepable);
    }

    /// <summary>All <paramref name="n"/> completions were deferred, none completed inline.</summary>
    private static void AssertAllDeferred(BioCompletionStats stats, int n)
    {
        Assert.Equal(n, stats.Deferred);
        Assert.Equal(0, stats.Inline);
        Assert.Equal(0, stats.InlineAtomic);
    }

    // ---------------- flagged bios from interrupt context ----------------

    [Theory]
    [MemberData(nameof(Variants))]
    public void FlaggedBios_CompletedFromHardirq_RunEachCallbackOnce_InTaskContext(TaskCompletionVariant variant)
    {
        const int N = 16;
        long jiffyNs = 0;
        var (t, stats) = CompleteOnCpu1(variant, N, settleMs: 10, beforeSubmit: m => jiffyNs = m.JiffyNs);

        AssertEachRanOnceSleepable(t);
        Assert.All(t.Cpu, cpu => Assert.Equal(1, cpu)); // the worker of the completing CPU's batch
        AssertAllDeferred(stats, N);
        Assert.True(stats.WorkerRuns >= 1);
        Assert.Equal(stats.WorkerRuns, stats.BatchSizes.Count);
        Assert.Equal(N, stats.BatchSizes.Total);
        Assert.Equal(N, stats.DeferralLatencyNs.Count);
        Assert.Equal(0, stats.DrainedByHotplug);
        Assert.Equal(0, stats.ForeignDrains);
        Assert.Equal(0, stats.RemoteDrains);
        if (variant == TaskCompletionVariant.V5)
        {
            // The delayed work: no deferred callback starts before the tick after its bio completed.
            for (var id = 0; id < N; id++)
            {
                var nextTick = ((t.CompletedNs[id] / jiffyNs) + 1) * jiffyNs;
                Assert.True(t.StartNs[id] >= nextTick, $"bio {id}: completed at {t.CompletedNs[id]} ns, callback at {t.StartNs[id]} ns, before the tick at {nextTick} ns");
            }
        }
    }

    [Theory]
    [InlineData(TaskCompletionVariant.V5)]
    [InlineData(TaskCompletionVariant.Merged)]
    public void DeferralLatency_V5WaitsForTheNextTick_MergedRunsAtOnce(TaskCompletionVariant variant)
    {
        // The burst completes just after a tick (the sleep ends on one), so v5's one-jiffy delay
        // costs nearly a whole jiffy; the merged work item runs as soon as the CPU is free.
        const int N = 8;
        long jiffyNs = 0;
        var (t, stats) = CompleteOnCpu1(variant, N, settleMs: 0, beforeSubmit: m =>
        {
            jiffyNs = m.JiffyNs;
            m.Msleep(1);
        });

        AssertEachRanOnce(t);
        var latency = stats.DeferralLatencyNs;
        Assert.Equal(N, latency.Count);
        if (variant == TaskCompletionVariant.V5)
        {
            Assert.True(latency.Min >= jiffyNs / 2, $"v5 min deferral latency {latency.Min} ns, jiffy {jiffyNs} ns");
            Assert.True(latency.Max <= jiffyNs, $"v5 max deferral latency {latency.Max} ns, jiffy {jiffyNs} ns");
        }
        else
        {
            Assert.True(latency.Max < jiffyNs / 10, $"merged max deferral latency {latency.Max} ns, jiffy {jiffyNs} ns");
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void FlaggedBios_CompletedFromSoftirq_AreDeferredToTaskContext(TaskCompletionVariant variant)
    {
        const int N = 8;
        long softirqsRun = 0;
        var (t, stats) = CompleteOnCpu1(variant, N, inSoftirq: true, afterSettle: m => softirqsRun = m.Cpus[1].SoftirqsRun);

        AssertEachRanOnceSleepable(t);
        Assert.True(softirqsRun > 0);
        AssertAllDeferred(stats, N);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void UnflaggedBios_CompleteInline_InTheHardirqTheDeviceUsed(TaskCompletionVariant variant)
    {
        const int N = 8;
        var (t, stats) = CompleteOnCpu1(variant, N, flagged: false);

        AssertEachRanOnce(t);
        Assert.Equal(N, t.InHardirq);
        Assert.All(t.Cpu, cpu => Assert.Equal(1, cpu));
        Assert.Equal(0, stats.Deferred);
        Assert.Equal(0, stats.Inline);
        Assert.Equal(0, stats.WorkerRuns);
        Assert.Equal(0, stats.DeferralLatencyNs.Count);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void FlaggedBiosCompletedOnOneCpu_RunTheirCallbacksInCompletionOrder(TaskCompletionVariant variant)
    {
        // Waves of interrupts on CPU 1, each completing bios in a shuffled order, some while the
        // worker is still draining the previous wave: callbacks follow the completion order.
        const int Waves = 6;
        const int PerWave = 8;
        const int N = Waves * PerWave;
        var t = new Tracker(N);
        var completed = new ConcurrentQueue<int>();
        OnDisk(variant, (m, layer, disk) =>
        {
            disk.Manual = true;
            var bios = Enumerable.Range(0, N).Select(id => t.NewBio(disk, id, flagged: true)).ToArray();
            foreach (var bio in bios)
            {
                bio.Submit();
            }

            disk.TakeAllHeld();
            var rng = new Random(42);
            for (var w = 0; w < Waves; w++)
            {
                var wave = Enumerable.Range(w * PerWave, PerWave).OrderBy(_ => rng.Next()).ToArray();
                m.RaiseIrq(1, "testdisk", () =>
                {
                    foreach (var id in wave)
                    {
                        completed.Enqueue(id);
                        disk.Complete(bios[id]);
                    }
                });
                SleepOrPoint(m, sleep: w % 2 == 0);
            }

            Assert.True(SleepUntil(m, () => t.Total == N));
        });

        AssertEachRanOnce(t);
        Assert.Equal(completed.ToList(), t.Order);
    }

    // ---------------- the deferral decision in task context ----------------

    [Theory]
    [MemberData(nameof(Variants))]
    public void FlaggedBio_CompletedFromPlainTaskContext_CompletesInline(TaskCompletionVariant variant)
    {
        var t = new Tracker(1);
        var ranBeforeEndioReturned = false;
        BioCompletionStats? stats = null;
        OnDisk(variant, (m, layer, disk) =>
        {
            var bio = t.NewBio(disk, 0, flagged: true);
            disk.Complete(bio);
            ranBeforeEndioReturned = t.Total == 1;
            m.Msleep(5);
            stats = layer.Stats();
        });

        Assert.True(ranBeforeEndioReturned);
        AssertEachRanOnceSleepable(t);
        Assert.Equal(1, stats!.Inline);
        Assert.Equal(0, stats.InlineAtomic);
        Assert.Equal(0, stats.Deferred);
        Assert.Equal(0, stats.WorkerRuns);
    }

    [Theory]
    [MemberData(nameof(VariantsBySection))]
    public void FlaggedBio_CompletedFromTaskContextThatCannotSleep_IsDeferred(TaskCompletionVariant variant, AtomicSection section)
    {
        var t = new Tracker(1);
        var ranInsideEndio = true;
        var inTaskInsideSection = false;
        TaskStruct? completer = null;
        BioCompletionStats? stats = null;
        OnDisk(variant, (m, layer, disk) =>
        {
            var bio = t.NewBio(disk, 0, flagged: true);
            completer = Current.Task;
            Enter(section);
            inTaskInsideSection = Context.InTask;
            var before = t.Total;
            disk.Complete(bio);

            // A preemptible RCU section may be preempted, and the worker may run meanwhile; what
            // matters is that bio_endio() itself did not call the handler.
            ranInsideEndio = t.Total != before && t.RanIn[0] == completer;
            Leave(section);
            stats = AwaitCallbacks(m, layer, t);
        });

        Assert.True(inTaskInsideSection, "the section is task context: only bio_in_atomic() can see it is atomic");
        Assert.False(ranInsideEndio);
        Assert.NotSame(completer, t.RanIn[0]);
        AssertEachRanOnceSleepable(t);
        AssertAllDeferred(stats!, 1);
    }

    [Theory]
    [MemberData(nameof(VariantsBySection))]
    public void NotInTaskDecision_TaskContextThatCannotSleep_CompletesInline_AndCountsTheBrokenGuarantee(TaskCompletionVariant variant, AtomicSection section)
    {
        var t = new Tracker(1);
        var ranInsideSection = false;
        BioCompletionStats? stats = null;
        OnDisk(variant, (m, layer, disk) =>
        {
            var bio = t.NewBio(disk, 0, flagged: true);
            Enter(section);
            disk.Complete(bio);
            ranInsideSection = t.Total == 1;
            Leave(section);
            m.Msleep(5);
            stats = layer.Stats();
        }, decision: DeferralDecision.NotInTask);

        Assert.True(ranInsideSection);
        AssertEachRanOnce(t);
        Assert.Equal(1, t.NotSleepable);
        Assert.Equal(1, stats!.Inline);
        Assert.Equal(1, stats.InlineAtomic);
        Assert.Equal(0, stats.Deferred);
    }

    [Theory]
    [MemberData(nameof(VariantsByDeviceContext))]
    public void NotInTaskDecision_HardirqAndSoftirqCompletions_StillDefer(TaskCompletionVariant variant, DeviceContext where)
    {
        const int N = 6;
        var (t, stats) = CompleteOnCpu1(variant, N, inSoftirq: where == DeviceContext.Softirq, decision: DeferralDecision.NotInTask);

        AssertEachRanOnceSleepable(t);
        AssertAllDeferred(stats, N);
    }

    // ---------------- chains ----------------

    [Theory]
    [MemberData(nameof(Variants))]
    public void FlaggedParent_WhoseChainedPiecesCompleteInHardirq_RunsItsCallbackOnceInTaskContext(TaskCompletionVariant variant)
    {
        var t = new Tracker(1);
        BioCompletionStats? stats = null;
        var pieces = 0;
        var piecesFlagged = 0;
        OnDisk(variant, (m, layer, disk) =>
        {
            disk.CompletionCpu = 1;
            var bio = new Bio(disk, BioOp.Write) { Private = 0, EndIoHandler = t.OnEnd };
            bio.AddVec(new byte[32 * BlockDevice.SectorSize]);
            bio.SetFlag(BioFlags.CompleteInTask);
            bio.Submit();
            pieces = disk.Seen.Count;
            piecesFlagged = disk.Seen.Count(p => p.Flagged(BioFlags.CompleteInTask));
            stats = AwaitCallbacks(m, layer, t);
        }, limits: new QueueLimits { MaxSectors = 8 });

        Assert.Equal(4, pieces);
        Assert.Equal(1, piecesFlagged); // only the parent: the split-off fronts are plain chain children
        AssertEachRanOnceSleepable(t);
        Assert.Equal(1, stats!.Deferred);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void FlaggedParent_WithExplicitlyChainedChildren_CompletedFromHardirq_RunsInTaskContext(TaskCompletionVariant variant)
    {
        var t = new Tracker(1);
        BioCompletionStats? stats = null;
        OnDisk(variant, (m, layer, disk) =>
        {
            disk.CompletionCpu = 1;
            var parent = t.NewBio(disk, 0, flagged: true);
            var children = Enumerable.Range(1, 3).Select(i =>
            {
                var c = new Bio(disk, BioOp.Write) { Sector = 8 * (ulong)i };
                c.AddVec(new byte[4096]);
                c.Chain(parent);
                return c;
            }).ToArray();
            parent.Submit();
            foreach (var c in children)
            {
                c.Submit();
            }

            stats = AwaitCallbacks(m, layer, t);
        });

        AssertEachRanOnceSleepable(t);
        Assert.Equal(1, stats!.Deferred);
    }

    // ---------------- the dynamic helper ----------------

    [Theory]
    [MemberData(nameof(Variants))]
    public void BioCompleteInTask_FromHardirq_ReturnsTrue_ThenTheHandlerReRunsInTaskWhereItReturnsFalse(TaskCompletionVariant variant)
    {
        var calls = new ConcurrentQueue<(bool Deferred, bool InHardirq, bool Sleepable)>();
        var proceeded = 0;
        var proceededSleepable = false;
        var flaggedAfter = false;
        BioCompletionStats? stats = null;
        OnDisk(variant, (m, layer, disk) =>
        {
            disk.CompletionCpu = 1;
            var bio = new Bio(disk, BioOp.Write);
            bio.AddVec(new byte[4096]);
            bio.EndIoHandler = b =>
            {
                var deferred = layer.BioCompleteInTask(b);
                calls.Enqueue((deferred, Context.InHardirq, Context.InTask && !Context.BioInAtomic));
                if (deferred)
                {
                    return;
                }

                proceededSleepable = Context.InTask && !Context.BioInAtomic;
                Interlocked.Increment(ref proceeded);
            };
            bio.Submit();
            Assert.True(SleepUntil(m, () => Volatile.Read(ref proceeded) > 0));
            m.Msleep(5);
            flaggedAfter = bio.Flagged(BioFlags.CompleteInTask);
            stats = layer.Stats();
        });

        Assert.Equal([(true, true, false), (false, false, true)], calls.ToArray());
        Assert.Equal(1, proceeded);
        Assert.True(proceededSleepable);
        Assert.True(flaggedAfter, "the helper leaves BIO_COMPLETE_IN_TASK set as its sentinel");
        Assert.Equal(1, stats!.Deferred);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void BioCompleteInTask_FromPlainTaskContext_ReturnsFalse_AndTheHandlerRunsOnce(TaskCompletionVariant variant)
    {
        var calls = new List<bool>();
        BioCompletionStats? stats = null;
        OnDisk(variant, (m, layer, disk) =>
        {
            var bio = new Bio(disk, BioOp.Write) { EndIoHandler = b => calls.Add(layer.BioCompleteInTask(b)) };
            disk.Complete(bio);
            m.Msleep(5);
            stats = layer.Stats();
        });

        Assert.Equal([false], calls);
        Assert.Equal(0, stats!.Deferred);
    }

    [Fact]
    public void BioCompleteInTask_OutsideTheBiosEndIo_IsAKernelBug()
    {
        OnDisk(TaskCompletionVariant.Merged, (_, layer, disk) =>
        {
            var bio = new Bio(disk, BioOp.Write);
            KernelBugException? bug;
            Context.LocalIrqDisable();
            try
            {
                bug = Assert.Throws<KernelBugException>(() => layer.BioCompleteInTask(bio));
            }
            finally
            {
                Context.LocalIrqEnable();
            }

            Assert.Contains("outside the bio's end_io", bug.Message);
        });
    }

    // ---------------- flush ----------------

    [Theory]
    [MemberData(nameof(Variants))]
    public void FlushDeferred_FromATask_ReturnsOnlyWhenEveryDeferredBioHasCompleted(TaskCompletionVariant variant)
    {
        const int N = 32;
        var t = new Tracker(N);
        var beforeFlush = -1;
        var afterFlush = -1;
        long flushedAtNs = 0;
        long firstTickNs = 0;
        OnDisk(variant, (m, layer, disk) =>
        {
            disk.CompletionCpuFor = b => (int)b.Private! % 4;
            SubmitAll(t, disk, N);

            // Spin (no sleep: for v5 the tick must not pass) until the device has completed everything.
            MachineFixture.SpinUntil(() => disk.Completions == N);
            beforeFlush = t.Total;
            firstTickNs = (disk.Seen.Min(b => b.CompletedNs) / m.JiffyNs + 1) * m.JiffyNs;
            layer.FlushDeferred();
            afterFlush = t.Total;
            flushedAtNs = m.NowNs;
        }, cpus: 4);

        Assert.Equal(N, afterFlush);
        AssertEachRanOnceSleepable(t);
        if (variant == TaskCompletionVariant.V5)
        {
            // Nothing ran before the flush (the delayed work waits for the tick); the flush cut the delay short.
            Assert.Equal(0, beforeFlush);
            Assert.True(flushedAtNs < firstTickNs, $"flush returned at {flushedAtNs} ns, after the tick at {firstTickNs} ns");
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void FlushDeferred_WithNothingDeferred_ReturnsAtOnce(TaskCompletionVariant variant)
    {
        var returned = false;
        OnDisk(variant, (_, layer, _) =>
        {
            layer.FlushDeferred();
            returned = true;
        });
        Assert.True(returned);
    }

    // ---------------- CPU hotplug ----------------

    [Theory]
    [MemberData(nameof(HotplugSeeds))]
    public void HotplugChurn_EveryFlaggedBioCompletesExactlyOnceInTaskContext(TaskCompletionVariant variant, ulong seed)
    {
        var r = HotplugChurn(variant, seed, LockdepMode.Fail);
        Assert.Empty(r.Reports);
        Assert.True(r.AllRan, $"{r.Tracker.Total} of {r.Tracker.Runs.Count} callbacks ran");
        AssertEachRanOnceSleepable(r.Tracker);
        Assert.Equal(r.Tracker.Runs.Count, r.Stats.Deferred);
        Assert.Equal(r.Tracker.Runs.Count, r.Stats.BatchSizes.Total + r.Stats.DrainedByHotplug);
        if (variant is TaskCompletionVariant.Merged or TaskCompletionVariant.Cpumask)
        {
            Assert.Equal(0, r.Stats.ForeignDrains);
        }

        if (variant == TaskCompletionVariant.Merged)
        {
            Assert.Equal(0, r.Stats.RemoteDrains);
        }
    }

    [Theory]
    [InlineData(TaskCompletionVariant.V5, 3UL)]
    [InlineData(TaskCompletionVariant.Cpumask, 3UL)]
    public void HotplugChurn_RunsCleanUnderLockdepFail_RegressionSeeds(TaskCompletionVariant variant, ulong seed)
    {
        var r = HotplugChurn(variant, seed, LockdepMode.Fail);
        Assert.Empty(r.Reports);
        Assert.True(r.AllRan);
        AssertEachRanOnce(r.Tracker);
    }

    private sealed record ChurnResult(BioCompletionStats Stats, Tracker Tracker, bool AllRan, IReadOnlyList<KernelReport> Reports);

    /// <summary>A task completes flagged bios through interrupts on random CPUs while another takes
    /// CPUs 1..3 offline and online again, repeatedly.</summary>
    private static ChurnResult HotplugChurn(TaskCompletionVariant variant, ulong seed, LockdepMode lockdep)
    {
        const int N = 160;
        var t = new Tracker(N);
        BioCompletionStats? stats = null;
        var allRan = false;
        var reports = OnDisk(variant, (m, layer, disk) =>
        {
            var rng = new Random((int)seed);
            disk.CompletionCpuFor = _ => rng.Next(4);
            disk.LatencyFor = _ => rng.Next(2_000, 60_000);
            var producer = m.Spawn("producer", () =>
            {
                for (var id = 0; id < N; id++)
                {
                    t.NewBio(disk, id, flagged: true).Submit();
                    SleepOrPoint(m, sleep: id % 8 == 7);
                }
            });
            var hotplug = m.Spawn("hotplug", () =>
            {
                for (var round = 0; round < 9; round++)
                {
                    var cpu = 1 + (round % 3);
                    m.CpuDown(cpu);
                    m.Msleep(1 + (round % 2));
                    m.CpuUp(cpu);
                    m.Msleep(1);
                }
            });
            producer.WaitForExit();
            hotplug.WaitForExit();
            allRan = SleepUntil(m, () => t.Total == N, maxMs: 200);
            m.Msleep(10);
            stats = layer.Stats();
        }, cpus: 4, seed: seed, lockdep: lockdep);
        return new ChurnResult(stats!, t, allRan, reports);
    }

    /// <summary>What <see cref="PendingWorkOfAnOfflinedCpu"/> observed.</summary>
    private sealed record HazardResult(BioCompletionStats Stats, Tracker Tracker, bool AllRan, bool BatchWorkWasPendingAtCpuDown, IReadOnlyList<KernelReport> Reports);

    /// <summary>CPU 1's batch holds bios and its work item is queued but cannot run: CPU 1's
    /// worker pool is busy with a work item that spins without sleeping (so concurrency management
    /// wakes no other worker). CPU 0's pool is held the same way. CPU 1 goes offline; then a bio
    /// is deferred on CPU 0 (task with interrupts off); then CPU 1's pool is released — its
    /// worker now runs unbound, on CPU 0 — and after it CPU 0's pool.</summary>
    [Theory]
    [InlineData(TaskCompletionVariant.Merged)]
    [InlineData(TaskCompletionVariant.V5)]
    public void InjectedLoseDeferredBioOnOffline_LeavesABioThatNeverRuns(TaskCompletionVariant variant)
    {
        var r = PendingWorkOfAnOfflinedCpu(variant, LockdepMode.Fail, InjectedBug.LoseDeferredBioOnOffline);
        Assert.True(r.BatchWorkWasPendingAtCpuDown);
        Assert.False(r.AllRan, "the dead-CPU drain dropped a bio, yet every callback ran");
        Assert.Equal(3, r.Stats.DrainedByHotplug);
    }

    private static HazardResult PendingWorkOfAnOfflinedCpu(TaskCompletionVariant variant, LockdepMode lockdep, InjectedBug bug = InjectedBug.None)
    {
        const int OnCpu1 = 4;
        const int N = OnCpu1 + 1;
        const long SpinChunkBytes = 100_000;
        var t = new Tracker(N);
        BioCompletionStats? stats = null;
        var allRan = false;
        var pendingAtDown = false;
        using var m = MachineFixture.Create(seed: 1, cpus: 2, lockdep: lockdep, configure: o => o with { InjectedBugs = bug });
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m, new BlockLayerOptions { Variant = variant });
            var disk = new TestDisk(layer);
            var release = new bool[2];
            var started = new[] { new Completion(), new Completion() };
            var blockers = Enumerable.Range(0, 2).Select(cpu => new WorkStruct(_ =>
            {
                started[cpu].Complete();
                while (!Volatile.Read(ref release[cpu]))
                {
                    // Busy, never sleeping: 10 us of modelled work per point keeps the spin cheap.
                    Context.Point(SpinChunkBytes);
                }
            })).ToArray();
            Assert.True(m.SystemWq.QueueWorkOn(1, blockers[1]));
            Assert.True(m.SystemWq.QueueWorkOn(0, blockers[0]));
            started[1].WaitForCompletion();
            started[0].WaitForCompletion();

            var bios = Enumerable.Range(0, N).Select(id => t.NewBio(disk, id, flagged: true)).ToArray();
            var irqDone = false;
            m.RaiseIrq(1, "testdisk", () =>
            {
                for (var id = 0; id < OnCpu1; id++)
                {
                    disk.Complete(bios[id]);
                }

                Volatile.Write(ref irqDone, true);
            });
            Assert.True(SleepUntil(m, () => Volatile.Read(ref irqDone)));
            pendingAtDown = t.Total == 0 && m.Workqueues.Single(w => w.Name == "bio_complete").Executed == 0;

            m.CpuDown(1);

            Context.LocalIrqDisable();
            disk.Complete(bios[OnCpu1]);
            Context.LocalIrqEnable();

            Volatile.Write(ref release[1], true);
            m.Msleep(2);
            Volatile.Write(ref release[0], true);
            allRan = SleepUntil(m, () => t.Total == N, maxMs: 100);
            m.CpuUp(1);
            m.Msleep(5);
            stats = layer.Stats();
        });
        return new HazardResult(stats!, t, allRan, pendingAtDown, m.Reports);
    }

    [Fact]
    public void V4_PendingWorkOfAnOfflinedCpu_RunsOnAnotherCpu_AndDrainsThatCpusBatch()
    {
        var r = PendingWorkOfAnOfflinedCpu(TaskCompletionVariant.V4, LockdepMode.Fail);
        Assert.Empty(r.Reports);
        Assert.True(r.BatchWorkWasPendingAtCpuDown);
        Assert.True(r.Stats.ForeignDrains > 0, $"ForeignDrains {r.Stats.ForeignDrains}");

        // CPU 1's own bios were left to the dead callback; CPU 0's bio was taken by CPU 1's work
        // item, running on a worker of CPU 1's (now unbound) pool on CPU 0.
        Assert.Equal(4, r.Stats.DrainedByHotplug);
        Assert.StartsWith("kworker/1:", r.Tracker.RanIn[4]!.Comm, StringComparison.Ordinal);
        Assert.Equal(0, r.Tracker.Cpu[4]);
        Assert.True(r.AllRan);
        AssertEachRanOnce(r.Tracker);
    }

    [Theory]
    [InlineData(TaskCompletionVariant.Merged)]
    [InlineData(TaskCompletionVariant.V5)]
    [InlineData(TaskCompletionVariant.Cpumask)]
    public void PendingWorkOfAnOfflinedCpu_NeverDrainsAnotherCpusBatch_AndEveryBioCompletesOnce(TaskCompletionVariant variant)
    {
        // Cpumask's remote drain hits the counter's false positive: report mode for it only.
        var r = PendingWorkOfAnOfflinedCpu(variant, LockdepMode.Fail);
        Assert.Empty(r.Reports);
        Assert.True(r.BatchWorkWasPendingAtCpuDown);
        Assert.Equal(0, r.Stats.ForeignDrains);
        Assert.True(r.AllRan);
        AssertEachRanOnceSleepable(r.Tracker);
        switch (variant)
        {
            case TaskCompletionVariant.Merged:
                // down-prep disabled the work; the dead callback drained what was queued; CPU 0's
                // bio went to CPU 0's own work item.
                Assert.Equal(4, r.Stats.DrainedByHotplug);
                Assert.Equal(0, r.Stats.RemoteDrains);
                Assert.StartsWith("kworker/0:", r.Tracker.RanIn[4]!.Comm, StringComparison.Ordinal);
                break;
            case TaskCompletionVariant.Cpumask:
                // No hooks: CPU 1's work item, run by its pool's now unbound worker on CPU 0,
                // drains CPU 1's own list remotely.
                Assert.Equal(0, r.Stats.DrainedByHotplug);
                Assert.True(r.Stats.RemoteDrains > 0);
                for (var id = 0; id < 4; id++)
                {
                    Assert.StartsWith("kworker/1:", r.Tracker.RanIn[id]!.Comm, StringComparison.Ordinal);
                    Assert.Equal(0, r.Tracker.Cpu[id]);
                }

                Assert.StartsWith("kworker/0:", r.Tracker.RanIn[4]!.Comm, StringComparison.Ordinal);
                break;
            default:
                Assert.Equal(4, r.Stats.DrainedByHotplug);
                break;
        }
    }

    [Theory]
    [InlineData(TaskCompletionVariant.Cpumask)]
    [InlineData(TaskCompletionVariant.V4)]
    public void WorkerOfAnOfflinedCpusPool_CountsItsDrainWithoutAReport(TaskCompletionVariant variant)
    {
        var r = PendingWorkOfAnOfflinedCpu(variant, LockdepMode.Report);
        Assert.Empty(r.Reports);
    }

    // ---------------- producer / worker races ----------------

    [Theory]
    [MemberData(nameof(RaceSeeds))]
    public void ProducersOnSeveralCpusRacingTheWorker_LoseNoBio_AtEveryQuiescentCheckpoint(TaskCompletionVariant variant, ulong seed)
    {
        const int Rounds = 5;
        const int Producers = 3;
        const int PerProducer = 12;
        const int N = Rounds * Producers * PerProducer;
        var t = new Tracker(N);
        var lost = new List<string>();
        OnDisk(variant, (m, layer, disk) =>
        {
            var rng = new Random((int)seed * 7919);
            disk.CompletionCpuFor = _ => rng.Next(4);
            disk.LatencyFor = _ => rng.Next(500, 20_000);
            var next = 0;
            for (var round = 0; round < Rounds; round++)
            {
                var producers = Enumerable.Range(0, Producers).Select(p => m.Spawn($"producer{p}", () =>
                {
                    for (var i = 0; i < PerProducer; i++)
                    {
                        t.NewBio(disk, Interlocked.Increment(ref next) - 1, flagged: true).Submit();
                        Context.Point();
                    }
                }, cpu: p + 1)).ToArray();
                foreach (var p in producers)
                {
                    p.WaitForExit();
                }

                var expected = (round + 1) * Producers * PerProducer;
                SleepUntil(m, () => disk.Completions == expected);
                layer.FlushDeferred();
                if (t.Total != expected)
                {
                    lost.Add($"round {round}: {expected - t.Total} of {expected} completed bios had not run after FlushDeferred");
                }
            }

            SleepUntil(m, () => t.Total == N, maxMs: 50);
        }, cpus: 4, seed: seed);

        Assert.Empty(lost);
        AssertEachRanOnceSleepable(t);
    }

    // ---------------- real engine ----------------

    [Collection(MachineFixture.RealEngine)]
    public class OnTheRealEngine
    {
        [Theory]
        [MemberData(nameof(Variants), MemberType = typeof(TaskCompletionTests))]
        public void FlaggedBios_CompletedFromHardirqOnEveryCpu_RunEachCallbackOnce_InTaskContext(TaskCompletionVariant variant)
        {
            const int N = 64;
            var t = new Tracker(N);
            BioCompletionStats? stats = null;
            using var m = MachineFixture.Create(cpus: 2, engine: EngineKind.Real);
            var failure = MachineFixture.RunGuarded(m, () =>
            {
                var layer = BlockLayer.Create(m, new BlockLayerOptions { Variant = variant });
                var disk = new TestDisk(layer) { LatencyNs = 20_000 };
                disk.CompletionCpuFor = b => (int)b.Private! % 2;
                SubmitAll(t, disk, N);

                Assert.True(SleepUntil(m, () => t.Total == N, maxMs: 5000), $"{t.Total} of {N} callbacks ran");
                layer.FlushDeferred();
                stats = layer.Stats();
            });
            Assert.Null(failure);
            MachineFixture.AssertClean(m);
            AssertEachRanOnceSleepable(t);
            Assert.Equal(N, stats!.Deferred);
            Assert.Equal(N, stats.DeferralLatencyNs.Count);
        }
    }
}
