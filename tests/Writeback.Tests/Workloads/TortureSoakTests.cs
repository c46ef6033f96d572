using System.Globalization;
using Writeback.Block;
using Writeback.Mm;
using Writeback.Workloads.Torture;
using Writeback.Workloads.Torture.Crash;
using Xunit.Abstractions;

namespace Writeback.Tests.Workloads;

/// <summary>The long soak: out of the default run (Category Stress; run it with
/// <c>dotnet test Writeback.sln -c Release --filter Category=Stress</c>). Seed after seed until
/// <c>WRITEBACK_SOAK_SECONDS</c> of host time (600 by default) have passed, each seed runs the
/// oracle with fault episodes under IRQ completion and every task-completion variant, an
/// interleaved run with CPU hotplug in each, and a random crash workload enumerated in both
/// modes. The first violation fails the test with its replay command; the totals go to the test
/// output.</summary>
public class TortureSoakTests(ITestOutputHelper output)
{
    private static readonly (CompletionMode Mode, TaskCompletionVariant Variant)[] Designs =
    [
        (CompletionMode.Irq, TaskCompletionVariant.Merged),
        (CompletionMode.Task, TaskCompletionVariant.Merged),
        (CompletionMode.Task, TaskCompletionVariant.V4),
        (CompletionMode.Task, TaskCompletionVariant.V5),
        (CompletionMode.Task, TaskCompletionVariant.Cpumask),
    ];

    [Fact]
    [Trait("Category", "Stress")]
    public void Soak_EveryPartOfTheTorture_UntilTheTimeIsUp()
    {
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("WRITEBACK_SOAK_SECONDS"), NumberStyles.None, CultureInfo.InvariantCulture, out var s) && s > 0 ? s : 600;
        var start = Environment.TickCount64;
        long operations = 0, faults = 0, hotplug = 0, states = 0;
        var seed = 1UL;
        for (; Environment.TickCount64 - start < seconds * 1000L; seed++)
        {
            foreach (var (mode, variant) in Designs)
            {
                var oracle = new OracleRun(new TortureOptions { Completion = mode, Variant = variant, Faults = true }, seed).Execute();
                Assert.True(oracle.IsClean, oracle.Violation?.Text);
                var interleaved = new InterleavedRun(new InterleavedOptions { Completion = mode, Variant = variant }, seed).Execute();
                Assert.True(interleaved.IsClean, interleaved.Violation?.Text);
                operations += oracle.Operations + interleaved.Operations;
                faults += oracle.FaultsInjected;
                hotplug += interleaved.HotplugEvents;
            }

            foreach (var mode in new[] { CompletionMode.Irq, CompletionMode.Task })
            {
                var report = CrashEnumerator.Check([CrashWorkload.Random(seed, 30)], new CrashOptions { Completion = mode, Seed = seed });
                Assert.True(report.IsClean, report.Violations.Count > 0 ? report.Violations[0].Text : report.ToString());
                states += report.StatesChecked;
            }
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"soak: seeds 1-{seed - 1}, {operations:N0} operations, {faults:N0} faults injected, {hotplug:N0} hotplug events, {states:N0} crash states, {(Environment.TickCount64 - start) / 1000.0:0} s"));
    }
}
