using Writeback.Lib;

namespace Writeback.Kernel;

/// <summary>Records every interrupts-off section per CPU — explicit ones, the implicit ones of
/// <c>_irq</c>/<c>_irqsave</c> locks, and hardirq handlers — keeping the longest with its sites,
/// a histogram, the time per cause, and the interrupt latency (raise to handler start).</summary>
/// <remarks>Kernel: the irqsoff tracer (kernel/trace/trace_irqsoff.c) and tracing_thresh.
/// Context: per-CPU state is touched only by the thread running that CPU.</remarks>
public sealed class IrqsOffTracer
{
    private readonly PerCpuState[] _cpus;
    private readonly bool _enabled;

    internal IrqsOffTracer(int cpus, bool enabled)
    {
        _enabled = enabled;
        _cpus = new PerCpuState[cpus];
        for (var i = 0; i < cpus; i++)
        {
            _cpus[i] = new PerCpuState();
        }
    }

    /// <summary>Sections at least this long (ns) are kept in <see cref="Over"/> (tracing_thresh); 0 keeps none.</summary>
    public long ThresholdNs { get; set; }

    /// <summary>The most sections <see cref="Over"/> keeps per CPU.</summary>
    public int MaxKeptPerCpu { get; set; } = 1000;

    /// <summary>True when the machine records interrupts-off sections.</summary>
    public bool IsEnabled => _enabled;

    /// <summary>The longest section on any CPU.</summary>
    public IrqsOffSpan? Max => _cpus.Select(c => c.Max).Where(m => m is not null).MaxBy(m => m!.DurationNs);

    /// <summary>The longest section on one CPU.</summary>
    public IrqsOffSpan? MaxOn(int cpu) => _cpus[cpu].Max;

    /// <summary>Sections at or over <see cref="ThresholdNs"/>, every CPU, in time order.</summary>
    public IReadOnlyList<IrqsOffSpan> Over => [.. _cpus.SelectMany(c => c.Over).OrderBy(s => s.StartNs)];

    /// <summary>Histogram of section lengths, all CPUs.</summary>
    public LatencyHistogram Sections => Merge(c => c.Spans);

    /// <summary>Histogram of section lengths on one CPU.</summary>
    public LatencyHistogram SectionsOn(int cpu) => _cpus[cpu].Spans;

    /// <summary>Interrupt latency (raise to handler start), all CPUs.</summary>
    public LatencyHistogram IrqLatency => Merge(c => c.IrqLatency);

    /// <summary>Interrupt latency on one CPU.</summary>
    public LatencyHistogram IrqLatencyOn(int cpu) => _cpus[cpu].IrqLatency;

    /// <summary>Interrupts-off time per cause, all CPUs.</summary>
    public IReadOnlyDictionary<string, IrqsOffCause> ByCause
    {
        get
        {
            var sum = new Dictionary<string, IrqsOffCause>(StringComparer.Ordinal);
            foreach (var c in _cpus)
            {
                foreach (var (k, v) in c.ByCause)
                {
                    if (!sum.TryGetValue(k, out var agg))
                    {
                        sum[k] = agg = new IrqsOffCause();
                    }

                    agg.Add(v);
                }
            }

            return sum;
        }
    }

    /// <summary>Forgets everything recorded (echo 0 &gt; tracing_max_latency, and more).</summary>
    public void Reset()
    {
        foreach (var c in _cpus)
        {
            c.Max = null;
            c.Over.Clear();
            c.Spans.Clear();
            c.IrqLatency.Clear();
            c.ByCause.Clear();
        }
    }

    internal void Begin(Cpu cpu, in CodeSite site, LockClass? cls)
    {
        if (_enabled)
        {
            Begin(cpu, cpu.Now, site, cls);
        }
    }

    internal void End(Cpu cpu, in CodeSite site)
    {
        if (_enabled)
        {
            End(cpu, cpu.Now, site);
        }
    }

    internal void Begin(Cpu cpu, long now, in CodeSite site, LockClass? cls)
    {
        if (!_enabled)
        {
            return;
        }

        var s = _cpus[cpu.Id];
        s.Since = now;
        s.StartSite = site;
        s.Cause = cls?.Name;
        s.Open = true;
    }

    internal void End(Cpu cpu, long now, in CodeSite site)
    {
        if (!_enabled)
        {
            return;
        }

        var s = _cpus[cpu.Id];
        if (!s.Open)
        {
            return;
        }

        s.Open = false;
        var ns = now - s.Since;
        s.Spans.Record(ns);
        var cause = s.Cause ?? (s.StartSite.Op.StartsWith("irq_enter", StringComparison.Ordinal) ? "hardirq" : s.StartSite.Op);
        if (!s.ByCause.TryGetValue(cause, out var agg))
        {
            s.ByCause[cause] = agg = new IrqsOffCause();
        }

        agg.Add(ns);
        var keep = ThresholdNs > 0 && ns >= ThresholdNs && s.Over.Count < MaxKeptPerCpu;
        if (s.Max is null || ns > s.Max.DurationNs || keep)
        {
            var task = cpu.Current?.ToString() ?? "?";
            var span = new IrqsOffSpan(cpu.Id, s.Since, now, s.StartSite, site, task, cause);
            if (s.Max is null || ns > s.Max.DurationNs)
            {
                s.Max = span;
            }

            if (keep)
            {
                s.Over.Add(span);
            }
        }
    }

    internal void RecordIrqLatency(Cpu cpu, long ns)
    {
        if (_enabled)
        {
            _cpus[cpu.Id].IrqLatency.Record(ns);
        }
    }

    private LatencyHistogram Merge(Func<PerCpuState, LatencyHistogram> pick)
    {
        var h = new LatencyHistogram();
        foreach (var c in _cpus)
        {
            h.Add(pick(c));
        }

        return h;
    }

    private sealed class PerCpuState
    {
        public bool Open;
        public long Since;
        public CodeSite StartSite;
        public string? Cause;
        public IrqsOffSpan? Max;
        public readonly List<IrqsOffSpan> Over = [];
        public readonly LatencyHistogram Spans = new();
        public readonly LatencyHistogram IrqLatency = new();
        public readonly Dictionary<string, IrqsOffCause> ByCause = new(StringComparer.Ordinal);
    }
}
