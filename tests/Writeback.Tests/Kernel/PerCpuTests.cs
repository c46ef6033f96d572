using System.Collections.Concurrent;
using Writeback.Kernel;

namespace Writeback.Tests.Kernel;

/// <summary>Per-CPU variables: one instance per CPU, this_cpu_ptr() and its preemption check.</summary>
public class PerCpuTests
{
    private static Machine NewMachine(int cpus = 4, ulong seed = 1, LockdepMode lockdep = LockdepMode.Fail, EngineKind engine = EngineKind.Deterministic) =>
        Machine.Create(new MachineOptions { Engine = engine, Cpus = cpus, Seed = seed, Lockdep = lockdep });

    private sealed class Counter(int cpu)
    {
        public int Cpu { get; } = cpu;

        public int Hits { get; set; }
    }

    [Fact]
    public void EachCpuHasItsOwnInstance_BuiltFromItsNumber()
    {
        using var m = NewMachine();
        var pcpu = new PerCpu<Counter>(m, cpu => new Counter(cpu));
        Assert.Equal(4, pcpu.Count);
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(i, pcpu[i].Cpu);
            Assert.Same(pcpu[i], pcpu[i]);
        }

        Assert.Equal(4, Enumerable.Range(0, 4).Select(i => pcpu[i]).Distinct().Count());
    }

    [Fact]
    public void This_WithPreemptionDisabled_IsTheCurrentCpusInstance_WithoutReports()
    {
        using var m = NewMachine();
        var pcpu = new PerCpu<Counter>(m, cpu => new Counter(cpu));
        var mismatches = 0;
        var samples = new ConcurrentBag<int>();
        m.Run(() =>
        {
            // Unbound tasks that migrate between samples; each sample is taken with preemption off.
            var tasks = Enumerable.Range(0, 4).Select(i => m.Spawn($"user{i}", () =>
            {
                for (var k = 0; k < 20; k++)
                {
                    Context.PreemptDisable();
                    var c = pcpu.This;
                    if (c.Cpu != Current.Cpu.Id)
                    {
                        mismatches++;
                    }

                    c.Hits++;
                    samples.Add(c.Cpu);
                    Context.PreemptEnable();
                    m.Msleep(k % 3);
                }
            })).ToList();
            foreach (var t in tasks)
            {
                t.WaitForExit();
            }
        });
        Assert.Equal(0, mismatches);
        Assert.Equal(80, Enumerable.Range(0, 4).Sum(i => pcpu[i].Hits));
        Assert.True(samples.Distinct().Count() > 1);
        Assert.Empty(m.Reports);
    }

    [Fact]
    public void This_WithInterruptsDisabled_OrInHardirq_DoesNotReport()
    {
        using var m = NewMachine();
        var pcpu = new PerCpu<Counter>(m, cpu => new Counter(cpu));
        var irqSample = -1;
        var irqCpu = -2;
        m.Run(() =>
        {
            var flags = Context.LocalIrqSave();
            Assert.Equal(Current.Cpu.Id, pcpu.This.Cpu);
            Context.LocalIrqRestore(flags);

            var done = new Completion();
            m.RaiseIrq(2, "dev", () =>
            {
                irqSample = pcpu.This.Cpu;
                irqCpu = Current.Cpu.Id;
                done.Complete();
            });
            done.WaitForCompletion();
        });
        Assert.Equal(2, irqSample);
        Assert.Equal(irqCpu, irqSample);
        Assert.Empty(m.Reports);
    }

    [Fact]
    public void This_FromPreemptibleUnboundTask_ReportsSmpProcessorIdInPreemptible()
    {
        using var m = NewMachine(lockdep: LockdepMode.Report);
        var pcpu = new PerCpu<Counter>(m, cpu => new Counter(cpu));
        Counter? got = null;
        m.Run(() => got = pcpu.This);
        Assert.Same(pcpu[0], got);
        var r = Assert.Single(m.Reports);
        Assert.Equal(ReportKind.Warning, r.Kind);
        Assert.Contains("using smp_processor_id() in preemptible", r.Text);
        Assert.Contains("init/", r.Text);
    }

    [Fact]
    public void This_FromPreemptibleUnboundTask_FailsTheRunInFailMode()
    {
        using var m = NewMachine();
        var pcpu = new PerCpu<Counter>(m, cpu => new Counter(cpu));
        var ex = Assert.Throws<MachineFailedException>(() => m.Run(() => _ = pcpu.This));
        Assert.Contains("using smp_processor_id() in preemptible", ex.Message);
    }

    [Fact]
    public void This_FromTaskBoundToOneCpu_DoesNotReport()
    {
        // A task that cannot migrate may use this_cpu_ptr() preemptibly (is_percpu_thread()).
        using var m = NewMachine();
        var pcpu = new PerCpu<Counter>(m, cpu => new Counter(cpu));
        var seen = new ConcurrentBag<(int Want, int Got)>();
        m.Run(() =>
        {
            var tasks = Enumerable.Range(0, 4).Select(cpu => m.KthreadRun($"percpu/{cpu}", () => seen.Add((cpu, pcpu.This.Cpu)), cpu)).ToList();
            var user = m.Spawn("bound_user", () => seen.Add((3, pcpu.This.Cpu)), 3);
            user.WaitForExit();
            foreach (var t in tasks)
            {
                t.WaitForExit();
            }
        });
        Assert.Equal(5, seen.Count);
        Assert.All(seen, s => Assert.Equal(s.Want, s.Got));
        Assert.Empty(m.Reports);
    }

    [Fact]
    public void Raw_FromPreemptibleContext_DoesNotReport()
    {
        using var m = NewMachine();
        var pcpu = new PerCpu<Counter>(m, cpu => new Counter(cpu));
        var got = -1;
        m.Run(() => got = pcpu.Raw.Cpu);
        Assert.Equal(0, got);
        Assert.Empty(m.Reports);
    }

    [Fact]
    public void This_InWorkItemOfBoundWorkqueue_IsTheWorkersCpu()
    {
        using var m = NewMachine();
        var pcpu = new PerCpu<Counter>(m, cpu => new Counter(cpu));
        var got = new int[4];
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("percpu_wq", WqFlags.None);
            for (var cpu = 0; cpu < 4; cpu++)
            {
                var c = cpu;
                Assert.True(wq.QueueWorkOn(cpu, new WorkStruct(_ => got[c] = pcpu.This.Cpu)));
            }

            wq.Flush();
        });
        Assert.Equal([0, 1, 2, 3], got);
        Assert.Empty(m.Reports);
    }
}
