using System.Threading;
// The runtime sample: one small completion workload run three ways on the simulated machine.
//
//   irq   completions end in hardirq, so the shared index lock is taken irq-safe everywhere
//   task  completions are batched per CPU and finished by a kworker, so the lock can be plain
//   plain completions end in hardirq but the lock is plain: lockdep must object
//
// It prints, per way, lockdep's verdict and what the machine measured (or modelled, on the
// deterministic engine): lock hold times, interrupts-off sections, interrupt latency.
using System.Globalization;
using System.Text;
using Writeback.Diagnostics;
using Writeback.Lib;
using Writeback.Kernel;
using Writeback.Samples.Runtime;

var options = SampleOptions.Parse(args);
if (options is null)
{
    return 2;
}

var results = new List<(string Mode, Machine Machine, CompletionDemo Demo)>();
var stopped = new List<string>();
foreach (var mode in new[] { "irq", "task", "plain" })
{
    var m = Machine.Create(new MachineOptions
    {
        Engine = options.Engine,
        Cpus = options.Cpus,
        Seed = options.Seed,
        Lockdep = LockdepMode.Report,
        QuantumNs = options.QuantumNs,
    });
    var demo = new CompletionDemo(m, mode, options.Iterations);
    try
    {
        m.Run(demo.Main);
    }
    catch (MachineFailedException ex)
    {
        stopped.Add($"[{mode}] the run stopped: {ex.Message.Split('\n')[0]}");
    }

    results.Add((mode, m, demo));
}

var provenance = results[0].Machine.TimesAreModelled
    ? $"times modelled by the deterministic engine (seed {options.Seed}, {options.Cpus} CPUs)"
    : $"times measured on this host by the real engine ({options.Cpus} simulated CPUs)";
Console.WriteLine($"Completion of {options.Iterations} I/Os per CPU, three ways; {provenance}.");
Console.WriteLine();
Console.WriteLine($"{"mode",-6} {"lockdep",-34} {"completed",9} {"idx hold avg",12} {"idx hold max",12} {"irqs-off max",12} {"irqs-off p99",12} {"irq lat p99",11} {"kworker items",13}");
foreach (var (mode, m, demo) in results)
{
    var cls = m.Lockdep.Classes.FirstOrDefault(c => c.Name == CompletionDemo.IndexClass);
    var hold = cls?.Stats.Hold ?? new LatencyHistogram();
    var verdict = m.Reports.Count > 0 ? m.Reports[0].Title : "clean";
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{mode,-6} {Trim(verdict, 34),-34} {demo.Completed,9} {Us(hold.Mean),12} {Us(hold.Max),12} {Us(m.IrqsOff.Max?.DurationNs ?? 0),12} {Us(m.IrqsOff.Sections.Percentile(99)),12} {Us(m.IrqsOff.IrqLatency.Percentile(99)),11} {demo.WorkItems,13}"));
}

foreach (var line in stopped)
{
    Console.WriteLine(line);
}

// The real stack: the page cache, the block layer and a simulated disk, in both designs.
var pageCacheRuns = new List<(Machine Machine, PageCacheDemo Demo)>();
foreach (var mode in new[] { Writeback.Mm.CompletionMode.Irq, Writeback.Mm.CompletionMode.Task })
{
    var m = Machine.Create(new MachineOptions { Engine = options.Engine, Cpus = options.Cpus, Seed = options.Seed, Lockdep = LockdepMode.Report, QuantumNs = options.QuantumNs });
    var demo = new PageCacheDemo(m, mode, options.Iterations);
    m.Run(demo.Main);
    pageCacheRuns.Add((m, demo));
}

Console.WriteLine();
Console.WriteLine($"Buffered writes through the page cache: 2 writers x {options.Iterations} pages (half RWF_DONTCACHE), then fsync; {provenance}.");
Console.WriteLine();
Console.WriteLine($"{"design",-6} {"lockdep",-8} {"bios",6} {"deferred",8} {"i_pages hold avg",16} {"i_pages hold max",16} {"irqs-off max",12} {"fsync",9} {"dontcache dropped/left",22}");
foreach (var (m, demo) in pageCacheRuns)
{
    var hold = demo.PagesHold();
    var verdict = m.Reports.Count > 0 ? "REPORT" : "clean";
    var dropbehind = $"{demo.Cache!.DropbehindRemoved}/{demo.Cache.DropbehindSkipped}";
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{demo.Mode.ToString().ToLowerInvariant(),-6} {verdict,-8} {demo.Bios,6} {demo.Completion!.Deferred,8} {Us(hold.Mean),16} {Us(hold.Max),16} {Us(m.IrqsOff.Max?.DurationNs ?? 0),12} {Us(demo.FsyncNs),9} {dropbehind,22}"));
}

// The filesystem on top: buffered appends and asynchronous direct writes, in both designs.
var fileRuns = new List<(Machine Machine, FileSystemDemo Demo)>();
foreach (var mode in new[] { Writeback.Mm.CompletionMode.Irq, Writeback.Mm.CompletionMode.Task })
{
    var m = Machine.Create(new MachineOptions { Engine = options.Engine, Cpus = options.Cpus, Seed = options.Seed, Lockdep = LockdepMode.Report, QuantumNs = options.QuantumNs });
    var demo = new FileSystemDemo(m, mode, options.Iterations);
    m.Run(demo.Main);
    fileRuns.Add((m, demo));
}

Console.WriteLine();
Console.WriteLine($"Files: 2 writers append {options.Iterations} x 4 KiB each through the page cache, 1 task issues {options.Iterations / 4} async 4 KiB direct writes into a hole, then syncfs; {provenance}.");
Console.WriteLine("Counted: ioends and those needing a transaction at completion; items queued on each deferral workqueue; direct-I/O completions run inline.");
Console.WriteLine();
Console.WriteLine($"{"design",-6} {"lockdep",-8} {"result",6} {"ioends",6} {"need work",9} {"xfs-conv",8} {"ioend list",10} {"dio wq",6} {"dio inline",10} {"syncfs",9}");
foreach (var (m, demo) in fileRuns)
{
    var verdict = m.Reports.Count > 0 ? "REPORT" : "clean";
    var st = demo.Stats!;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{demo.Mode.ToString().ToLowerInvariant(),-6} {verdict,-8} {demo.Result,6} {st.Ioends,6} {st.IoendsWithCompletionWork,9} {st.ConvWorkqueueItems,8} {st.IoendListItems,10} {st.DioWorkqueueItems,6} {st.DioInlineCompletions,10} {Us(demo.FsyncNs),9}"));
}

var irq = results[0].Machine;
var plain = results[2].Machine;
Console.WriteLine();
Console.WriteLine("== irq: interrupts-off, by cause ==");
Console.WriteLine(IrqsOffReport.FormatSummary(irq));
Console.WriteLine("== irq: longest interrupts-off section ==");
Console.WriteLine(IrqsOffReport.Format(irq));
Console.WriteLine("== irq: /proc/lock_stat ==");
Console.WriteLine(LockStatReport.Format(irq));
Console.WriteLine("== plain: the first lockdep report ==");
Console.WriteLine(plain.Reports.Count > 0 ? plain.Reports[0].Text : "(none: lockdep did not object, which would be a bug)");
foreach (var (_, m, _) in results)
{
    m.Dispose();
}

foreach (var m in pageCacheRuns.Select(r => r.Machine).Concat(fileRuns.Select(r => r.Machine)))
{
    m.Dispose();
}

return 0;

static string Us(double ns) => (ns / 1000.0).ToString("0.00", CultureInfo.InvariantCulture) + "us";

static string Trim(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";
