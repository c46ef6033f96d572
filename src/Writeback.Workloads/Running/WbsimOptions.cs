using System.Globalization;
using Writeback.Block;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Workloads.Fio;

namespace Writeback.Workloads.Running;

/// <summary>The model's own options — the machine a job runs on, not the job: engine, seed, CPUs,
/// completion design, device, memory and lockdep. Set in a job file's <c>[wbsim]</c> section
/// (<c>cpus=8</c>) or on the command line (<c>--cpus 8</c>); the command line wins.</summary>
public sealed record WbsimOptions
{
    /// <summary>The options by name, with what each accepts (for errors, help and the README).</summary>
    public static IReadOnlyList<(string Name, string Values, string Meaning)> Table { get; } =
    [
        ("engine", "sim, real", "sim: the deterministic engine (virtual time, seeded, replayable); real: host threads (times measured)"),
        ("seed", "a whole number", "the deterministic engine's seed (scheduling, device jitter, random offsets unless randseed)"),
        ("cpus", $"1 to {MachineOptions.MaxCpus}", "simulated CPUs"),
        ("completion", "irq, task", "irq: bios complete in hardirq (today); task: BIO_COMPLETE_IN_TASK"),
        ("variant", "merged, v4, v5, cpumask", "the task-completion variant (with completion=task)"),
        ("plain_lock", "0 or 1", "take i_pages as a plain lock even with completion=irq (lockdep objects: the reason it is irq-safe)"),
        ("lockdep", "report, fail, off", "report: print lockdep's reports and go on; fail: stop at the first; off: no validation"),
        ("latency", "nvme, sata, hdd, or a time", "the device's service time: a preset, or a constant such as 50us"),
        ("latency_outliers", "0 to 100 (percent, decimals allowed)", "share of requests that are slow outliers"),
        ("outlier_time", "a time", "extra time of an outlier (5ms unless set)"),
        ("memory", "a size", "page-cache memory limit (256m unless set)"),
        ("dirty_ratio", "1 to 100", "vm.dirty_ratio"),
        ("dirty_background_ratio", "0 to 100", "vm.dirty_background_ratio"),
        ("dirty_bytes", "a size", "vm.dirty_bytes (overrides dirty_ratio)"),
        ("dirty_background_bytes", "a size", "vm.dirty_background_bytes"),
        ("disk", "mem, file", "mem: a RAM-backed simulated disk; file: backed by disk_file"),
        ("disk_file", "a path", "the image file with disk=file: created, or reused if it has the run's size (mkfs overwrites it)"),
        ("disk_size", "a size", "device capacity (by default the jobs' files plus a quarter plus 64 MiB; never less than that)"),
        ("quantum", "a time", "deterministic engine: how far a CPU may run ahead of the others before a switch (2us unless set; 0 = exact)"),
    ];

    /// <summary>Which engine runs the machine.</summary>
    public EngineKind Engine { get; init; } = EngineKind.Deterministic;

    /// <summary>The deterministic engine's seed.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Simulated CPUs.</summary>
    public int Cpus { get; init; } = 4;

    /// <summary>The completion design.</summary>
    public CompletionMode Completion { get; init; } = CompletionMode.Irq;

    /// <summary>The task-completion variant (with <see cref="CompletionMode.Task"/>).</summary>
    public TaskCompletionVariant Variant { get; init; } = TaskCompletionVariant.Merged;

    /// <summary>Take i_pages as a plain lock with IRQ completion.</summary>
    public bool PlainLock { get; init; }

    /// <summary>What lockdep does.</summary>
    public LockdepMode Lockdep { get; init; } = LockdepMode.Report;

    /// <summary>The device's latency model.</summary>
    public LatencyModel Latency { get; init; } = new();

    /// <summary>The latency preset's name, or the constant as written.</summary>
    public string LatencyName { get; init; } = "nvme";

    /// <summary>Page-cache memory limit, bytes.</summary>
    public long MemoryBytes { get; init; } = 256L << 20;

    /// <summary>vm.dirty_ratio.</summary>
    public int DirtyRatio { get; init; } = 20;

    /// <summary>vm.dirty_background_ratio.</summary>
    public int DirtyBackgroundRatio { get; init; } = 10;

    /// <summary>vm.dirty_bytes (0 = use the ratio).</summary>
    public long DirtyBytes { get; init; }

    /// <summary>vm.dirty_background_bytes (0 = use the ratio).</summary>
    public long DirtyBackgroundBytes { get; init; }

    /// <summary>The disk image file; null for a RAM disk.</summary>
    public string? DiskFile { get; init; }

    /// <summary>Whether the disk is file-backed.</summary>
    public bool FileDisk { get; init; }

    /// <summary>Device capacity, bytes; 0 (the default) or anything smaller than the jobs need
    /// gives the jobs' files plus a quarter plus 64 MiB (mkfs time grows with the device).</summary>
    public long DiskBytes { get; init; }

    /// <summary>The deterministic engine's quantum, ns.</summary>
    public long QuantumNs { get; init; } = 2_000;

    /// <summary>The design's short name: <c>irq</c>, <c>irq+plain</c>, or <c>task</c>/<c>task:v4</c>….</summary>
    public string DesignName => Completion == CompletionMode.Irq
        ? PlainLock ? "irq+plain" : "irq"
        : Variant == TaskCompletionVariant.Merged ? "task" : "task:" + VariantName(Variant);

    /// <summary>A variant's option name.</summary>
    public static string VariantName(TaskCompletionVariant v) => v.ToString().ToLowerInvariant();

    /// <summary>This with option <paramref name="name"/> set to <paramref name="value"/>.</summary>
    /// <exception cref="ArgumentException">Unknown option or bad value; the message names both.</exception>
    public WbsimOptions With(string name, string value)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(value);
        var v = value.Trim();
        return name switch
        {
            "engine" => this with { Engine = v switch { "sim" => EngineKind.Deterministic, "real" => EngineKind.Real, _ => throw Bad(name, v, "sim or real") } },
            "seed" => this with { Seed = ulong.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : throw Bad(name, v, "a whole number") },
            "cpus" => this with { Cpus = int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var c) && c is >= 1 and <= MachineOptions.MaxCpus ? c : throw Bad(name, v, $"a whole number from 1 to {MachineOptions.MaxCpus}") },
            "completion" => this with { Completion = v switch { "irq" => CompletionMode.Irq, "task" => CompletionMode.Task, _ => throw Bad(name, v, "irq or task") } },
            "variant" => this with { Variant = ParseVariant(v) ?? throw Bad(name, v, "merged, v4, v5 or cpumask") },
            "plain_lock" => this with { PlainLock = v switch { "0" => false, "1" => true, _ => throw Bad(name, v, "0 or 1") } },
            "lockdep" => this with { Lockdep = v switch { "report" => LockdepMode.Report, "fail" => LockdepMode.Fail, "off" => LockdepMode.Off, _ => throw Bad(name, v, "report, fail or off") } },
            "latency" => WithLatency(v),
            "latency_outliers" => this with { Latency = Latency with { OutlierProbability = double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var p) && p is >= 0 and <= 100 ? p / 100 : throw Bad(name, v, "a percentage from 0 to 100") } },
            "outlier_time" => this with { Latency = Latency with { OutlierNs = Time(name, v) } },
            "memory" => this with { MemoryBytes = Size(name, v, min: 1L << 20) },
            "dirty_ratio" => this with { DirtyRatio = Percent(name, v, 1) },
            "dirty_background_ratio" => this with { DirtyBackgroundRatio = Percent(name, v, 0) },
            "dirty_bytes" => this with { DirtyBytes = Size(name, v, min: 0) },
            "dirty_background_bytes" => this with { DirtyBackgroundBytes = Size(name, v, min: 0) },
            "disk" => this with { FileDisk = v switch { "mem" => false, "file" => true, _ => throw Bad(name, v, "mem or file") } },
            "disk_file" => this with { DiskFile = v.Length > 0 ? v : throw Bad(name, v, "a path") },
            "disk_size" => this with { DiskBytes = Size(name, v, min: 16L << 20) },
            "quantum" => this with { QuantumNs = Time(name, v) },
            _ => throw new ArgumentException($"'{name}' is not a wbsim option (they are: {string.Join(", ", Table.Select(t => t.Name))})", nameof(name)),
        };
    }

    /// <summary>This with every option of a job file's <c>[wbsim]</c> section applied.</summary>
    /// <exception cref="JobFileException">An option is unknown or its value bad; names file, line and option.</exception>
    public WbsimOptions With(IEnumerable<FioOptionValue> section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var o = this;
        foreach (var opt in section)
        {
            try
            {
                o = o.With(opt.Name, opt.Value);
            }
            catch (ArgumentException ex)
            {
                throw new JobFileException(opt.File, opt.Line, opt.Name, ex.Message.Split(" (Parameter", 2)[0]);
            }
        }

        return o;
    }

    /// <summary>Throws naming the first inconsistency between options.</summary>
    /// <exception cref="ArgumentException">An inconsistency.</exception>
    public void Validate()
    {
        if (FileDisk && DiskFile is null)
        {
            throw new ArgumentException("disk=file needs disk_file=PATH");
        }

        if (PlainLock && Completion == CompletionMode.Task)
        {
            throw new ArgumentException("plain_lock=1 is the IRQ-completion misconfiguration; with completion=task the lock is plain already");
        }
    }

    private static TaskCompletionVariant? ParseVariant(string v) => v switch
    {
        "merged" => TaskCompletionVariant.Merged,
        "v4" => TaskCompletionVariant.V4,
        "v5" => TaskCompletionVariant.V5,
        "cpumask" => TaskCompletionVariant.Cpumask,
        _ => null,
    };

    private WbsimOptions WithLatency(string v)
    {
        var keep = (Latency.OutlierProbability, Latency.OutlierNs);
        LatencyModel model = v switch
        {
            "nvme" => new LatencyModel(),
            "sata" => new LatencyModel { FixedNs = 80_000, NsPerByte = 2, JitterNs = 10_000, FlushNs = 1_000_000 },
            "hdd" => new LatencyModel { FixedNs = 4_000_000, NsPerByte = 5, JitterNs = 4_000_000, FlushNs = 10_000_000 },
            _ => LatencyModel.Constant(Time("latency", v)),
        };
        return this with { Latency = model with { OutlierProbability = keep.OutlierProbability, OutlierNs = keep.OutlierNs }, LatencyName = v };
    }

    private static long Time(string name, string v) =>
        FioOptionKind.TryParseTime(v, 1, out var us) && us <= long.MaxValue / 1000 ? us * 1000 : throw Bad(name, v, "a time such as 50us or 2ms (microseconds without a unit)");

    private static long Size(string name, string v, long min) =>
        FioJobFile.TryParseSize(v, 1024, out var b) && b >= min ? b : throw Bad(name, v, min > 0 ? $"a size of at least {min >> 20} MiB" : "a size such as 64m");

    private static int Percent(string name, string v, int min) =>
        int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= 100 ? n : throw Bad(name, v, $"a whole number from {min} to 100");

    private static ArgumentException Bad(string name, string value, string expected) => new($"'{value}' is not valid for {name}: expected {expected}");
}
