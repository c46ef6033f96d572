using Writeback.Kernel;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Kernel;

/// <summary>MachineOptions.IrqInjectionProbability: interrupts injected at runtime points, only
/// where the CPU could take one.</summary>
public class IrqInjectionTests
{
    [Fact]
    public void EveryPointWithInterruptsOn_TakesAnInjectedHardirq_AndNoneWhileTheyAreOff()
    {
        using var m = MachineFixture.Create(cpus: 1, configure: o => o with { IrqInjectionProbability = 1 });
        var inHardirq = 0;
        var other = 0;
        var whileOff = -1;
        m.Run(() =>
        {
            m.IrqInjector = () =>
            {
                if (Context.InHardirq)
                {
                    inHardirq++;
                }
                else
                {
                    other++;
                }
            };
            Context.LocalIrqDisable();
            var before = inHardirq;
            for (var i = 0; i < 50; i++)
            {
                Context.Point();
            }

            whileOff = inHardirq - before;
            Context.LocalIrqEnable();
            for (var i = 0; i < 50; i++)
            {
                Context.Point();
            }

            m.IrqInjector = null;
        });
        Assert.Equal(0, whileOff);
        Assert.True(inHardirq >= 50, $"{inHardirq} injected");
        Assert.Equal(0, other);
        MachineFixture.AssertClean(m);
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void AProbabilityOutsideZeroToOne_IsRejected(double p) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => MachineFixture.Create(configure: o => o with { IrqInjectionProbability = p }));
}
