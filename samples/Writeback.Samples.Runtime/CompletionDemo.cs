using System.Threading;
using Writeback.Kernel;

namespace Writeback.Samples.Runtime;

/// <summary>Writers on every CPU update a shared index under a lock and submit an I/O; the
/// device completes it with an interrupt on the next CPU, and completion updates the index too.</summary>
internal sealed class CompletionDemo
{
    public const string IndexClass = "demo:index_lock";
    private const long DeviceLatencyNs = 20_000;
    private readonly Machine _m;
    private readonly string _mode;
    private readonly int _iterations;
    private readonly Writeback.Kernel.SpinLock _index = new(IndexClass);
    private readonly WaitQueueHead _allDone = new();
    private PerCpu<Batch>? _batches;
    private Workqueue? _wq;
    private int _completed;
    private int _workItems;

    public CompletionDemo(Machine m, string mode, int iterations)
    {
        _m = m;
        _mode = mode;
        _iterations = iterations;
    }

    public int Completed => Volatile.Read(ref _completed);

    public int WorkItems => Volatile.Read(ref _workItems);

    public void Main()
    {
        _batches = new PerCpu<Batch>(_m, cpu => new Batch(cpu, new WorkStruct(w => DrainBatch(cpu))));
        _wq = _m.AllocWorkqueue("demo_complete", WqFlags.PerCpu);
        var cpus = _m.Cpus.Count;
        var writers = Enumerable.Range(0, cpus).Select(c => _m.Spawn($"writer/{c}", () => Writer(c), c)).ToArray();
        foreach (var w in writers)
        {
            w.WaitForExit();
        }

        _allDone.WaitEvent(() => Completed == cpus * _iterations);
    }

    private void Writer(int cpu)
    {
        for (var i = 0; i < _iterations; i++)
        {
            Context.Point(4096); // copy a page of user data
            if (_mode == "irq")
            {
                _index.LockIrq();
                Context.Point(64); // mark the entry dirty
                _index.UnlockIrq();
            }
            else
            {
                _index.Lock();
                Context.Point(64);
                _index.Unlock();
            }

            var target = (cpu + 1) % _m.Cpus.Count;
            _m.RaiseIrqIn(DeviceLatencyNs, target, $"nvme0q{target}", Complete);
        }
    }

    /// <summary>The device's completion interrupt.</summary>
    private void Complete()
    {
        switch (_mode)
        {
            case "irq":
                var flags = _index.LockIrqSave();
                EndIo();
                _index.UnlockIrqRestore(flags);
                break;
            case "task":
                // The merged BIO_COMPLETE_IN_TASK shape: queue on this CPU's batch with interrupts
                // off, and kick the per-CPU work item only on the empty -> non-empty transition.
                var irqFlags = Context.LocalIrqSave();
                var batch = _batches!.This;
                var wasEmpty = batch.Pending == 0;
                batch.Pending++;
                Context.LocalIrqRestore(irqFlags);
                if (wasEmpty)
                {
                    _wq!.QueueWorkOn(batch.Cpu, batch.Work);
                }

                break;
            default:
                _index.Lock();
                EndIo();
                _index.Unlock();
                break;
        }
    }

    private void DrainBatch(int cpu)
    {
        Interlocked.Increment(ref _workItems);
        var batch = _batches![cpu];
        while (true)
        {
            Context.LocalIrqDisable();
            var n = batch.Pending;
            batch.Pending = 0;
            Context.LocalIrqEnable();
            if (n == 0)
            {
                return;
            }

            for (var i = 0; i < n; i++)
            {
                _index.Lock();
                EndIo();
                _index.Unlock();
            }
        }
    }

    private void EndIo()
    {
        Context.Point(256); // clear the writeback mark of the completed entry, wake waiters
        Interlocked.Increment(ref _completed);
        _allDone.WakeUpAll();
    }

    private sealed class Batch(int cpu, WorkStruct work)
    {
        public int Cpu { get; } = cpu;

        public WorkStruct Work { get; } = work;

        public int Pending { get; set; }
    }
}
