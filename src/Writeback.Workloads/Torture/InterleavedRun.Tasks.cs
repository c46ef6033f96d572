using System.Globalization;
using System.Text;
using System.Threading;
using Writeback.Block;
using Writeback.Fs;
using Writeback.Fs.Format;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Workloads.Torture;

/// <summary>The run's tasks: init (setup, join, final checks), the workers, the hotplug task and
/// the stall watchdog; and what an injected interrupt does.</summary>
public sealed partial class InterleavedRun
{
    private const string SharedPath = "/shared";

    // Each sharing worker's range of the shared file: a multiple of the largest folio
    // (IomapBufferedIo.MaxFolioOrder), so that no folio spans two workers' ranges.
    private const long SharedRangeBytes = 256L << 10;

    private void Body(Machine m)
    {
        Machine = m;
        _progress = new WaitQueueHead();

        // Drawn even when the count is given, so that a given count replays a drawn one.
        var rng = m.CreatePrandom("interleaved");
        var drawn = 100 + (int)rng.NextInt64(101);
        _opCount = _options.Operations ?? drawn;

        _layer = BlockLayer.Create(m, new BlockLayerOptions { Variant = _options.Variant, Checked = true });
        var latency = new LatencyModel { OutlierProbability = _options.OutlierProbability, OutlierNs = _options.OutlierNs };
        _disk = new MemDisk(_layer, new DiskOptions { CapacityBytes = DiskBytes, Latency = latency, Affinity = _affinity });
        FileSystem.Mkfs(_disk, FsGeometry.For(DiskBytes, blockSize: _blockSize), _options.Completion);
        _cache = NewCache(m);
        MountFs();
        m.IrqInjector = Inject;

        CreateWorkers(m, rng);
        m.KthreadRun("torture-watchdog", () => Watchdog(m));
        var hotplug = _options.Hotplug ? m.Spawn("hotplug", () => HotplugLoop(m)) : null;
        var tasks = _workers.Select(w => m.Spawn(w.Name, () => w.Run(_opCount))).ToList();
        foreach (var t in tasks)
        {
            t.WaitForExit();
        }

        Volatile.Write(ref _stopHotplug, 1);
        _progress.WakeUpAll();
        hotplug?.WaitForExit();
        if (m.Cpus.FirstOrDefault(c => !c.IsOnline) is { } offline)
        {
            OracleChecks.Fail(string.Create(CultureInfo.InvariantCulture, $"CPU {offline.Id} is still offline after the hotplug task stopped"));
        }

        Volatile.Write(ref _inFinal, 1);
        try
        {
            Finish(m);
        }
        catch (OracleCheckException ex)
        {
            throw new OracleCheckException("final: " + ex.Message, ex);
        }

        m.IrqInjector = null;
        _modelledNs = m.NowNs;
        Volatile.Write(ref _done, 1);
    }

    // The workers' own files (/wNa, /wNb) and, for the first two, a range each of /shared, which
    // init creates at its full size and fills with random bytes before the workers start.
    private void CreateWorkers(Machine m, Prandom rng)
    {
        OracleFile? shared = null;
        if (SharingWorkers > 0)
        {
            shared = NewModel(SharedPath);
            var size = SharingWorkers * SharedRangeBytes;
            var data = new byte[size];
            rng.NextBytes(data);
            Record(string.Create(CultureInfo.InvariantCulture, $"init: create {SharedPath} with {size} random bytes, {SharedRangeBytes} bytes for each of w0 and w1"));
            OracleChecks.Expect(Fs.Open(SharedPath, OpenFlags.Create, out var f), "the open of the shared file");
            OracleChecks.Expect(f!.Write(0, data, out var written), "the write of the shared file");
            OracleChecks.ExpectBytes(size, written, "the write of the shared file");
            shared.Exists = true;
            shared.Ino = f.Inode.Number;
            shared.Write(0, data);
            OracleChecks.Expect(f.Close(), "the close of the shared file");
        }

        for (var w = 0; w < _options.Workers; w++)
        {
            var name = string.Create(CultureInfo.InvariantCulture, $"w{w}");
            var files = new List<InterleavedFile>
            {
                new(NewModel($"/{name}a"), 0, OracleModel.MaxFileBytes, shared: false),
                new(NewModel($"/{name}b"), 0, OracleModel.MaxFileBytes, shared: false),
            };
            if (shared is not null && w < SharingWorkers)
            {
                files.Add(new InterleavedFile(shared, w * SharedRangeBytes, (w + 1) * SharedRangeBytes, shared: true));
            }

            _workers.Add(new InterleavedWorker(this, w, m.CreatePrandom(name), files, _blockSize));
        }
    }

    private OracleFile NewModel(string path)
    {
        var s = new OracleFile(_models.Count, path);
        _models.Add(s);
        return s;
    }

    // Waits for a few operations, takes one (sometimes two) random non-zero CPUs offline, waits a
    // few operations or a seeded sleep, and brings them back; at the stop, every CPU is online.
    private void HotplugLoop(Machine m)
    {
        var rng = m.CreatePrandom("hotplug");
        while (WaitOperations((int)rng.NextInt64(3)))
        {
            var candidates = Enumerable.Range(1, _options.Cpus - 1).ToList();
            var count = candidates.Count >= 2 && rng.NextInt64(4) == 0 ? 2 : 1;
            var down = new List<int>();
            for (var i = 0; i < count; i++)
            {
                var pick = (int)rng.NextInt64(candidates.Count);
                down.Add(candidates[pick]);
                candidates.RemoveAt(pick);
            }

            foreach (var cpu in down)
            {
                HotplugStep(m, cpu, online: false);
            }

            if (rng.NextInt64(4) == 0)
            {
                m.Msleep(1);
            }
            else
            {
                WaitOperations((int)rng.NextInt64(3));
            }

            foreach (var cpu in down)
            {
                HotplugStep(m, cpu, online: true);
            }
        }
    }

    private void HotplugStep(Machine m, int cpu, bool online)
    {
        var what = string.Create(CultureInfo.InvariantCulture, $"hotplug: CPU {cpu} {(online ? "online" : "offline")} (event {Volatile.Read(ref _hotplugEvents) + 1})");
        _hotplugActivity.Begin(what, m.NowNs);
        Record(what);
        if (online)
        {
            m.CpuUp(cpu);
        }
        else
        {
            m.CpuDown(cpu);
        }

        Interlocked.Increment(ref _hotplugEvents);
        _hotplugActivity.End();
    }

    // Sleeps until the workers have finished n more operations; false once the run stops hotplug.
    private bool WaitOperations(int n)
    {
        var target = Volatile.Read(ref _executed) + n;
        _progress.WaitEvent(() => Volatile.Read(ref _executed) >= target || Volatile.Read(ref _stopHotplug) != 0);
        return Volatile.Read(ref _stopHotplug) == 0;
    }

    // A kernel thread that wakes every WatchdogPeriodMs of modelled time and fails the run when a
    // task's step has lasted past the stall limit: the modelled-time form of the hung-task detector.
    private void Watchdog(Machine m)
    {
        var limitNs = _options.StallTimeout.Ticks * 100;
        while (Volatile.Read(ref _done) == 0)
        {
            m.Msleep(WatchdogPeriodMs);
            var now = m.NowNs;
            Interlocked.Exchange(ref _watchdogNs, now);
            foreach (var a in Activities())
            {
                if (a.Current is { } what && now - a.SinceNs > limitNs)
                {
                    Volatile.Write(ref _hangDetail, DescribeStall(m, now));
                    OracleChecks.Fail(string.Create(CultureInfo.InvariantCulture,
                        $"hung: {a.Name} has been in \"{what}\" for {(now - a.SinceNs) / 1_000_000} ms of modelled time (stall limit {_options.StallTimeout.TotalMilliseconds:0} ms)"));
                }
            }
        }
    }

    private IEnumerable<InterleavedActivity> Activities() => _workers.Select(w => w.Activity).Append(_hotplugActivity).Append(_finalActivity);

    private string DescribeStall(Machine m, long now)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"at {now / 1_000_000} ms of modelled time:\n");
        foreach (var a in Activities())
        {
            sb.Append(CultureInfo.InvariantCulture, $"{a.Name}: {(a.Current is { } what ? $"in \"{what}\" for {(now - a.SinceNs) / 1_000_000} ms" : "between steps or done")}\n");
        }

        sb.Append("CPUs online: ").Append(string.Join(", ", m.Cpus.Where(c => c.IsOnline).Select(c => c.Id))).Append('\n');
        if (_layer is { } layer)
        {
            var s = layer.Stats();
            sb.Append(CultureInfo.InvariantCulture, $"task-completion: {s.Deferred} deferred, {s.DrainedByHotplug} drained by hotplug, {s.WorkerRuns} worker runs\n");
        }

        var dmesg = m.Dmesg.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        sb.Append("dmesg (last lines):\n").Append(string.Join("\n", dmesg.Skip(Math.Max(0, dmesg.Length - 10))));
        return sb.ToString();
    }

    // After the workers: sync, check, unmount, power cut, mount with a new page cache, read every
    // file back against its model, check again, unmount.
    private void Finish(Machine m)
    {
        FinalStep(m, "final: sync and fsck");
        OracleChecks.Expect(Fs.Sync(), "the final sync");
        OracleChecks.CheckFsck(Fs, "after the workers");
        FinalStep(m, "final: unmount, power cut, mount with a new page cache");
        SetInjectTarget(null);
        OracleChecks.Expect(Fs.Unmount(), "the unmount");
        OracleChecks.CheckUnmounted(_cache, _layer!);
        _disk.PowerCut();
        _cache = NewCache(m);
        MountFs();
        foreach (var s in _models)
        {
            FinalStep(m, $"final: read all of {s.Label} (size {s.Size})");
            var err = Fs.Open(s.Path!, OpenFlags.None, out var f);
            if (!s.Exists)
            {
                OracleChecks.ExpectError(Errno.ENOENT, err, $"the open of {s.Label}, which no worker created,");
                continue;
            }

            OracleChecks.Expect(err, "the open");
            SetInjectTarget(f!.Aops.Mapping);
            OracleChecks.CheckSize(s, f, " after the power cut and mount");
            _finalBytesChecked += OracleChecks.CheckRead(s, f, 0, (int)OracleModel.MaxFileBytes + _blockSize);
            OracleChecks.Expect(f.Close(), "the close");
        }

        FinalStep(m, "final: fsck and unmount");
        OracleChecks.CheckFsck(Fs, "after the power cut and mount");
        SetInjectTarget(null);
        OracleChecks.Expect(Fs.Unmount(), "the final unmount");
        OracleChecks.CheckUnmounted(_cache, _layer!);
        _finalActivity.End();
    }

    /// <summary>The page cache's live invariants, after a worker's step (the other workers run on).</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    internal void CheckInvariants() => OracleChecks.CheckInvariants(_cache);

    private void FinalStep(Machine m, string what)
    {
        _finalActivity.Begin(what, m.NowNs);
        Record(what);
    }

    private void Inject()
    {
        Interlocked.Increment(ref _irqInjections);
        TortureStack.OtherDevicesCompletion(Volatile.Read(ref _injectTarget), _options.Completion);
    }

    private PageCache NewCache(Machine m) => TortureStack.NewCache(m, _options.Completion, _tightDirtyLimits);

    private void MountFs() => Fs = TortureStack.Mount(_disk, _cache);
}
