using System.Globalization;
using Writeback.Kernel;

namespace Writeback.Tests.Infrastructure;

/// <summary>Small helpers for kernel-runtime tests: machines with the usual options, a guarded run
/// that cannot hang a test, and the end-of-test cleanliness check.</summary>
public static class MachineFixture
{
    /// <summary>Name of the serial collection for tests that run the real engine (real threads).</summary>
    public const string RealEngine = "RealEngine";

    /// <summary>Both engines, for <c>[Theory]</c> data.</summary>
    public static TheoryData<EngineKind> Engines => new() { EngineKind.Deterministic, EngineKind.Real };

    /// <summary>Creates a machine; <paramref name="configure"/> may change any other option.</summary>
    public static Machine Create(
        ulong seed = 1,
        int cpus = 2,
        EngineKind engine = EngineKind.Deterministic,
        LockdepMode lockdep = LockdepMode.Fail,
        Func<MachineOptions, MachineOptions>? configure = null)
    {
        var options = new MachineOptions
        {
            Engine = engine,
            Cpus = cpus,
            Seed = seed,
            Lockdep = lockdep,
            PreemptCount = true,
            RecordTrace = false,
            SpinLockupTimeout = TimeSpan.FromSeconds(10),
        };
        if (configure is not null)
        {
            options = configure(options);
        }

        return Machine.Create(options);
    }

    /// <summary>Runs the machine on a separate thread and fails the test if the run does not end
    /// within <paramref name="timeout"/> (default 30 s); returns the run's exception, or null.</summary>
    public static Exception? RunGuarded(Machine machine, Action init, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(machine);
        Exception? failure = null;
        var thread = new System.Threading.Thread(() =>
        {
            try
            {
                machine.Run(init);
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        })
        {
            IsBackground = true,
            Name = "machine-run",
        };
        thread.Start();
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        if (!thread.Join(limit))
        {
            machine.Dispose();
            Assert.Fail(string.Create(CultureInfo.InvariantCulture, $"machine run did not finish within {limit.TotalSeconds:0} s (seed {machine.Options.Seed}, engine {machine.Options.Engine}): it hangs"));
        }

        return failure;
    }

    /// <summary>Asserts the run left nothing behind: no report of any kind, the validator still on
    /// (when enabled), and every user task exited.</summary>
    public static void AssertClean(Machine machine)
    {
        ArgumentNullException.ThrowIfNull(machine);
        var reports = machine.Reports;
        Assert.True(reports.Count == 0, "unexpected reports:\n" + string.Join("\n", reports.Select(r => r.Text)));
        if (machine.Options.Lockdep != LockdepMode.Off)
        {
            Assert.True(machine.Lockdep.IsValidating, "lockdep turned itself off");
        }

        var alive = machine.Tasks.Where(t => t.Kind == TaskKind.User && !t.HasExited).Select(t => t.ToString()).ToList();
        Assert.True(alive.Count == 0, "user tasks still alive: " + string.Join(", ", alive));
    }

    /// <summary>The single report of <paramref name="kind"/>; fails listing every report otherwise.</summary>
    public static KernelReport SingleReport(Machine machine, ReportKind kind)
    {
        ArgumentNullException.ThrowIfNull(machine);
        var reports = machine.Reports;
        var matching = reports.Where(r => r.Kind == kind).ToList();
        Assert.True(matching.Count == 1, $"expected exactly one {kind} report, got {matching.Count}:\n" + string.Join("\n", reports.Select(r => r.Text)));
        return matching[0];
    }

    /// <summary>Spins (with runtime points, so other CPUs and interrupts progress) until <paramref name="condition"/> holds.</summary>
    public static void SpinUntil(Func<bool> condition)
    {
        ArgumentNullException.ThrowIfNull(condition);
        while (!condition())
        {
            Context.Point();
        }
    }

    /// <summary>The serial collection for real-engine tests: real threads must not compete with other tests.</summary>
    [CollectionDefinition(RealEngine, DisableParallelization = true)]
    public sealed class RealEngineCollection
    {
    }
}
