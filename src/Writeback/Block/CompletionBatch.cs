using Writeback.Kernel;

namespace Writeback.Block;

/// <summary>One CPU's batch of deferred bios and the work item that drains it.</summary>
/// <remarks>Kernel: struct bio_complete_batch (its list type and work type differ by variant).</remarks>
internal sealed class CompletionBatch<TList, TWork>
    where TList : new()
    where TWork : WorkStruct
{
    public CompletionBatch(int cpu, Func<Action<WorkStruct>, TWork> newWork, Action<CompletionBatch<TList, TWork>> drain)
    {
        Cpu = cpu;
        Work = newWork(_ => drain(this));
    }

    /// <summary>The CPU the batch belongs to.</summary>
    public int Cpu { get; }

    public TList List { get; } = new();

    /// <summary>The batch's work item; its function knows the batch (container_of), not the running CPU.</summary>
    public TWork Work { get; }
}
