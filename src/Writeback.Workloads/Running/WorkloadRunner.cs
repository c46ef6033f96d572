using Writeback.Block;
using Writeback.Diagnostics;
using Writeback.Fs;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Workloads.Running;

/// <summary>Runs jobs on a freshly made machine and filesystem and reports what fio would print
/// plus the model's figures.</summary>
/// <remarks>A run: make the machine (engine, CPUs, seed, lockdep), the block layer (task-completion
/// variant), the disk (RAM or file, with the latency model), mkfs, the page cache (completion mode,
/// memory and dirty limits) and mount. Lay out every job's files as fio does (fallocate per the
/// job's fallocate=; read jobs get their data written first), sync, drop the page cache
/// (fio's invalidate=1), and clear the lock, interrupts-off and completion statistics, so that the
/// model's figures cover the jobs alone. Then start every job instance as a task, spread over the
/// CPUs, wait for them, and collect. A machine failure (a lockdep report with lockdep=fail, a
/// detected deadlock, a kernel BUG) ends the run early; what was measured until then is still returned.</remarks>
public static class WorkloadRunner
{
    /// <summary>Runs <paramref name="jobs"/> under <paramref name="options"/>.</summary>
    /// <param name="jobs">The jobs, in file order.</param>
    /// <param name="options">The machine and design.</param>
    /// <param name="jobFile">The job file's name, for the report.</param>
    /// <param name="control">Cancellation, progress and metrics; optional.</param>
    /// <exception cref="ArgumentException">The options do not fit together.</exception>
    public static RunResult Run(IReadOnlyList<JobSpec> jobs, WbsimOptions options, string jobFile = "default", RunControl? control = null)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        control ??= new RunControl();
        var hostStart = Environment.TickCount64;
        using var m = Machine.Create(new MachineOptions
        {
            Engine = options.Engine,
            Cpus = options.Cpus,
            Seed = options.Seed,
            Lockdep = options.Lockdep,
            QuantumNs = options.Engine == EngineKind.Deterministic ? options.QuantumNs : 0,
        });
        var state = new RunState(jobs, options, control, m);
        string? failure = null;
        string? detail = null;
        try
        {
            m.Run(state.Main);
        }
        catch (MachineFailedException ex)
        {
            failure = ex.Message.Split('\n')[0];
            detail = ex.ToString();
        }
        finally
        {
            state.Disk?.Dispose();
        }

        var results = state.Results;
        return new RunResult
        {
            Options = options,
            JobFile = jobFile,
            Jobs = Reporting(jobs, results),
            Groups = [Group(results)],
            Model = Collect(m, state),
            ElapsedNs = state.ElapsedNs,
            HostWallMs = Environment.TickCount64 - hostStart,
            Interrupted = control.Cancellation.IsCancellationRequested,
            Failure = failure ?? state.SetupFailure,
            FailureDetail = detail,
        };
    }

    // One result per instance, or one per job with group_reporting.
    private static List<JobResult> Reporting(IReadOnlyList<JobSpec> jobs, List<(JobSpec Spec, JobResult Result)> results)
    {
        var list = new List<JobResult>();
        foreach (var spec in jobs)
        {
            var mine = results.Where(r => ReferenceEquals(r.Spec, spec)).Select(r => r.Result).ToList();
            if (!spec.GroupReporting || mine.Count <= 1)
            {
                list.AddRange(mine);
                continue;
            }

            var sum = new JobResult(spec, mine[0].GroupId) { Jobs = 0, Pid = mine[0].Pid };
            foreach (var r in mine)
            {
                sum.Add(r);
            }

            list.Add(sum);
        }

        return list;
    }

    private static JobResult Group(List<(JobSpec Spec, JobResult Result)> results)
    {
        var first = results.Count > 0 ? results[0].Spec : new JobSpec { Name = "none", Where = "" };
        var sum = new JobResult(first, 0) { Jobs = 0 };
        foreach (var (_, r) in results)
        {
            sum.Add(r);
        }

        return sum;
    }

    private static ModelReport Collect(Machine m, RunState s)
    {
        var lockStat = LockStatReport.Collect(m);
        var classes = m.Lockdep.Classes;
        var byCause = m.IrqsOff.ByCause;
        var max = m.IrqsOff.Max;
        var completion = new Lib.LatencyHistogram();
        if (s.Fs is { } fs)
        {
            completion.Add(fs.Stats.BufferedCompletionLatency);
            completion.Add(fs.Stats.DirectCompletionLatency);
        }

        var workqueues = ModelReport.DeferralWorkqueues.ToDictionary(n => n, _ => (Queued: 0L, Executed: 0L), StringComparer.Ordinal);
        foreach (var wq in m.Workqueues)
        {
            var name = ReportName(wq.Name);
            s.WorkqueueBaseline.TryGetValue(wq, out var b);
            var (q, e) = workqueues.GetValueOrDefault(name);
            workqueues[name] = (q + wq.Queued - b.Queued, e + wq.Executed - b.Executed);
        }

        return new ModelReport
        {
            TimeBasis = m.TimesAreModelled ? "modelled" : "measured",
            LockStat = lockStat,
            Usage = classes.GroupBy(c => c.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().UsageString, StringComparer.Ordinal),
            IrqsOffByClassNs = classes.Select(c => c.Name).Distinct(StringComparer.Ordinal)
                .ToDictionary(n => n, n => byCause.TryGetValue(n, out var c) ? c.TotalNs : 0, StringComparer.Ordinal),
            IrqsOff = max is null ? null : new IrqsOffMax(max.DurationNs, max.Cpu, max.StartNs, max.EndNs, max.Start.ToString(), max.End.ToString(), max.Cause),
            IrqsOffTotalNs = m.IrqsOff.Sections.Total,
            IrqLatency = LatencySummary.From(m.IrqsOff.IrqLatency),
            CompletionLatency = LatencySummary.From(completion),
            DeferralLatency = s.Layer is { } layer ? LatencySummary.From(layer.Stats().DeferralLatencyNs) : LatencySummary.Empty,
            Workqueues = workqueues,
            DropbehindLeft = s.Cache is { } c1 ? c1.DropbehindSkipped - s.DropbehindBaseline.Skipped : 0,
            DropbehindRemoved = s.Cache is { } c2 ? c2.DropbehindRemoved - s.DropbehindBaseline.Removed : 0,
            Reports = [.. m.Reports.Select(r => r.Text)],
            LockStatText = LockStatReport.Format(m),
            LockStatPercentilesText = LockStatReport.FormatPercentiles(m),
            IrqsOffText = IrqsOffReport.Format(m),
            IrqsOffSummaryText = IrqsOffReport.FormatSummary(m),
            PagesHoldHistogram = classes.FirstOrDefault(c => c.Name == ModelReport.PagesClassName)?.Stats.Hold ?? new Lib.LatencyHistogram(),
            CompletionHistogram = completion,
            IrqsOffHistogram = m.IrqsOff.Sections,
        };
    }

    /// <summary>The report's name of a workqueue: the deferral queues by what they complete.</summary>
    public static string ReportName(string workqueue)
    {
        ArgumentNullException.ThrowIfNull(workqueue);
        var bare = workqueue.Split('/')[0];
        return bare switch
        {
            "xfs-conv" => "ioend",
            "dio" => "dio",
            "xfs-buf" => "buf",
            _ => bare,
        };
    }

    /// <summary>The run's state inside the machine.</summary>
    private sealed class RunState(IReadOnlyList<JobSpec> jobs, WbsimOptions options, RunControl control, Machine m)
    {
        public List<(JobSpec Spec, JobResult Result)> Results { get; } = [];

        public BlockLayer? Layer { get; private set; }

        public SimulatedDisk? DiskDevice { get; private set; }

        public IDisposable? Disk => DiskDevice as IDisposable;

        public PageCache? Cache { get; private set; }

        public FileSystem? Fs { get; private set; }

        public Dictionary<Workqueue, (long Queued, long Executed)> WorkqueueBaseline { get; } = [];

        public (long Removed, long Skipped) DropbehindBaseline { get; private set; }

        public long ElapsedNs { get; private set; }

        public string? SetupFailure { get; private set; }

        public void Main()
        {
            Layer = BlockLayer.Create(m, new BlockLayerOptions { Variant = options.Variant });
            var disk = new DiskOptions { CapacityBytes = Capacity(), Latency = options.Latency, Affinity = IrqAffinity.RoundRobin };
            if (options.FileDisk && File.Exists(options.DiskFile) && new FileInfo(options.DiskFile!).Length != disk.CapacityBytes)
            {
                SetupFailure = $"disk_file {options.DiskFile} holds {new FileInfo(options.DiskFile!).Length} bytes but this run needs a {disk.CapacityBytes}-byte disk: remove it or name another disk_file";
                return;
            }

            DiskDevice = options.FileDisk ? new FileDisk(Layer, options.DiskFile!, disk) : new MemDisk(Layer, disk);
            FileSystem.Mkfs(DiskDevice, mode: options.Completion);
            Cache = PageCache.Create(m, new PageCacheOptions
            {
                Mode = options.Completion,
                ForcePlainLock = options.PlainLock,
                MemoryLimitBytes = options.MemoryBytes,
                DirtyRatio = options.DirtyRatio,
                DirtyBackgroundRatio = options.DirtyBackgroundRatio,
                DirtyBytes = options.DirtyBytes,
                DirtyBackgroundBytes = options.DirtyBackgroundBytes,
            });
            if (FileSystem.Mount(DiskDevice, Cache, out var fs, out var problem) != Errno.None)
            {
                SetupFailure = $"mount failed: {problem}";
                return;
            }

            Fs = fs!;
            var setup = JobLayout.Prepare(Fs, jobs);
            if (setup is not null)
            {
                SetupFailure = setup;
                return;
            }

            ResetStatistics();
            var shared = new RunShared(control, options.DesignName, jobs.Where(j => !j.TimeBased).Sum(j => j.Size * j.NumJobs),
                jobs.Max(j => j.RuntimeUs > 0 ? (j.RampTimeUs + j.RuntimeUs) * 1000 : 0), () => m.NowNs);
            control.Metrics?.Attach(options.DesignName, () => Pages(m), () => m.IrqsOff.Max?.DurationNs ?? 0);
            var tasks = new List<TaskStruct>();
            var start = m.NowNs;
            shared.Start();
            var k = 0;
            foreach (var spec in jobs)
            {
                for (var i = 0; i < spec.NumJobs; i++, k++)
                {
                    var result = new JobResult(spec, 0);
                    var instance = new JobInstance(spec, i, Fs, shared, result);
                    var task = m.Spawn($"fio/{spec.Name}.{i}", instance.Run, k % options.Cpus);
                    result.Pid = task.Pid;
                    Results.Add((spec, result));
                    tasks.Add(task);
                }
            }

            foreach (var t in tasks)
            {
                t.WaitForExit();
            }

            ElapsedNs = m.NowNs - start;
        }

        private long Capacity()
        {
            var files = jobs.Sum(j => (long)(j.FileName is null ? j.NumJobs * j.NrFiles : 1) * j.FileSize);
            var need = files + (files / 4) + (64L << 20);
            return Math.Max(options.DiskBytes, (need + 4095) / 4096 * 4096);
        }

        private void ResetStatistics()
        {
            m.Lockdep.ClearLockStats();
            m.IrqsOff.Reset();
            Layer!.ResetStats();
            Fs!.Stats.Reset();
            foreach (var wq in m.Workqueues)
            {
                WorkqueueBaseline[wq] = (wq.Queued, wq.Executed);
            }

            DropbehindBaseline = (Cache!.DropbehindRemoved, Cache.DropbehindSkipped);
        }

        private static LatencySummary? Pages(Machine m) =>
            m.Lockdep.Classes.FirstOrDefault(c => c.Name == ModelReport.PagesClassName) is { } c ? LatencySummary.From(c.Stats.Hold) : null;
    }
}
