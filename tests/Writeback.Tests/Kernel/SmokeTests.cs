using Writeback.Kernel;

namespace Writeback.Tests.Kernel;

public class SmokeTests
{
    [Fact]
    public void Run_ExecutesInitTask()
    {
        using var m = Machine.Create(new MachineOptions { Cpus = 2, Seed = 1 });
        var ran = false;
        m.Run(() => ran = true);
        Assert.True(ran);
    }

    [Fact]
    public void Irq_RunsInHardirqContext()
    {
        using var m = Machine.Create(new MachineOptions { Cpus = 2, Seed = 1 });
        var inHardirq = false;
        var l = new Writeback.Kernel.SpinLock("test_lock");
        m.Run(() =>
        {
            m.RaiseIrq(1, "test", () => inHardirq = Context.InHardirq);
            for (var i = 0; i < 100; i++)
            {
                var f = l.LockIrqSave();
                l.UnlockIrqRestore(f);
            }
        });
        Assert.True(inHardirq);
        Assert.Empty(m.Reports);
    }
}
