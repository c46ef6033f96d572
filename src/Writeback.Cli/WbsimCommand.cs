using System.CommandLine;
using System.Threading;
using Writeback.Block;
using Writeback.Mm;
using Writeback.Workloads.Fio;
using Writeback.Workloads.Reports;
using Writeback.Workloads.Running;

namespace Writeback.Cli;

/// <summary>The <c>wbsim</c> commands: <c>run</c> (one configuration) and <c>compare</c> (IRQ
/// completion against task completion, and with <c>--variants all</c> every task variant).</summary>
/// <remarks>Exit codes: 0 success; 1 a run stopped (lockdep with lockdep=fail, a detected deadlock,
/// a BUG), a job failed or verify found errors — except, in a comparison, the forced-plain
/// demonstration run, whose report is the point; 2 bad input (job file, option); 130 interrupted.</remarks>
internal static class WbsimCommand
{
    /// <summary>Parses <paramref name="args"/> and runs the command.</summary>
    public static int Invoke(string[] args, TextWriter output, TextWriter error, bool progressToTerminal, CancellationToken cancellation)
    {
        var root = new RootCommand("wbsim: run fio job files on a model of the Linux writeback stack, under IRQ completion and task completion (BIO_COMPLETE_IN_TASK).");
        root.Subcommands.Add(Build("run", "Run a job file (or the built-in default) on one machine configuration.", compare: false, output, error, progressToTerminal, cancellation));
        root.Subcommands.Add(Build("compare", "Run a job file (or the built-in default) under IRQ completion and task completion, then compare them side by side.", compare: true, output, error, progressToTerminal, cancellation));
        root.Subcommands.Add(TortureCommand.Build(output, error, progressToTerminal, cancellation));
        return root.Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
    }

    private static Command Build(string name, string description, bool compare, TextWriter output, TextWriter error, bool terminal, CancellationToken cancellation)
    {
        var command = new Command(name, description);
        var job = new Argument<string?>("JOB.fio") { Description = "fio job file; the built-in default workload when omitted", Arity = ArgumentArity.ZeroOrOne };
        command.Arguments.Add(job);
        var model = new List<(string Name, Option<string?> Option)>();
        foreach (var (opt, values, meaning) in WbsimOptions.Table)
        {
            if (compare && opt == "completion")
            {
                continue;
            }

            var o = new Option<string?>("--" + opt.Replace('_', '-')) { Description = $"{meaning} [{values}]" };
            command.Options.Add(o);
            model.Add((opt, o));
        }

        var variants = new Option<string?>("--variants") { Description = "compare: 'all' adds every task-completion variant (merged, v4, v5, cpumask)" };
        var format = new Option<string>("--output-format") { Description = "normal (fio's human output and the model's sections), json (fio's JSON with a \"model\" object), or both", DefaultValueFactory = _ => "normal" };
        format.AcceptOnlyFromAmong("normal", "json", "both");
        var file = new Option<string?>("--output") { Description = "write the report to FILE instead of standard output" };
        var plot = new Option<string?>("--plot") { Description = "write PNG charts into DIR" };
        if (compare)
        {
            command.Options.Add(variants);
        }

        command.Options.Add(format);
        command.Options.Add(file);
        command.Options.Add(plot);
        command.SetAction(parse =>
        {
            var request = new CliRequest(
                parse.GetValue(job),
                [.. model.Select(m => (m.Name, parse.GetValue(m.Option))).Where(m => m.Item2 is not null).Select(m => (m.Name, m.Item2!))],
                compare,
                compare ? parse.GetValue(variants) : null,
                parse.GetValue(format)!,
                parse.GetValue(file),
                parse.GetValue(plot));
            return Execute(request, output, error, terminal, cancellation);
        });
        return command;
    }

    /// <summary>Runs a parsed request.</summary>
    internal static int Execute(CliRequest request, TextWriter output, TextWriter error, bool terminal, CancellationToken cancellation)
    {
        JobFile jobFile;
        WbsimOptions options;
        IReadOnlyList<JobSpec> specs;
        try
        {
            jobFile = request.JobPath is null ? FioJobFile.ParseFile(DefaultJob.Text, DefaultJob.Name) : FioJobFile.LoadFile(request.JobPath);
            options = new WbsimOptions().With(jobFile.ModelOptions);
            specs = [.. jobFile.Jobs.Select(JobSpec.From)];
        }
        catch (JobFileException ex)
        {
            error.WriteLine($"wbsim: {ex.Message}");
            return 2;
        }

        try
        {
            foreach (var (name, value) in request.ModelOptions)
            {
                try
                {
                    options = options.With(name, value);
                }
                catch (ArgumentException ex)
                {
                    throw new ArgumentException($"--{name.Replace('_', '-')}: {ex.Message.Split(" (Parameter", 2)[0]}", ex);
                }
            }

            CheckOutputs(request);
        }
        catch (ArgumentException ex)
        {
            error.WriteLine($"wbsim: {ex.Message.Split(" (Parameter", 2)[0]}");
            return 2;
        }

        List<WbsimOptions> configs;
        try
        {
            configs = Configurations(options, request);
            configs.ForEach(c => c.Validate());
        }
        catch (ArgumentException ex)
        {
            error.WriteLine($"wbsim: {ex.Message.Split(" (Parameter", 2)[0]}");
            return 2;
        }

        var runs = RunAll(configs, specs, request.JobPath ?? DefaultJob.Name, error, terminal, cancellation);
        Report(request, runs, output, error);
        return ExitCode(runs, request.Compare);
    }

    private static List<WbsimOptions> Configurations(WbsimOptions options, CliRequest request)
    {
        if (!request.Compare)
        {
            return [options];
        }

        var list = new List<WbsimOptions> { options with { Completion = CompletionMode.Irq, PlainLock = false } };
        if (options.PlainLock)
        {
            list.Add(options with { Completion = CompletionMode.Irq, PlainLock = true });
        }

        var task = options with { Completion = CompletionMode.Task, PlainLock = false };
        switch (request.Variants)
        {
            case null:
                list.Add(task);
                break;
            case "all":
                list.AddRange(Enum.GetValues<TaskCompletionVariant>().Select(v => task with { Variant = v }));
                break;
            default:
                throw new ArgumentException($"--variants: '{request.Variants}' is not valid: expected all (or leave it out and choose one with --variant)");
        }

        return list;
    }

    private static List<RunResult> RunAll(List<WbsimOptions> configs, IReadOnlyList<JobSpec> specs, string jobName, TextWriter error, bool terminal, CancellationToken cancellation)
    {
        var progress = new ProgressPrinter(error, terminal);
        using var metrics = new WritebackMetrics();
        var runs = new List<RunResult>();
        foreach (var config in configs)
        {
            if (runs.Count > 0 && cancellation.IsCancellationRequested)
            {
                // Interrupted: the runs done so far are reported; the first always runs (its jobs
                // stop at their first I/O), so that an interrupted command still says so.
                break;
            }

            progress.Start(config.DesignName);
            var run = WorkloadRunner.Run(specs, config, jobName, new RunControl { Cancellation = cancellation, Progress = progress.Update, Metrics = metrics });
            progress.Done(run);
            runs.Add(run);
        }

        return runs;
    }

    private static void Report(CliRequest request, List<RunResult> runs, TextWriter output, TextWriter error)
    {
        var text = new StringWriter { NewLine = "\n" };
        if (request.Format is "normal" or "both")
        {
            foreach (var run in runs)
            {
                FioTextReport.Write(text, run);
                text.Write('\n');
            }

            if (request.Compare)
            {
                text.Write(CompareReport.Format(runs));
            }
        }

        if (request.Format is "json" or "both")
        {
            var host = JsonReportHost.Current(runs.Sum(r => r.HostWallMs));
            text.Write(request.Compare ? JsonReport.FormatRuns(runs, host) : JsonReport.Format(runs[0], host));
            text.Write('\n');
        }

        if (request.OutputPath is { } path)
        {
            try
            {
                File.WriteAllText(path, text.ToString());
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The runs are done: keep their report rather than lose it.
                error.WriteLine($"wbsim: --output: cannot write '{path}' ({ex.Message}); the report follows on standard output");
                output.Write(text.ToString());
            }
        }
        else
        {
            output.Write(text.ToString());
        }

        if (request.PlotDirectory is { } dir)
        {
            foreach (var png in PlotWriter.Write(dir, [.. runs.Select(r => PlotData.From(r))]))
            {
                error.WriteLine($"wbsim: wrote {png}");
            }
        }
    }

    // Fails before any run if an output cannot be written, so that no run's figures are lost.
    private static void CheckOutputs(CliRequest request)
    {
        if (request.OutputPath is { } path)
        {
            var dir = Path.GetDirectoryName(Path.GetFullPath(path));
            if (dir is not null && !Directory.Exists(dir))
            {
                throw new ArgumentException($"--output: the directory of '{path}' does not exist");
            }

            if (Directory.Exists(path))
            {
                throw new ArgumentException($"--output: '{path}' is a directory");
            }
        }

        if (request.PlotDirectory is { } plot && File.Exists(plot))
        {
            throw new ArgumentException($"--plot: '{plot}' is a file, not a directory");
        }
    }

    // In a comparison the forced-plain run is the demonstration of a lockdep report, not a failure.
    private static int ExitCode(List<RunResult> runs, bool compare)
    {
        if (runs.Any(r => r.Interrupted))
        {
            return 130;
        }

        var bad = runs.Where(r => !(compare && r.Options.PlainLock)).Any(r => r.Failure is not null || r.VerifyErrors > 0 || r.Jobs.Any(j => j.Error != Kernel.Errno.None));
        return bad ? 1 : 0;
    }
}
