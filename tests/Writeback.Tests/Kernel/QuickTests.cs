using System.Threading;
using Writeback.Kernel;

namespace Writeback.Tests.Kernel;

public class QuickTests
{
    [Theory]
    [InlineData(EngineKind.Deterministic)]
    [InlineData(EngineKind.Real)]
    public void Workqueue_RunsItems(EngineKind engine)
    {
        using var m = Machine.Create(new MachineOptions { Engine = engine, Cpus = 4, Seed = 3 });
        var count = 0;
        var inTask = true;
        m.Run(() =>
        {
            var wq = m.AllocWorkqueue("test", WqFlags.None);
            var works = Enumerable.Range(0, 8).Select(_ => new WorkStruct(_ => { Interlocked.Increment(ref count); inTask &= Context.InTask; })).ToArray();
            foreach (var w in works)
            {
                wq.QueueWork(w);
            }

            wq.Flush();
        });
        Assert.Equal(8, count);
        Assert.True(inTask);
    }

    [Theory]
    [InlineData(EngineKind.Deterministic)]
    [InlineData(EngineKind.Real)]
    public void Mutex_ExcludesAcrossTasks(EngineKind engine)
    {
        using var m = Machine.Create(new MachineOptions { Engine = engine, Cpus = 2, Seed = 5 });
        var mutex = new Writeback.Kernel.Mutex("test_mutex");
        var inside = 0;
        var max = 0;
        var total = 0;
        m.Run(() =>
        {
            var tasks = Enumerable.Range(0, 4).Select(i => m.Spawn($"t{i}", () =>
            {
                for (var k = 0; k < 50; k++)
                {
                    mutex.Lock();
                    var n = Interlocked.Increment(ref inside);
                    max = Math.Max(max, n);
                    m.Msleep(0);
                    total++;
                    Interlocked.Decrement(ref inside);
                    mutex.Unlock();
                }
            })).ToArray();
            foreach (var t in tasks)
            {
                t.WaitForExit();
            }
        });
        Assert.Equal(1, max);
        Assert.Equal(200, total);
    }

    [Fact]
    public void PlainLock_InTaskAndHardirq_ReportsInconsistentState()
    {
        using var m = Machine.Create(new MachineOptions { Cpus = 2, Seed = 1, Lockdep = LockdepMode.Report });
        var l = new Writeback.Kernel.SpinLock("plain_test");
        m.Run(() =>
        {
            var done = false;
            m.RaiseIrq(1, "dev", () => { l.Lock(); l.Unlock(); done = true; });
            while (!Volatile.Read(ref done))
            {
                Context.Point();
            }

            l.Lock();
            l.Unlock();
        });
        var r = Assert.Single(m.Reports);
        Assert.Contains("inconsistent {IN-HARDIRQ-W} -> {HARDIRQ-ON-W} usage.", r.Text);
    }

    [Fact]
    public void PlainLock_IrqOnSameCpu_DetectsSelfDeadlock()
    {
        using var m = Machine.Create(new MachineOptions { Cpus = 1, Seed = 1, Lockdep = LockdepMode.Off });
        var l = new Writeback.Kernel.SpinLock("plain_test2");
        var ex = Assert.Throws<MachineFailedException>(() => m.Run(() =>
        {
            l.Lock();
            m.RaiseIrq(0, "dev", () => { l.Lock(); l.Unlock(); });
            Context.Point();
            l.Unlock();
        }));
        Assert.Contains("spinlock recursion", ex.Message);
    }
}
