using System.CommandLine;
using System.Globalization;
using System.Threading;
using Writeback.Block;
using Writeback.Kernel;
using Writeback.Mm;
using Writeback.Workloads.Torture;
using Writeback.Workloads.Torture.Crash;

namespace Writeback.Cli;

/// <summary>The <c>wbsim torture</c> command: seeded oracle runs (<see cref="OracleRun"/>) over
/// seeds, completion modes and task-completion variants — with <c>--faults</c> fault episodes in
/// them, with <c>--hotplug</c> an interleaved multi-task run (<see cref="InterleavedRun"/>) after
/// each, and with <c>--crashes</c> crash enumeration at the end — with a progress line and a final
/// table.</summary>
/// <remarks>Seeds: <c>--seed S</c> runs one, <c>--seeds N</c> runs 1 to N (10 when neither is
/// given); <c>--duration T</c> then keeps going with the following seeds until T of host time has
/// passed (the seed in progress finishes). Each seed runs once in IRQ mode (with <c>--variant
/// all</c> as merged: the variant matters in task mode only) and once per variant in task mode.
/// Exit codes: 0 clean; 1 a violation — the first one is printed with its seed, its last
/// operations and the command that replays it, and the command stops; 2 bad input (the message
/// names the option); 130 interrupted (the table covers the runs done).</remarks>
internal static class TortureCommand
{
    private const int DefaultSeeds = 10;

    /// <summary>Builds the command; register it with <c>root.Subcommands.Add(...)</c>.</summary>
    public static Command Build(TextWriter output, TextWriter error, bool terminal, CancellationToken cancellation) =>
        Build(output, error, terminal, runOne: null, cancellation);

    /// <summary>Builds the command with another way to run one seed (tests break the model with it).</summary>
    internal static Command Build(TextWriter output, TextWriter error, bool terminal, Func<TortureOptions, ulong, OracleResult>? runOne, CancellationToken cancellation)
    {
        var command = new Command("torture", "Run the seeded fsx-style oracle: random file operations checked against a byte-array model after every step, in both completion modes and every task variant; stops at the first violation with the command that replays it.");
        var seeds = new Option<string?>("--seeds") { Description = $"run seeds 1 to N [default {DefaultSeeds}]" };
        var seed = new Option<string?>("--seed") { Description = "run seed S alone (with --duration: S and the seeds after it)" };
        var ops = new Option<string?>("--ops") { Description = "operations per run [default: 200 to 400, drawn from the seed]" };
        var completion = new Option<string?>("--completion") { Description = "irq, task or all [default all]" };
        var variant = new Option<string?>("--variant") { Description = "task-completion variant: merged, v4, v5, cpumask or all [default all]" };
        var duration = new Option<string?>("--duration") { Description = "keep going with more seeds until this much host time has passed: 30s, 10m, 1h (a bare number is seconds)" };
        var cpus = new Option<string?>("--cpus") { Description = "simulated CPUs [default 2]" };
        var mix = new Option<string?>("--mix") { Description = "operations: full (with appends, rename, unlink) or classic (the original fsx mix) [default full]" };
        foreach (var o in new[] { seeds, seed, ops, completion, variant, duration, cpus, mix })
        {
            command.Options.Add(o);
        }

        var crashes = new Option<bool>("--crashes") { Description = "after the oracle, crash enumeration in each configuration: every ACE workload of up to 2 operations, one of every operation, and a 30-operation random workload per seed, each crashed at every flush boundary with seeded subsets of unflushed writes and a torn multi-sector write" };
        var faults = new Option<bool>("--faults") { Description = "fault episodes in the oracle runs: data write errors in writeback and direct I/O (each descriptor sees the error once; syncfs reports it filesystem-wide), a metadata write error that shuts the filesystem down, dropped writes; each followed by a power cut or a rewrite and the checks of what must survive" };
        var hotplug = new Option<bool>("--hotplug") { Description = $"after each oracle run, an interleaved run: {InterleavedOptions.DefaultWorkers} tasks on {InterleavedOptions.DefaultCpus} CPUs (or --cpus) at once, CPUs taken offline and back at random, injected interrupts and device latency outliers; --ops is then per task" };
        foreach (var o in new[] { crashes, faults, hotplug })
        {
            command.Options.Add(o);
        }

        // Unknown options are bad input (exit 2) like bad values, not the parser's exit 1.
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(parse =>
        {
            if (parse.UnmatchedTokens.Count > 0)
            {
                error.WriteLine($"wbsim torture: {string.Join(' ', parse.UnmatchedTokens.Select(t => $"'{t}'"))}: not an option or value of torture; see wbsim torture --help");
                return 2;
            }

            Plan plan;
            try
            {
                plan = Plan.From(
                    parse.GetValue(seeds), parse.GetValue(seed), parse.GetValue(ops), parse.GetValue(completion),
                    parse.GetValue(variant), parse.GetValue(duration), parse.GetValue(cpus), parse.GetValue(mix))
                    with { Faults = parse.GetValue(faults), Hotplug = parse.GetValue(hotplug), Crashes = parse.GetValue(crashes) };
                plan.Validate();
            }
            catch (ArgumentException ex)
            {
                error.WriteLine($"wbsim torture: {ex.Message.Split(" (Parameter", 2)[0]}");
                return 2;
            }

            var totals = new Totals(Environment.TickCount64);
            var code = Run(plan, totals, output, error, terminal, runOne ?? ((o, s) => new OracleRun(o, s).Execute()), cancellation);
            if (code == 0 && plan.Crashes)
            {
                code = RunCrashes(plan, totals, output, error, cancellation);
            }

            output.Write(totals.Table(plan));
            return code;
        });
        return command;
    }

    // The oracle (and interleaved) runs; the first violation is printed and ends the command.
    private static int Run(Plan plan, Totals totals, TextWriter output, TextWriter error, bool terminal, Func<TortureOptions, ulong, OracleResult> runOne, CancellationToken cancellation)
    {
        var progress = new Progress(error, terminal, plan);
        var configs = plan.Configurations();
        var seed = plan.FirstSeed;
        while (plan.WantsMore(totals.SeedsRun, Environment.TickCount64 - totals.StartMs))
        {
            foreach (var config in configs)
            {
                if (cancellation.IsCancellationRequested)
                {
                    progress.End();
                    error.WriteLine("wbsim torture: interrupted");
                    return 130;
                }

                var result = runOne(config, seed);
                totals.Add(result);
                var violation = result.Violation;
                if (violation is null && plan.Hotplug)
                {
                    var interleaved = new InterleavedRun(plan.InterleavedFor(config), seed).Execute();
                    totals.Add(interleaved);
                    violation = interleaved.Violation;
                }

                if (violation is not null)
                {
                    progress.End();
                    output.Write(violation.Text);
                    output.Write('\n');
                    return 1;
                }

                progress.Update(totals, result);
            }

            seed++;
        }

        progress.End();
        return 0;
    }

    // Crash enumeration per configuration; the first violation is printed and ends the command.
    private static int RunCrashes(Plan plan, Totals totals, TextWriter output, TextWriter error, CancellationToken cancellation)
    {
        var seeds = Enumerable.Range(0, Math.Max(1, totals.SeedsRun)).Select(i => plan.FirstSeed + (ulong)i).ToList();
        foreach (var config in plan.Configurations())
        {
            var name = config.Completion == CompletionMode.Irq ? "irq" : $"task/{config.Variant.ToString().ToLowerInvariant()}";
            error.WriteLine($"wbsim torture: crash enumeration, {name}");
            var workloads = AceWorkloads.Enumerate(2)
                .Append(CrashWorkload.EveryOperation())
                .Concat(seeds.Select(s => CrashWorkload.Random(s, 30)));
            var options = new CrashOptions
            {
                Completion = config.Completion,
                Variant = config.Variant,
                Seed = plan.FirstSeed,
                StopAtFirstViolation = true,
            };
            var report = CrashEnumerator.Check(workloads, options, cancellation: cancellation);
            totals.Add(report);
            output.Write(string.Create(CultureInfo.InvariantCulture,
                $"crashes {name,-13} {report.Workloads,6} workloads {report.StatesChecked,9:N0} states ({report.TornStates:N0} torn) {report.TotalViolations,3} violations {report.StatesPerSecond,8:N0} states/s\n"));
            if (report.Violations.Count > 0)
            {
                output.Write(report.Violations[0].Text);
                output.Write('\n');
                return 1;
            }

            if (cancellation.IsCancellationRequested)
            {
                return 130;
            }
        }

        return 0;
    }

    /// <summary>What the command line asked for.</summary>
    private sealed record Plan(ulong FirstSeed, int Seeds, long? DurationMs, int? Ops, bool IrqMode, bool TaskMode, TaskCompletionVariant[] Variants, bool AllVariants, int? CpusGiven, OracleMix Mix)
    {
        /// <summary>Fault episodes in the oracle runs.</summary>
        public bool Faults { get; init; }

        /// <summary>An interleaved run with CPU hotplug after each oracle run.</summary>
        public bool Hotplug { get; init; }

        /// <summary>Crash enumeration after the runs.</summary>
        public bool Crashes { get; init; }

        /// <summary>The oracle's CPUs.</summary>
        public int Cpus => CpusGiven ?? 2;

        public static Plan From(string? seeds, string? seed, string? ops, string? completion, string? variant, string? duration, string? cpus, string? mix)
        {
            if (seeds is not null && seed is not null)
            {
                throw new ArgumentException($"--seed {seed} and --seeds {seeds}: give one of them");
            }

            var count = seeds is null ? (seed is null && duration is not null ? 0 : seed is null ? DefaultSeeds : 1) : (int)Whole("--seeds", seeds, 1, int.MaxValue);
            var first = seed is null ? 1UL : ParseSeed(seed);
            var (irq, task) = (completion ?? "all") switch
            {
                "irq" => (true, false),
                "task" => (false, true),
                "all" => (true, true),
                _ => throw new ArgumentException($"--completion: '{completion}' is not valid: expected irq, task or all"),
            };
            var all = (variant ?? "all") == "all";
            var variants = all ? Enum.GetValues<TaskCompletionVariant>() : [ParseVariant(variant!)];
            var theMix = (mix ?? "full") switch
            {
                "full" => OracleMix.Full,
                "classic" => OracleMix.Classic,
                _ => throw new ArgumentException($"--mix: '{mix}' is not valid: expected full or classic"),
            };
            return new Plan(
                first,
                count,
                duration is null ? null : ParseDuration(duration),
                ops is null ? null : (int)Whole("--ops", ops, 1, 1_000_000),
                irq,
                task,
                variants,
                all,
                cpus is null ? null : (int)Whole("--cpus", cpus, 1, MachineOptions.MaxCpus),
                theMix);
        }

        /// <summary>Throws naming options that do not fit together.</summary>
        public void Validate()
        {
            if (Faults && Mix != OracleMix.Full)
            {
                throw new ArgumentException("--faults: fault episodes need --mix full");
            }

            if (Hotplug && CpusGiven is < 2)
            {
                throw new ArgumentException($"--hotplug: needs at least 2 CPUs (one stays online), --cpus is {CpusGiven}");
            }
        }

        /// <summary>The interleaved run that follows the oracle run of <paramref name="config"/>.</summary>
        public InterleavedOptions InterleavedFor(TortureOptions config) => new()
        {
            Completion = config.Completion,
            Variant = config.Variant,
            Cpus = CpusGiven ?? InterleavedOptions.DefaultCpus,
            Operations = Ops,
        };

        /// <summary>The runs of one seed: IRQ mode once, task mode once per variant.</summary>
        public List<TortureOptions> Configurations()
        {
            var list = new List<TortureOptions>();
            var baseOptions = new TortureOptions { Operations = Ops, Cpus = Cpus, Mix = Mix, Faults = Faults };
            if (IrqMode)
            {
                list.Add(baseOptions with { Completion = CompletionMode.Irq, Variant = AllVariants ? TaskCompletionVariant.Merged : Variants[0] });
            }

            if (TaskMode)
            {
                list.AddRange(Variants.Select(v => baseOptions with { Completion = CompletionMode.Task, Variant = v }));
            }

            return list;
        }

        /// <summary>Whether another seed runs: until the seeds named are done and the duration is over.</summary>
        public bool WantsMore(int seedsRun, long elapsedMs) => seedsRun < Seeds || (DurationMs is { } d && elapsedMs < d);

        /// <summary>How far the command is, 0 to 1, <paramref name="runsInSeed"/> runs into its <paramref name="seedsRun"/>th seed.</summary>
        public double Fraction(int seedsRun, long elapsedMs, int runsInSeed)
        {
            var perSeed = (IrqMode ? 1 : 0) + (TaskMode ? Variants.Length : 0);
            var bySeeds = Seeds == 0 ? 1 : Math.Min(1, (seedsRun - 1 + (runsInSeed / (double)perSeed)) / Seeds);
            var byTime = DurationMs is { } d ? Math.Min(1, elapsedMs / (double)d) : 1;
            return Math.Min(bySeeds, byTime);
        }

        public string Describe() =>
            $"completion {(IrqMode && TaskMode ? "all" : IrqMode ? "irq" : "task")}, variant {(AllVariants ? "all" : Variants[0].ToString().ToLowerInvariant())}, mix {Mix.ToString().ToLowerInvariant()}, {Cpus} CPUs, "
            + (Ops is { } n ? $"{n} operations per run" : "200-400 operations per run (from the seed)")
            + (Faults ? ", faults" : string.Empty)
            + (Hotplug ? $", hotplug ({CpusGiven ?? InterleavedOptions.DefaultCpus} CPUs)" : string.Empty)
            + (Crashes ? ", crashes" : string.Empty)
            + (DurationMs is { } d ? string.Create(CultureInfo.InvariantCulture, $", more seeds until {d / 1000.0:0.###} s") : string.Empty);

        private static long Whole(string option, string text, long min, long max)
        {
            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            {
                throw new ArgumentException($"{option}: '{text}' is not valid: expected a whole number from {min} to {max}");
            }

            return value;
        }

        private static ulong ParseSeed(string text) =>
            ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
                ? value
                : throw new ArgumentException($"--seed: '{text}' is not valid: expected a whole number from 0");

        private static TaskCompletionVariant ParseVariant(string text) => text switch
        {
            "merged" => TaskCompletionVariant.Merged,
            "v4" => TaskCompletionVariant.V4,
            "v5" => TaskCompletionVariant.V5,
            "cpumask" => TaskCompletionVariant.Cpumask,
            _ => throw new ArgumentException($"--variant: '{text}' is not valid: expected merged, v4, v5, cpumask or all"),
        };

        // 30s, 10m, 1h, 500ms; a bare number is seconds.
        private static long ParseDuration(string text)
        {
            var units = new (string Suffix, double Ms)[] { ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000) };
            // "ms" comes before "s", so that 500ms is not read as 500m and an s.
            var (suffix, ms) = units.FirstOrDefault(u => text.EndsWith(u.Suffix, StringComparison.Ordinal));
            var number = suffix is null ? text : text[..^suffix.Length];
            if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) || value <= 0 || value * (suffix is null ? 1000 : ms) > TimeSpan.FromDays(366).TotalMilliseconds)
            {
                throw new ArgumentException($"--duration: '{text}' is not valid: expected a positive time such as 30s, 10m or 1h");
            }

            return (long)Math.Ceiling(value * (suffix is null ? 1000 : ms));
        }
    }

    /// <summary>The sums the final table prints.</summary>
    private sealed class Totals(long startMs)
    {
        private ulong? _firstSeed;
        private ulong _lastSeed;

        public long StartMs { get; } = startMs;

        /// <summary>Seeds started (a seed runs in every configuration before the next starts).</summary>
        public int SeedsRun { get; private set; }

        public int Runs { get; private set; }

        public int RunsInSeed { get; private set; }

        public long Operations { get; private set; }

        public long BytesChecked { get; private set; }

        public int Violations { get; private set; }

        public long FaultsInjected { get; private set; }

        public int FaultEpisodes { get; private set; }

        public int InterleavedRuns { get; private set; }

        public long HotplugEvents { get; private set; }

        public long DrainedByHotplug { get; private set; }

        public long CrashStates { get; private set; }

        public long CrashWorkloads { get; private set; }

        public long TornStates { get; private set; }

        /// <summary>Counts an interleaved run (its seed was counted by its oracle run).</summary>
        public void Add(InterleavedResult r)
        {
            InterleavedRuns++;
            Operations += r.Operations;
            BytesChecked += r.BytesChecked;
            HotplugEvents += r.HotplugEvents;
            DrainedByHotplug += r.DrainedByHotplug;
            Violations += r.IsClean ? 0 : 1;
        }

        /// <summary>Counts a crash enumeration.</summary>
        public void Add(CrashReport r)
        {
            CrashWorkloads += r.Workloads;
            CrashStates += r.StatesChecked;
            TornStates += r.TornStates;
            Violations += (int)Math.Min(int.MaxValue, r.TotalViolations);
        }

        /// <summary>Counts a run; the first run of a seed counts the seed.</summary>
        public void Add(OracleResult r)
        {
            if (_firstSeed is null || r.Seed != _lastSeed)
            {
                SeedsRun++;
                RunsInSeed = 0;
            }

            Runs++;
            RunsInSeed++;
            Operations += r.Operations;
            BytesChecked += r.BytesChecked;
            FaultsInjected += r.FaultsInjected;
            FaultEpisodes += r.FaultEpisodes;
            Violations += r.IsClean ? 0 : 1;
            _firstSeed ??= r.Seed;
            _lastSeed = r.Seed;
        }

        public string Table(Plan plan)
        {
            var ms = Math.Max(1, Environment.TickCount64 - StartMs);
            var seeds = _firstSeed is { } first ? (first == _lastSeed ? $" (seed {first})" : $" (seeds {first}-{_lastSeed})") : string.Empty;
            var rows = new (string Name, string Value)[]
            {
                ("seeds run", $"{SeedsRun}{seeds}"),
                ("runs", $"{Runs} oracle" + (plan.Hotplug ? $", {InterleavedRuns} interleaved" : string.Empty)),
                ("operations", $"{Operations:N0}"),
                ("bytes checked", $"{BytesChecked:N0} ({BytesChecked / 1048576.0:0.0} MiB)"),
                ("crash states", plan.Crashes ? $"{CrashStates:N0} checked ({TornStates:N0} with a torn write) in {CrashWorkloads:N0} workloads" : "- (no --crashes)"),
                ("faults", plan.Faults ? $"{FaultsInjected:N0} bios failed or dropped in {FaultEpisodes:N0} episodes" : "- (no --faults)"),
                ("hotplug", plan.Hotplug ? $"{HotplugEvents:N0} CPU offline/online events, {DrainedByHotplug:N0} completions drained from dead CPUs" : "- (no --hotplug)"),
                ("violations", $"{Violations}"),
                ("host time", $"{ms / 1000.0:0.0} s"),
                ("operations/s", $"{Operations * 1000.0 / ms:0}"),
            };
            var text = new StringWriter(CultureInfo.InvariantCulture) { NewLine = "\n" };
            text.WriteLine($"wbsim torture: {plan.Describe()}");
            foreach (var (name, value) in rows)
            {
                text.WriteLine($"  {name,-14} {value}");
            }

            return text.ToString();
        }
    }

    /// <summary>The progress line on standard error: on a terminal redrawn in place (at most four
    /// times a second); otherwise one line at every tenth of the way, and at least once a minute.</summary>
    private sealed class Progress(TextWriter error, bool terminal, Plan plan)
    {
        private readonly long _startMs = Environment.TickCount64;
        private long _lastDrawMs = Environment.TickCount64;
        private int _lastTenth;
        private bool _drawn;

        public void Update(Totals totals, OracleResult last)
        {
            var now = Environment.TickCount64;
            var elapsed = now - _startMs;
            var fraction = plan.Fraction(totals.SeedsRun, elapsed, totals.RunsInSeed);
            var line = string.Create(CultureInfo.InvariantCulture,
                $"torture {fraction * 100,3:0}% | seed {last.Seed} {last.Completion.ToString().ToLowerInvariant()}/{last.Variant.ToString().ToLowerInvariant()} | {totals.SeedsRun} seeds, {totals.Runs} runs, {totals.Operations:N0} ops, {totals.Violations} violations | {elapsed / 1000.0:0.0} s");
            if (terminal)
            {
                if (now - _lastDrawMs >= 250)
                {
                    _lastDrawMs = now;
                    _drawn = true;
                    error.Write("\r" + line + "  ");
                }

                return;
            }

            var tenth = (int)(fraction * 10);
            if (tenth > _lastTenth || now - _lastDrawMs >= 60_000)
            {
                _lastTenth = tenth;
                _lastDrawMs = now;
                error.WriteLine("wbsim: " + line);
            }
        }

        public void End()
        {
            if (terminal && _drawn)
            {
                error.WriteLine();
            }
        }
    }
}
