using System.Threading;
using Writeback.Kernel;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Kernel;

/// <summary>Tasks on CPUs: binding, placement, sleeping, the timeslice, deadlock detection.</summary>
public class SchedulerTests
{
    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    public void Timeslice_LetsAWaitingTaskRunOnABusyCpu(ulong seed)
    {
        using var m = MachineFixture.Create(seed: seed, cpus: 1);
        var flag = false;
        m.Run(() =>
        {
            // Same CPU, and the spinner never sleeps: only the timeslice can hand the CPU over.
            var spinner = m.Spawn("spinner", () =>
            {
                while (!Volatile.Read(ref flag))
                {
                    Context.Point(4096);
                }
            }, 0);
            var setter = m.Spawn("setter", () => Volatile.Write(ref flag, true), 0);
            spinner.WaitForExit();
            setter.WaitForExit();
        });
        Assert.True(flag);
        MachineFixture.AssertClean(m);
    }

    [Fact]
    public void BoundTask_RunsOnlyOnItsCpu()
    {
        using var m = MachineFixture.Create(seed: 3, cpus: 4);
        var seen = new HashSet<int>();
        m.Run(() =>
        {
            var t = m.Spawn("bound", () =>
            {
                for (var i = 0; i < 50; i++)
                {
                    seen.Add(Current.Cpu.Id);
                    m.Msleep(1);
                }
            }, 2);
            t.WaitForExit();
        });
        Assert.Equal([2], seen);
    }

    [Fact]
    public void FreeTasks_SpreadOverIdleCpus()
    {
        using var m = MachineFixture.Create(seed: 4, cpus: 4);
        var cpus = new int[4];
        m.Run(() =>
        {
            var tasks = Enumerable.Range(0, 4).Select(i => m.Spawn($"free{i}", () =>
            {
                cpus[i] = Current.Cpu.Id;
                Context.Point(100_000);
            })).ToArray();
            foreach (var t in tasks)
            {
                t.WaitForExit();
            }
        });
        Assert.True(cpus.Distinct().Count() >= 3, $"four free tasks started on CPUs {string.Join(",", cpus)}");
    }

    [Fact]
    public void SleepingTask_GivesUpItsCpu()
    {
        using var m = MachineFixture.Create(seed: 5, cpus: 1);
        var order = new List<string>();
        m.Run(() =>
        {
            var sleeper = m.Spawn("sleeper", () =>
            {
                order.Add("sleeper:start");
                m.Msleep(5);
                order.Add("sleeper:end");
            }, 0);
            var worker = m.Spawn("worker", () => order.Add("worker"), 0);
            sleeper.WaitForExit();
            worker.WaitForExit();
        });
        Assert.Equal(["sleeper:start", "worker", "sleeper:end"], order);
    }

    [Fact]
    public void AllTasksAsleep_IsReportedAsDeadlockWithTheSeed()
    {
        using var m = MachineFixture.Create(seed: 42, cpus: 2);
        var never = new Completion();
        var ex = Assert.Throws<MachineFailedException>(() => m.Run(never.WaitForCompletion));
        Assert.Contains("deadlock", ex.Message, StringComparison.Ordinal);
        Assert.Contains("seed 42", ex.Message, StringComparison.Ordinal);
        Assert.Contains("wait_for_completion", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SleepingInAtomicContext_IsScheduleWhileAtomic()
    {
        using var m = MachineFixture.Create(seed: 1, cpus: 1, lockdep: LockdepMode.Off);
        var l = new Writeback.Kernel.SpinLock("sched_atomic_test");
        var ex = Assert.Throws<MachineFailedException>(() => m.Run(() =>
        {
            l.Lock();
            m.Msleep(1);
        }));
        Assert.Contains("BUG: scheduling while atomic", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TaskThatThrows_FailsTheRunNamingTaskAndSeed()
    {
        using var m = MachineFixture.Create(seed: 9, cpus: 2);
        var ex = Assert.Throws<MachineFailedException>(() => m.Run(() => throw new InvalidOperationException("boom")));
        Assert.Contains("task init/1 failed: boom", ex.Message, StringComparison.Ordinal);
        Assert.Contains("seed 9", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_RejectBadValuesByName()
    {
        Assert.Contains("Cpus", Assert.Throws<ArgumentOutOfRangeException>(() => Machine.Create(new MachineOptions { Cpus = 0 })).Message, StringComparison.Ordinal);
        Assert.Contains("Hz", Assert.Throws<ArgumentOutOfRangeException>(() => Machine.Create(new MachineOptions { Hz = 7 })).Message, StringComparison.Ordinal);
        Assert.Contains("QuantumNs", Assert.Throws<ArgumentOutOfRangeException>(() => Machine.Create(new MachineOptions { QuantumNs = -1 })).Message, StringComparison.Ordinal);
        Assert.Contains("JitterNs", Assert.Throws<ArgumentOutOfRangeException>(() => Machine.Create(new MachineOptions { Costs = CostModel.Default with { JitterNs = -1 } })).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Machine_Runs128Cpus()
    {
        using var m = MachineFixture.Create(seed: 1, cpus: 128);
        var ran = 0;
        m.Run(() =>
        {
            var tasks = Enumerable.Range(0, 128).Select(i => m.Spawn($"t{i}", () => Interlocked.Increment(ref ran), i)).ToArray();
            foreach (var t in tasks)
            {
                t.WaitForExit();
            }
        });
        Assert.Equal(128, ran);
    }

    [Fact]
    public void ExactScheduling_QuantumZero_StillDeterministic()
    {
        ulong Hash()
        {
            using var m = MachineFixture.Create(seed: 11, cpus: 4, configure: o => o with { QuantumNs = 0 });
            var l = new Writeback.Kernel.SpinLock("quantum_zero");
            m.Run(() =>
            {
                var tasks = Enumerable.Range(0, 4).Select(i => m.Spawn($"t{i}", () =>
                {
                    for (var k = 0; k < 50; k++)
                    {
                        l.Lock();
                        Context.Point(64);
                        l.Unlock();
                    }
                }, i)).ToArray();
                foreach (var t in tasks)
                {
                    t.WaitForExit();
                }
            });
            return m.TraceHash;
        }

        Assert.Equal(Hash(), Hash());
    }
}
