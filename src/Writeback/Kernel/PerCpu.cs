namespace Writeback.Kernel;

/// <summary>A per-CPU variable: one instance per CPU of a machine.</summary>
/// <remarks>Kernel: DEFINE_PER_CPU, per_cpu_ptr(), this_cpu_ptr(), raw_cpu_ptr().
/// <see cref="This"/> checks, as CONFIG_DEBUG_PREEMPT does, that the caller cannot migrate:
/// using it from preemptible code prints the kernel's "using smp_processor_id() in preemptible"
/// report, because the CPU may change under the caller.</remarks>
public sealed class PerCpu<T>
{
    private readonly T[] _items;

    /// <summary>Creates one instance per CPU of <paramref name="machine"/>, built by <paramref name="init"/> from the CPU number.</summary>
    public PerCpu(Machine machine, Func<int, T> init)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(init);
        _items = new T[machine.Cpus.Count];
        for (var i = 0; i < _items.Length; i++)
        {
            _items[i] = init(i);
        }
    }

    /// <summary>The instance of a given CPU (per_cpu_ptr()).</summary>
    public T this[int cpu] => _items[cpu];

    /// <summary>Number of CPUs.</summary>
    public int Count => _items.Length;

    /// <summary>The current CPU's instance (this_cpu_ptr()); reports use from preemptible context.</summary>
    /// <remarks>Context: Any context with preemption disabled.</remarks>
    public T This => _items[Context.SmpProcessorId];

    /// <summary>The current CPU's instance without the preemption check (raw_cpu_ptr()).</summary>
    public T Raw => _items[Current.Cpu.Id];
}
