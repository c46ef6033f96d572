using Writeback.Block;
using Writeback.Mm;
using Writeback.Workloads.Torture;

namespace Writeback.Tests.Workloads;

/// <summary>The bounded torture of the default test run: a few hundred seeds of short oracle runs,
/// spread over IRQ completion and every task-completion variant, every other one with fault
/// episodes — each seed is its own test case, so that a failing one names itself and its replay
/// command.</summary>
/// <remarks>The seed picks the settings as the oracle always does (block size, injected
/// interrupts, dirty limits), so the sweep covers every combination of them with every design.</remarks>
public class TortureSeedSweepTests
{
    private const int Seeds = 240;
    private const int Operations = 40;

    private static readonly (CompletionMode Mode, TaskCompletionVariant Variant)[] Designs =
    [
        (CompletionMode.Irq, TaskCompletionVariant.Merged),
        (CompletionMode.Task, TaskCompletionVariant.Merged),
        (CompletionMode.Task, TaskCompletionVariant.V4),
        (CompletionMode.Task, TaskCompletionVariant.V5),
        (CompletionMode.Task, TaskCompletionVariant.Cpumask),
    ];

    public static TheoryData<ulong> SweepSeeds => [.. Enumerable.Range(1000, Seeds).Select(s => (ulong)s)];

    [Theory]
    [MemberData(nameof(SweepSeeds))]
    public void ShortRun_IsClean(ulong seed)
    {
        var (mode, variant) = Designs[(int)(seed % (ulong)Designs.Length)];
        var options = new TortureOptions { Completion = mode, Variant = variant, Operations = Operations, Faults = seed / (ulong)Designs.Length % 2 == 0 };

        var result = new OracleRun(options, seed).Execute();

        Assert.True(result.IsClean, result.Violation?.Text);
        Assert.Equal(Operations, result.Operations);
    }
}
