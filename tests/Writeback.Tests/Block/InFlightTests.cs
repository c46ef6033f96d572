using Writeback.Block;
using Writeback.Kernel;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Block;

/// <summary>The block layer's in-flight count (no bio submitted and never completed), and the
/// checked build's guarantee that a flagged bio's end_io never runs in interrupt context.</summary>
public class InFlightTests
{
    public static TheoryData<TaskCompletionVariant> Variants => new()
    {
        TaskCompletionVariant.Merged, TaskCompletionVariant.V4, TaskCompletionVariant.V5, TaskCompletionVariant.Cpumask,
    };

    [Fact]
    public void InFlight_IsOneWhileABioIsHeldAtTheDevice_AndZeroOnceItCompletes()
    {
        using var m = MachineFixture.Create();
        var seen = new List<long>();
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m, new BlockLayerOptions { Checked = true });
            var disk = new TestDisk(layer) { Manual = true };
            var bio = new Bio(disk, BioOp.Write) { EndIoHandler = _ => seen.Add(layer.InFlight) };
            bio.AddVec(new byte[4096]);
            seen.Add(layer.InFlight);
            bio.Submit();
            seen.Add(layer.InFlight);
            disk.Complete(disk.TakeHeld());
            seen.Add(layer.InFlight);
            Assert.Equal(1, layer.Submitted);
            Assert.Equal(1, layer.Ended);
        });

        // Before, held, inside its end_io (still counted: the completion has not finished), after.
        Assert.Equal([0, 1, 1, 0], seen);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void InFlight_IsPositiveWhileTheDisksLatencyHoldsTheBio()
    {
        using var m = MachineFixture.Create(cpus: 2);
        long during = -1;
        long after = -1;
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m);
            var disk = new MemDisk(layer, new DiskOptions { CapacityBytes = 1 << 20, Latency = LatencyModel.Constant(1_000_000) });
            var done = new Completion();
            var bio = new Bio(disk, BioOp.Write) { EndIoHandler = _ => done.Complete() };
            bio.AddVec(new byte[4096]);
            bio.Submit();
            during = layer.InFlight;
            done.WaitForCompletion();
            MachineFixture.SpinUntil(() => layer.InFlight == 0);
            after = layer.InFlight;
        });
        Assert.Equal(1, during);
        Assert.Equal(0, after);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void ABioTheDeviceSplits_CountsOnce_UntilItsLastPieceCompletes()
    {
        using var m = MachineFixture.Create();
        var counts = new List<long>();
        long devicePieces = 0;
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m, new BlockLayerOptions { Checked = true });
            var disk = new TestDisk(layer, limits: new QueueLimits { MaxSectors = 8 }) { Manual = true };
            var bio = new Bio(disk, BioOp.Write) { EndIoHandler = _ => { } };
            bio.AddVec(new byte[3 * 4096]);
            bio.Submit();
            devicePieces = disk.Submitted;
            foreach (var piece in disk.TakeAllHeld())
            {
                counts.Add(layer.InFlight);
                disk.Complete(piece);
            }

            counts.Add(layer.InFlight);
            Assert.Equal(1, layer.Submitted);
            Assert.Equal(1, layer.Ended);
        });
        Assert.Equal(3, devicePieces);
        Assert.Equal([1, 1, 1, 0], counts);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void ExplicitlyChainedChildAndParent_EachCountUntilTheirOwnCompletionIsDone()
    {
        using var m = MachineFixture.Create();
        var counts = new List<long>();
        var parentRuns = 0;
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m, new BlockLayerOptions { Checked = true });
            var disk = new TestDisk(layer) { Manual = true };
            var parent = new Bio(disk, BioOp.Write) { Sector = 8, EndIoHandler = _ => parentRuns++ };
            parent.AddVec(new byte[4096]);
            var child = new Bio(disk, BioOp.Write) { Sector = 0 };
            child.AddVec(new byte[4096]);
            child.Chain(parent);
            child.Submit();
            parent.Submit();
            counts.Add(layer.InFlight);
            var held = disk.TakeAllHeld();

            // The parent's own I/O ends first: it waits for the child, still in flight.
            disk.Complete(held[1]);
            counts.Add(layer.InFlight);
            disk.Complete(held[0]);
            counts.Add(layer.InFlight);
        });
        Assert.Equal([2, 2, 0], counts);
        Assert.Equal(1, parentRuns);
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void DeferredFlaggedBio_StaysInFlightUntilTheWorkerHasRunItsCallback(TaskCompletionVariant variant)
    {
        using var m = MachineFixture.Create(cpus: 2);
        var counts = new List<long>();
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m, new BlockLayerOptions { Variant = variant, Checked = true });
            var disk = new TestDisk(layer) { Manual = true };
            var done = new Completion();
            var bio = new Bio(disk, BioOp.Write)
            {
                EndIoHandler = _ =>
                {
                    counts.Add(layer.InFlight);
                    done.Complete();
                },
            };
            bio.SetFlag(BioFlags.CompleteInTask);
            bio.AddVec(new byte[4096]);
            bio.Submit();
            var held = disk.TakeHeld();
            m.RaiseIrq(1, "disk", () => disk.Complete(held));
            counts.Add(layer.InFlight);
            done.WaitForCompletion();
            layer.FlushDeferred();
            counts.Add(layer.InFlight);
            Assert.Equal(1, layer.Stats().Deferred);
        });
        // Inside the callback and right after the interrupt (in either order): 1; after the flush: 0.
        Assert.Equal(3, counts.Count);
        Assert.Equal([1, 1, 0], counts);
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void BioCompleteInTask_ReDeferral_CountsTheBioOnceAndUntilTheReRunReturns(TaskCompletionVariant variant)
    {
        using var m = MachineFixture.Create(cpus: 2);
        var runs = 0;
        long afterFirstRun = -1;
        long ended = -1;
        long inFlight = -1;
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m, new BlockLayerOptions { Variant = variant, Checked = true });
            var disk = new TestDisk(layer) { Manual = true };
            var done = new Completion();
            var bio = new Bio(disk, BioOp.Write);
            bio.EndIoHandler = b =>
            {
                runs++;
                if (layer.BioCompleteInTask(b))
                {
                    return;
                }

                done.Complete();
            };
            bio.AddVec(new byte[4096]);
            bio.Submit();
            var held = disk.TakeHeld();
            m.RaiseIrq(0, "disk", () =>
            {
                disk.Complete(held);
                afterFirstRun = layer.InFlight;
            });
            done.WaitForCompletion();
            layer.FlushDeferred();
            ended = layer.Ended;
            inFlight = layer.InFlight;
        });
        Assert.Equal(2, runs);
        Assert.Equal(1, afterFirstRun);
        Assert.Equal(1, ended);
        Assert.Equal(0, inFlight);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void ABioBeyondTheDevice_CompletesAtSubmission_AndIsNotLeftInFlight()
    {
        using var m = MachineFixture.Create();
        BlkStatus status = BlkStatus.Ok;
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m, new BlockLayerOptions { Checked = true });
            var disk = new TestDisk(layer, capacitySectors: 8);
            var bio = new Bio(disk, BioOp.Write) { Sector = 8, EndIoHandler = b => status = b.Status };
            bio.AddVec(new byte[4096]);
            bio.Submit();
            Assert.Equal(0, layer.InFlight);
            Assert.Equal(1, layer.Submitted);
            Assert.Equal(1, layer.Ended);
        });
        Assert.Equal(BlkStatus.IoErr, status);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void ABioCompletedWithoutBeingSubmitted_IsNotCounted()
    {
        using var m = MachineFixture.Create();
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m);
            var bio = new Bio(new TestDisk(layer), BioOp.Write) { EndIoHandler = _ => { } };
            bio.Endio();
            Assert.Equal(0, layer.Submitted);
            Assert.Equal(0, layer.Ended);
            Assert.Equal(0, layer.InFlight);
        });
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void ManyBiosFromSeveralCpus_WithRandomLatenciesAndInjectedIrqs_AllEnd(TaskCompletionVariant variant)
    {
        const int perCpu = 40;
        using var m = MachineFixture.Create(seed: 7, cpus: 3, configure: o => o with { IrqInjectionProbability = 0.02 });
        long submitted = -1;
        long ended = -1;
        long inFlight = -1;
        var maxSeen = 0L;
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m, new BlockLayerOptions { Variant = variant, Checked = true });
            var disk = new TestDisk(layer) { LatencyFor = b => 1_000 + ((long)(b.Sector % 7) * 5_000), CompletionCpuFor = b => (int)(b.Sector % 3), CompleteInSoftirq = true };
            var tasks = Enumerable.Range(0, 3).Select(cpu => m.Spawn($"submitter{cpu}", () =>
            {
                for (var i = 0; i < perCpu; i++)
                {
                    var bio = new Bio(disk, BioOp.Write) { Sector = (ulong)((cpu * perCpu) + i) * 8, EndIoHandler = _ => { } };
                    if (i % 2 == 0)
                    {
                        bio.SetFlag(BioFlags.CompleteInTask);
                    }

                    bio.AddVec(new byte[4096]);
                    bio.Submit();
                    maxSeen = Math.Max(maxSeen, layer.InFlight);
                }
            }, cpu)).ToList();
            foreach (var t in tasks)
            {
                t.WaitForExit();
            }

            // The disk counts a completion in its interrupt, before the block softirq ends the
            // bio: give the softirqs a moment, then wait for what they deferred.
            MachineFixture.SpinUntil(() => disk.Completions == 3 * perCpu);
            m.Msleep(2);
            layer.FlushDeferred();
            submitted = layer.Submitted;
            ended = layer.Ended;
            inFlight = layer.InFlight;
        });
        Assert.Equal(3 * perCpu, submitted);
        Assert.Equal(submitted, ended);
        Assert.Equal(0, inFlight);
        Assert.True(maxSeen > 1, "no two bios were ever in flight together");
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void CheckedBuild_ADeferredCallbackRunInInterruptContext_IsABug()
    {
        using var m = MachineFixture.Create(cpus: 2);
        Exception? failure = null;
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m, new BlockLayerOptions { Checked = true });
            var bio = new Bio(new TestDisk(layer), BioOp.Write) { EndIoHandler = _ => { } };
            bio.SetFlag(BioFlags.CompleteInTask);
            m.RaiseIrq(0, "stray", () => failure = Record.Exception(bio.RunDeferred));
            bio.Endio();
            layer.FlushDeferred();
        });
        var bug = Assert.IsType<KernelBugException>(failure);
        Assert.Contains("outside task context", bug.Message, StringComparison.Ordinal);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void CheckedBuild_NotInTaskDecision_FlaggedBioCompletedWithBottomHalvesDisabled_IsABug()
    {
        // The !in_task() decision sees a bottom-half-disabled task as task context and runs the
        // callback inline with in_interrupt() true: what the unchecked build only counts.
        using var m = MachineFixture.Create(cpus: 2);
        Exception? failure = null;
        var runs = 0;
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m, new BlockLayerOptions { Checked = true, Decision = DeferralDecision.NotInTask });
            var bio = new Bio(new TestDisk(layer), BioOp.Write) { EndIoHandler = _ => runs++ };
            bio.SetFlag(BioFlags.CompleteInTask);
            Context.LocalBhDisable();
            failure = Record.Exception(bio.Endio);
            Context.LocalBhEnable();
        });
        var bug = Assert.IsType<KernelBugException>(failure);
        Assert.Contains("in_interrupt() true", bug.Message, StringComparison.Ordinal);
        Assert.Equal(0, runs);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void CheckedBuild_MergedDecision_FlaggedBioCompletedWithBottomHalvesDisabled_IsDeferredWithoutABug()
    {
        using var m = MachineFixture.Create(cpus: 2);
        var sleepable = false;
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m, new BlockLayerOptions { Checked = true });
            var done = new Completion();
            var bio = new Bio(new TestDisk(layer), BioOp.Write)
            {
                EndIoHandler = _ =>
                {
                    sleepable = Context.InTask && !Context.InInterrupt && !Context.IrqsDisabled;
                    done.Complete();
                },
            };
            bio.SetFlag(BioFlags.CompleteInTask);
            Context.LocalBhDisable();
            bio.Endio();
            Context.LocalBhEnable();
            done.WaitForCompletion();
        });
        Assert.True(sleepable);
        MachineFixture.AssertClean(m);
    }
}
