using Writeback.Block;
using Writeback.Kernel;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Block;

/// <summary>The checked-build guard on calling a bio's end_io directly, and the deferral decision
/// on a kernel without preempt counting (KERNEL-REFERENCE.md §1.6, §1.7).</summary>
public class BioCheckedTests
{
    [Fact]
    public void CheckedBuild_CallingEndIoDirectly_IsABug()
    {
        using var m = MachineFixture.Create();
        Exception? direct = null;
        var runs = 0;
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m, new BlockLayerOptions { Checked = true });
            var bio = new Bio(new TestDisk(layer), BioOp.Write) { EndIoHandler = _ => runs++ };
            direct = Record.Exception(() => bio.EndIoHandler!(bio));
            bio.Endio();
        });
        var bug = Assert.IsType<KernelBugException>(direct);
        Assert.Contains("called directly, bypassing bio_endio()", bug.Message, StringComparison.Ordinal);
        Assert.Equal(1, runs);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void UncheckedBuild_EndIoHandlerIsTheCallbackItself()
    {
        using var m = MachineFixture.Create();
        Action<Bio> handler = _ => { };
        Action<Bio>? seen = null;
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m);
            var bio = new Bio(new TestDisk(layer), BioOp.Write) { EndIoHandler = handler };
            seen = bio.EndIoHandler;
        });
        Assert.Same(handler, seen);
    }

    [Fact]
    public void CheckedBuild_DeferredCallbackRunsThroughTheWorkerWithoutAReport()
    {
        using var m = MachineFixture.Create(cpus: 2);
        var inTask = false;
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m, new BlockLayerOptions { Checked = true });
            var done = new Completion();
            var bio = new Bio(new TestDisk(layer), BioOp.Write)
            {
                EndIoHandler = _ =>
                {
                    inTask = Context.InTask && !Context.BioInAtomic;
                    done.Complete();
                },
            };
            bio.SetFlag(BioFlags.CompleteInTask);
            m.RaiseIrq(1, "disk", bio.Endio);
            done.WaitForCompletion();
        });
        Assert.True(inTask);
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(DeferralDecision.BioInAtomic, true)]
    [InlineData(DeferralDecision.NotInTask, false)]
    public void NoPreemptCount_FlaggedBioFromPlainTaskContext(DeferralDecision decision, bool deferred)
    {
        // Without CONFIG_PREEMPT_COUNT bio_in_atomic() cannot tell, so it always defers; !in_task()
        // still sees a plain task as task context.
        using var m = MachineFixture.Create(cpus: 2, configure: o => o with { PreemptCount = false });
        BioCompletionStats? stats = null;
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m, new BlockLayerOptions { Decision = decision });
            var done = new Completion();
            var bio = new Bio(new TestDisk(layer), BioOp.Write) { EndIoHandler = _ => done.Complete() };
            bio.SetFlag(BioFlags.CompleteInTask);
            bio.Endio();
            done.WaitForCompletion();
            stats = layer.Stats();
        });
        Assert.Equal(deferred ? 1 : 0, stats!.Deferred);
        Assert.Equal(deferred ? 0 : 1, stats.Inline);
        MachineFixture.AssertClean(m);
    }
}
