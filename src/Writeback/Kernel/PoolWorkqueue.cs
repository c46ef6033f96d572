namespace Writeback.Kernel;

/// <summary>The link between one workqueue and one worker pool: max_active accounting and the
/// inactive list.</summary>
/// <remarks>Kernel: struct pool_workqueue. Context: fields are protected by the pool's lock.</remarks>
internal sealed class PoolWorkqueue(Workqueue wq, WorkerPool pool)
{
    public Workqueue Wq { get; } = wq;

    public WorkerPool Pool { get; } = pool;

    public int NrActive { get; set; }

    public LinkedList<WorkStruct> InactiveWorks { get; } = new();
}
