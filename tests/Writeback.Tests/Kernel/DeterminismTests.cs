using System.Globalization;
using System.Text;
using System.Threading;
using Writeback.Kernel;
using Writeback.Tests.Infrastructure;
using KSpinLock = Writeback.Kernel.SpinLock;

namespace Writeback.Tests.Kernel;

public class DeterminismTests
{
    /// <summary>Everything a run of <see cref="RunScenario"/> produces that must replay exactly.</summary>
    private sealed record Outcome(ulong TraceHash, string TraceText, string Order, string LockStat, long IrqsOffMaxNs, long Decisions, long EndNs);

    private const int Iterations = 8;

    /// <summary>Critical sections per run: every task's, one per interrupt (every fourth iteration), and the work item's.</summary>
    private const int Sections = (4 * Iterations) + (4 * (Iterations / 4)) + 1;

    /// <summary>Four tasks bound to four CPUs fight for one irq-safe lock, raise interrupts whose
    /// handlers take the same lock, and one of them queues a work item that takes it too.</summary>
    private static Outcome RunScenario(ulong seed, bool recordTrace = true)
    {
        using var m = MachineFixture.Create(seed: seed, cpus: 4, configure: o => o with { RecordTrace = recordTrace });
        var l = new KSpinLock("det_shared");
        var order = new StringBuilder();
        long endNs = 0;
        m.Run(() =>
        {
            var tasks = Enumerable.Range(0, 4).Select(i => m.Spawn($"det{i}", () =>
            {
                for (var k = 0; k < Iterations; k++)
                {
                    var f = l.LockIrqSave();
                    order.Append(i);
                    Context.Point(256);
                    l.UnlockIrqRestore(f);
                    Context.Point(64 * (i + 1));
                    if (k % 4 == 3)
                    {
                        var handled = false;
                        m.RaiseIrq((i + 1) % 4, $"dev{i}", () =>
                        {
                            var g = l.LockIrqSave();
                            order.Append('i');
                            l.UnlockIrqRestore(g);
                            Volatile.Write(ref handled, true);
                        });
                        MachineFixture.SpinUntil(() => Volatile.Read(ref handled));
                    }

                    if (i == 0 && k == Iterations / 2)
                    {
                        var work = new WorkStruct(_ =>
                        {
                            var g = l.LockIrqSave();
                            order.Append('w');
                            l.UnlockIrqRestore(g);
                        });
                        m.SystemWq.QueueWork(work);
                        work.Flush();
                    }
                }
            }, cpu: i)).ToList();
            tasks.ForEach(t => t.WaitForExit());
            endNs = m.NowNs;
        });
        MachineFixture.AssertClean(m);
        var s = m.Lockdep.Classes.Single(c => c.Name == "det_shared").Stats;
        var stat = string.Create(CultureInfo.InvariantCulture,
            $"acq={s.Acquisitions} con={s.Contentions} conb={s.ConBounces} acqb={s.AcqBounces} wait={s.Wait.Count}/{s.Wait.Min}/{s.Wait.Max}/{s.Wait.Total} hold={s.Hold.Count}/{s.Hold.Min}/{s.Hold.Max}/{s.Hold.Total}");
        return new Outcome(m.TraceHash, m.TraceText ?? string.Empty, order.ToString(), stat, m.IrqsOff.Max?.DurationNs ?? -1, m.SchedulingDecisions, endNs);
    }

    [Fact]
    public void SameSeedAndOptions_ReplayIdentically_AcrossThreeRuns()
    {
        var runs = Enumerable.Range(0, 3).Select(_ => RunScenario(seed: 1234)).ToList();
        var first = runs[0];
        Assert.NotEmpty(first.TraceText);
        Assert.Equal(Sections, first.Order.Length);
        Assert.Contains('w', first.Order);
        Assert.Contains(" irq dev", first.TraceText, StringComparison.Ordinal);
        foreach (var r in runs.Skip(1))
        {
            Assert.Equal(first.TraceHash, r.TraceHash);
            Assert.Equal(first.TraceText, r.TraceText);
            Assert.Equal(first.Order, r.Order);
            Assert.Equal(first.LockStat, r.LockStat);
            Assert.Equal(first.IrqsOffMaxNs, r.IrqsOffMaxNs);
            Assert.Equal(first.Decisions, r.Decisions);
            Assert.Equal(first.EndNs, r.EndNs);
        }
    }

    [Fact]
    public void TraceHash_DoesNotDependOnRecordingTheTraceText()
    {
        var withText = RunScenario(seed: 77, recordTrace: true);
        var withoutText = RunScenario(seed: 77, recordTrace: false);
        Assert.Equal(withText.TraceHash, withoutText.TraceHash);
        Assert.Equal(withText.Order, withoutText.Order);
        Assert.Equal(withText.LockStat, withoutText.LockStat);
        Assert.Equal(string.Empty, withoutText.TraceText);
    }

    [Fact]
    public void DifferentSeeds_ExploreDifferentInterleavings()
    {
        ulong[] seeds = [1, 2, 3, 4, 5];
        var runs = seeds.Select(s => RunScenario(s, recordTrace: false)).ToList();
        Assert.True(runs.Select(r => r.TraceHash).Distinct().Count() >= 2, "five seeds gave one schedule");
        var orders = runs.Select(r => r.Order).Distinct(StringComparer.Ordinal).ToList();
        Assert.True(orders.Count >= 2, "five seeds gave the same order of critical sections: " + orders[0]);
        Assert.All(runs, r => Assert.Equal(Sections, r.Order.Length));
    }

    [Fact]
    public void SixtyFourCpus_WithSixtyFourTasks_RunToCompletion()
    {
        const int Cpus = 64;
        using var m = MachineFixture.Create(seed: 64, cpus: Cpus);
        var l = new KSpinLock("det_64");
        var counter = 0;
        var perCpu = new int[Cpus];
        m.Run(() =>
        {
            var tasks = Enumerable.Range(0, Cpus).Select(i => m.Spawn($"w{i}", () =>
            {
                for (var k = 0; k < 3; k++)
                {
                    var f = l.LockIrqSave();
                    counter++;
                    perCpu[Current.Cpu.Id]++;
                    l.UnlockIrqRestore(f);
                    Context.Point(128);
                }
            }, cpu: i)).ToList();
            tasks.ForEach(t => t.WaitForExit());
        });
        Assert.Equal(Cpus * 3, counter);
        Assert.All(perCpu, n => Assert.Equal(3, n));
        Assert.Equal(Cpus * 3, m.Lockdep.Classes.Single(c => c.Name == "det_64").Stats.Acquisitions);
        MachineFixture.AssertClean(m);
    }
}
