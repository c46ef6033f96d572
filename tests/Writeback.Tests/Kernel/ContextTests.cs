using System.Threading;
using Writeback.Kernel;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Kernel;

public class ContextTests
{
    // Raw preempt_count values (include/linux/preempt.h layout).
    private const int PreemptOffset = 0x1;
    private const int SoftirqOffset = 0x100;
    private const int SoftirqDisableOffset = 0x200;
    private const int HardirqOffset = 0x10000;

    /// <summary>Every context predicate at one instant.</summary>
    private readonly record struct Snapshot(
        bool InTask,
        bool InInterrupt,
        bool InSoftirq,
        bool InServingSoftirq,
        bool InHardirq,
        bool InAtomic,
        bool IrqsDisabled,
        bool Preemptible,
        bool BioInAtomic)
    {
        public static Snapshot Take() => new(
            Context.InTask,
            Context.InInterrupt,
            Context.InSoftirq,
            Context.InServingSoftirq,
            Context.InHardirq,
            Context.InAtomic,
            Context.IrqsDisabled,
            Context.Preemptible,
            Context.BioInAtomic);
    }

    private static readonly Snapshot PlainTask = new(
        InTask: true, InInterrupt: false, InSoftirq: false, InServingSoftirq: false, InHardirq: false,
        InAtomic: false, IrqsDisabled: false, Preemptible: true, BioInAtomic: false);

    [Fact]
    public void ServingSoftirq_PredicatesShowSoftirqWithIrqsOn()
    {
        using var m = MachineFixture.Create();
        Snapshot seen = default;
        var count = -1;
        var ran = false;
        m.OpenSoftirq(Softirq.Tasklet, _ =>
        {
            seen = Snapshot.Take();
            count = Current.Cpu.PreemptCountValue;
            ran = true;
        });
        m.Run(() =>
        {
            Machine.RaiseSoftirq(Softirq.Tasklet);
            MachineFixture.SpinUntil(() => ran);
        });
        Assert.Equal(
            new Snapshot(InTask: false, InInterrupt: true, InSoftirq: true, InServingSoftirq: true, InHardirq: false,
                InAtomic: true, IrqsDisabled: false, Preemptible: false, BioInAtomic: true),
            seen);
        Assert.Equal(SoftirqOffset, count);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void BhDisabled_IsInSoftirqAndInInterruptButStillInTaskAndNotServing()
    {
        using var m = MachineFixture.Create();
        Snapshot seen = default;
        var count = -1;
        Snapshot after = default;
        m.Run(() =>
        {
            Context.LocalBhDisable();
            seen = Snapshot.Take();
            count = Current.Cpu.PreemptCountValue;
            Context.LocalBhEnable();
            after = Snapshot.Take();
        });
        Assert.Equal(
            new Snapshot(InTask: true, InInterrupt: true, InSoftirq: true, InServingSoftirq: false, InHardirq: false,
                InAtomic: true, IrqsDisabled: false, Preemptible: false, BioInAtomic: true),
            seen);
        Assert.Equal(SoftirqDisableOffset, count);
        Assert.Equal(PlainTask, after);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void PreemptDisabled_IsTaskButAtomicAndNotPreemptible()
    {
        using var m = MachineFixture.Create();
        Snapshot seen = default;
        Snapshot after = default;
        m.Run(() =>
        {
            Context.PreemptDisable();
            seen = Snapshot.Take();
            Context.PreemptEnable();
            after = Snapshot.Take();
        });
        Assert.Equal(
            new Snapshot(InTask: true, InInterrupt: false, InSoftirq: false, InServingSoftirq: false, InHardirq: false,
                InAtomic: true, IrqsDisabled: false, Preemptible: false, BioInAtomic: true),
            seen);
        Assert.Equal(PlainTask, after);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void IrqsDisabled_IsTaskNotAtomicButNotPreemptibleSoBioInAtomic()
    {
        using var m = MachineFixture.Create();
        Snapshot saved = default;
        Snapshot disabled = default;
        Snapshot afterRestore = default;
        Snapshot afterEnable = default;
        m.Run(() =>
        {
            var f = Context.LocalIrqSave();
            saved = Snapshot.Take();
            Context.LocalIrqRestore(f);
            afterRestore = Snapshot.Take();
            Context.LocalIrqDisable();
            disabled = Snapshot.Take();
            Context.LocalIrqEnable();
            afterEnable = Snapshot.Take();
        });
        var irqsOff = new Snapshot(InTask: true, InInterrupt: false, InSoftirq: false, InServingSoftirq: false, InHardirq: false,
            InAtomic: false, IrqsDisabled: true, Preemptible: false, BioInAtomic: true);
        Assert.Equal(irqsOff, saved);
        Assert.Equal(irqsOff, disabled);
        Assert.Equal(PlainTask, afterRestore);
        Assert.Equal(PlainTask, afterEnable);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void SpinLockHeld_IsTaskButNotPreemptible()
    {
        using var m = MachineFixture.Create();
        Snapshot seen = default;
        var l = new Writeback.Kernel.SpinLock("ctx_spinlock_held");
        m.Run(() =>
        {
            l.Lock();
            seen = Snapshot.Take();
            l.Unlock();
        });
        Assert.True(seen.InTask);
        Assert.False(seen.InInterrupt);
        Assert.True(seen.InAtomic);
        Assert.False(seen.Preemptible);
        Assert.True(seen.BioInAtomic);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void BioInAtomic_IsExactlyNotPreemptible_InEveryContext()
    {
        using var m = MachineFixture.Create();
        var samples = new List<(string Where, bool Preemptible, bool BioInAtomic)>();
        void Sample(string where) => samples.Add((where, Context.Preemptible, Context.BioInAtomic));
        var l = new Writeback.Kernel.SpinLock("ctx_bio_in_atomic");
        var hardirqDone = false;
        m.OpenSoftirq(Softirq.Block, _ => Sample("softirq"));
        m.Run(() =>
        {
            Sample("task");
            Context.PreemptDisable();
            Sample("preempt-off");
            Context.PreemptEnable();
            Context.LocalBhDisable();
            Sample("bh-off");
            Context.LocalBhEnable();
            var f = Context.LocalIrqSave();
            Sample("irqs-off");
            Context.LocalIrqRestore(f);
            l.Lock();
            Sample("spin_lock");
            l.Unlock();
            m.RaiseIrq(0, "bio", () =>
            {
                Sample("hardirq");
                Machine.RaiseSoftirq(Softirq.Block);
                hardirqDone = true;
            });
            MachineFixture.SpinUntil(() => hardirqDone);
            Context.Point();
        });
        Assert.Equal(["task", "preempt-off", "bh-off", "irqs-off", "spin_lock", "hardirq", "softirq"], samples.Select(s => s.Where));
        Assert.All(samples, s => Assert.Equal(!s.Preemptible, s.BioInAtomic));
        Assert.False(samples[0].BioInAtomic);
        Assert.All(samples.Skip(1), s => Assert.True(s.BioInAtomic, s.Where));
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void WithoutPreemptCount_BioInAtomicIsAlwaysTrue_EvenInPlainTaskContext()
    {
        using var m = MachineFixture.Create(configure: o => o with { PreemptCount = false });
        var samples = new List<(string Where, bool Preemptible, bool BioInAtomic, bool InTask)>();
        void Sample(string where) => samples.Add((where, Context.Preemptible, Context.BioInAtomic, Context.InTask));
        var done = false;
        m.OpenSoftirq(Softirq.Block, _ => Sample("softirq"));
        m.Run(() =>
        {
            Sample("task");
            Context.LocalBhDisable();
            Sample("bh-off");
            Context.LocalBhEnable();
            m.RaiseIrq(1, "bio", () =>
            {
                Sample("hardirq");
                Machine.RaiseSoftirq(Softirq.Block);
                Volatile.Write(ref done, true);
            });
            MachineFixture.SpinUntil(() => Volatile.Read(ref done));
        });
        Assert.Contains(samples, s => s.Where == "softirq");
        Assert.All(samples, s =>
        {
            Assert.True(s.BioInAtomic, s.Where);
            Assert.False(s.Preemptible, s.Where);
        });
        Assert.True(samples[0].InTask, "plain task code is still in_task() without CONFIG_PREEMPT_COUNT");
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void PreemptCount_NestsAndOnlyTheOutermostEnableMakesTaskPreemptible()
    {
        using var m = MachineFixture.Create();
        var counts = new List<int>();
        var preemptible = new List<bool>();
        var l = new Writeback.Kernel.SpinLock("ctx_nesting");
        void Sample()
        {
            counts.Add(Current.Cpu.PreemptCountValue);
            preemptible.Add(Context.Preemptible);
        }

        m.Run(() =>
        {
            Context.PreemptDisable();
            Sample();
            Context.PreemptDisable();
            Sample();
            l.Lock();
            Sample();
            Context.LocalBhDisable();
            Sample();
            Context.LocalBhEnable();
            Sample();
            l.Unlock();
            Sample();
            Context.PreemptEnable();
            Sample();
            Context.PreemptEnable();
            Sample();
        });
        Assert.Equal(
            [1, 2, 3, 3 + SoftirqDisableOffset, 3, 2, 1, 0],
            counts);
        Assert.Equal([false, false, false, false, false, false, false, true], preemptible);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void LockBh_AddsSoftirqDisableAndPreemptOffsets_AndUnlockBhRemovesThem()
    {
        using var m = MachineFixture.Create();
        var held = -1;
        var after = -1;
        var l = new Writeback.Kernel.SpinLock("ctx_lock_bh");
        m.Run(() =>
        {
            l.LockBh();
            held = Current.Cpu.PreemptCountValue;
            l.UnlockBh();
            after = Current.Cpu.PreemptCountValue;
        });
        Assert.Equal(SoftirqDisableOffset + PreemptOffset, held);
        Assert.Equal(0, after);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void PreemptEnable_WithoutDisable_IsABug()
    {
        using var m = MachineFixture.Create();
        KernelBugException? caught = null;
        m.Run(() => caught = Assert.Throws<KernelBugException>(Context.PreemptEnable));
        Assert.Contains("preempt_enable() without preempt_disable()", caught!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LocalBhEnable_InHardirq_Warns()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        var done = false;
        m.Run(() =>
        {
            m.RaiseIrq(1, "dev", () =>
            {
                Context.LocalBhDisable();
                Context.LocalBhEnable();
                Volatile.Write(ref done, true);
            });
            MachineFixture.SpinUntil(() => Volatile.Read(ref done));
        });
        var r = MachineFixture.SingleReport(m, ReportKind.Warning);
        Assert.Contains("local_bh_enable() in hardirq context", r.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void LocalBhEnable_WithIrqsDisabled_Warns()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        m.Run(() =>
        {
            Context.LocalBhDisable();
            Context.LocalIrqDisable();
            Context.LocalBhEnable();
            Context.LocalIrqEnable();
        });
        MachineFixture.SingleReport(m, ReportKind.Warning);
    }

    [Fact]
    public void SmpProcessorId_FromPreemptibleUnboundTask_Warns()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        var id = -1;
        m.Run(() => id = Context.SmpProcessorId);
        Assert.Equal(0, id);
        var r = MachineFixture.SingleReport(m, ReportKind.Warning);
        Assert.Contains("BUG: using smp_processor_id() in preemptible [00000000] code: init/", r.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void SmpProcessorId_WithPreemptionDisabledOrBoundTask_DoesNotWarn()
    {
        using var m = MachineFixture.Create(lockdep: LockdepMode.Report);
        var ids = new List<int>();
        m.Run(() =>
        {
            Context.PreemptDisable();
            ids.Add(Context.SmpProcessorId);
            Context.PreemptEnable();
            var f = Context.LocalIrqSave();
            ids.Add(Context.SmpProcessorId);
            Context.LocalIrqRestore(f);
            ids.Add(Context.RawSmpProcessorId);
            var bound = m.Spawn("bound", () => ids.Add(Context.SmpProcessorId), cpu: 1);
            bound.WaitForExit();
        });
        Assert.Equal([0, 0, 0, 1], ids);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void OutsideMachine_PredicatesDescribeOrdinaryTaskContext_AndControlsAreNoOps()
    {
        Assert.Equal(PlainTask, Snapshot.Take());
        var f = Context.LocalIrqSave();
        Assert.True(f.WereEnabled);
        Assert.False(Context.IrqsDisabled);
        Context.LocalIrqRestore(f);
        Context.LocalBhDisable();
        Assert.False(Context.InSoftirq);
        Context.LocalBhEnable();
        Context.PreemptDisable();
        Assert.True(Context.Preemptible);
        Context.PreemptEnable();
        Context.MightSleep();
        Context.CondResched();
        Context.Point(4096);
        Assert.Equal(PlainTask, Snapshot.Take());
    }

    /// <summary>Theories over both engines: the real engine runs only in the serial collection.</summary>
    [Collection(MachineFixture.RealEngine)]
    public class BothEngines
    {
        [Theory]
        [MemberData(nameof(MachineFixture.Engines), MemberType = typeof(MachineFixture))]
        public void Task_AllPredicatesDescribePreemptibleTaskContext(EngineKind engine)
        {
            using var m = MachineFixture.Create(engine: engine);
            Snapshot seen = default;
            var count = -1;
            m.Run(() =>
            {
                seen = Snapshot.Take();
                count = Current.Cpu.PreemptCountValue;
            });
            Assert.Equal(PlainTask, seen);
            Assert.Equal(0, count);
            MachineFixture.AssertClean(m);
        }

        [Theory]
        [MemberData(nameof(MachineFixture.Engines), MemberType = typeof(MachineFixture))]
        public void Hardirq_PredicatesShowHardirqWithIrqsOff(EngineKind engine)
        {
            using var m = MachineFixture.Create(engine: engine);
            Snapshot seen = default;
            var count = -1;
            var done = false;
            m.Run(() =>
            {
                m.RaiseIrq(1, "ctx-test", () =>
                {
                    seen = Snapshot.Take();
                    count = Current.Cpu.PreemptCountValue;
                    Volatile.Write(ref done, true);
                });
                MachineFixture.SpinUntil(() => Volatile.Read(ref done));
            });
            Assert.Equal(
                new Snapshot(InTask: false, InInterrupt: true, InSoftirq: false, InServingSoftirq: false, InHardirq: true,
                    InAtomic: true, IrqsDisabled: true, Preemptible: false, BioInAtomic: true),
                seen);
            Assert.Equal(HardirqOffset, count);
            MachineFixture.AssertClean(m);
        }
    }
}
