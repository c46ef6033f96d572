using System.Globalization;
using Writeback.Block;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Workloads.Torture.Crash;

/// <summary>How crash workloads run and are crashed: the design under test, the filesystem, which
/// crash states are checked, and against which promises.</summary>
public sealed record CrashOptions
{
    /// <summary>How bios complete: in interrupt context, or deferred to task context.</summary>
    public CompletionMode Completion { get; init; } = CompletionMode.Irq;

    /// <summary>The task-completion design (it matters in task mode only).</summary>
    public TaskCompletionVariant Variant { get; init; } = TaskCompletionVariant.Merged;

    /// <summary>Seed of the machine and of the sampled subsets of unflushed writes.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Simulated CPUs.</summary>
    public int Cpus { get; init; } = 2;

    /// <summary>How far (virtual ns) the deterministic engine lets a CPU run ahead before it
    /// switches (<see cref="MachineOptions.QuantumNs"/>; wbsim's default): fewer host thread
    /// switches, the same seed-determined schedule on every run.</summary>
    public long QuantumNs { get; init; } = 2_000;

    /// <summary>Filesystem block size in bytes (512 to 4096, a power of two).</summary>
    public int BlockSize { get; init; } = 4096;

    /// <summary>The disk's size in bytes (small disks mount and check fast).</summary>
    public long DeviceBytes { get; init; } = 1L << 20;

    /// <summary>Random subsets of an epoch's unflushed writes checked at each flush boundary,
    /// besides none of them and all of them (an epoch with few enough writes has every subset checked).</summary>
    public int SamplesPerEpoch { get; init; } = 4;

    /// <summary>Also tear writes: at each flush boundary, one of the epoch's unflushed writes of more
    /// than one 512-byte sector, chosen with the seed, reaches the media only in part — its first
    /// sector only, all but its last (with the writes before it and none after), and a seeded
    /// subset of its sectors (with a seeded subset of the other writes) — as a power cut during a
    /// multi-sector write may leave it, a device making only each sector atomic. FUA writes and
    /// writes a completed flush covers are never torn. On by default; the journal's checksummed
    /// commit is what must make a torn log write harmless.</summary>
    public bool TornWrites { get; init; } = true;

    /// <summary>Also crash after every single log entry, with every write before it on the media
    /// (dm-log-writes replay of each prefix).</summary>
    public bool EveryWrite { get; init; }

    /// <summary>The promises checked.</summary>
    public CrashPromises Promises { get; init; } = CrashPromises.Posix;

    /// <summary>Rules broken on purpose (negative controls): <see cref="InjectedBug.SkipFsyncFlush"/>,
    /// <see cref="InjectedBug.ForgetToWriteTag"/> and <see cref="InjectedBug.EndWritebackBeforeConversion"/>
    /// must be caught. They break the workload under test only: each distinct starting state is
    /// made on a machine without them.</summary>
    public InjectedBug InjectedBugs { get; init; }

    /// <summary>Violations kept in a report (all are counted).</summary>
    public int MaxReportedViolations { get; init; } = 50;

    /// <summary>Stop a batch at the first workload with a violation.</summary>
    public bool StopAtFirstViolation { get; init; }

    /// <summary>The options as a C# initializer, for replay lines.</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"new CrashOptions {{ Completion = {Completion}, Variant = {Variant}, Seed = {Seed}, Cpus = {Cpus}, QuantumNs = {QuantumNs}, BlockSize = {BlockSize}, DeviceBytes = {DeviceBytes}, SamplesPerEpoch = {SamplesPerEpoch}, EveryWrite = {(EveryWrite ? "true" : "false")}, TornWrites = {(TornWrites ? "true" : "false")}, Promises = {Promises}{(InjectedBugs == InjectedBug.None ? string.Empty : $", InjectedBugs = {InjectedBugs}")} }}");

    /// <summary>Throws naming the first invalid setting.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    public void Validate()
    {
        if (BlockSize < 512 || BlockSize > 4096 || (BlockSize & (BlockSize - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(BlockSize), BlockSize, "crash options: BlockSize must be 512, 1024, 2048 or 4096");
        }

        if (DeviceBytes < 1L << 20 || DeviceBytes > 1L << 30 || DeviceBytes % 4096 != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(DeviceBytes), DeviceBytes, "crash options: DeviceBytes must be a multiple of 4 KiB from 1 MiB to 1 GiB");
        }

        if (Cpus < 1 || Cpus > MachineOptions.MaxCpus)
        {
            throw new ArgumentOutOfRangeException(nameof(Cpus), Cpus, $"crash options: Cpus must be between 1 and {MachineOptions.MaxCpus}");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(QuantumNs);
        ArgumentOutOfRangeException.ThrowIfNegative(SamplesPerEpoch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxReportedViolations);
    }
}
