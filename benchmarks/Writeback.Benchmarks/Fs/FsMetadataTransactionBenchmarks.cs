using BenchmarkDotNet.Attributes;
using Writeback.Block;
using Writeback.Fs.Buffer;
using Writeback.Fs.Format;
using Writeback.Kernel;
using Writeback.Lib;
using Writeback.Mm;
using FsJournal = Writeback.Fs.Journal.Journal;

namespace Writeback.Benchmarks.Fs;

/// <summary>The metadata transaction commit rate of the Writeback filesystem's journal on the
/// real engine with one CPU: the smallest transaction, against computing the CRC-32C of one
/// 4 KiB block.</summary>
/// <remarks>Issue: "metadata transaction commit rate". Each operation is
/// <see cref="FsJournal.Begin"/>, a <see cref="BufTarget.Read"/> of one block (a cache hit: the
/// journal keeps committed buffers pinned until checkpoint), joining it, changing one byte, and
/// <see cref="Writeback.Fs.Journal.Transaction.Commit"/>: three synchronous bios (descriptor,
/// the block's copy, and the commit block with a cache flush before it and FUA). The log has 1,024
/// blocks, so about every 341st commit also checkpoints (writes the block home, flushes, rewrites the
/// journal header); that cost is amortised in the mean. The journal sits on a 64 MiB
/// <see cref="MemDisk"/> with zero service time (<see cref="LatencyModel.Constant"/>): the figure
/// is the model's own cost of a commit. Buffer completions use <see cref="CompletionMode.Irq"/>.
/// <para>The mean is per commit; commits per second is 1e9 / mean (ns). One machine run per
/// invocation, which also creates and opens the journal (a few bios).</para></remarks>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 10, invocationCount: 1)]
public class FsMetadataTransactionBenchmarks
{
    private const int Commits = 20_000;
    private const int BaselineBlocks = 10 * Commits;
    private const long CapacityBytes = 64L << 20;
    private static readonly FsGeometry s_geometry = FsGeometry.For(CapacityBytes, logBlocks: 1024);
    private readonly byte[] _block = new byte[4096];

    /// <summary>CRC-32C of one 4 KiB block, one byte changed each time (baseline; ten times as
    /// many blocks as commits, so that one invocation is long enough to time).</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = BaselineBlocks)]
    public uint Crc32cOfBlock()
    {
        var crc = 0u;
        for (var i = 0; i < BaselineBlocks; i++)
        {
            _block[0] = (byte)i;
            crc ^= Crc32c.Compute(_block);
        }

        return crc;
    }

    /// <summary>One-block transactions, committed one after another.</summary>
    [Benchmark(OperationsPerInvoke = Commits)]
    public void Commit()
    {
        using var m = Machine.Create(new MachineOptions { Engine = EngineKind.Real, Cpus = 1, Lockdep = LockdepMode.Off });
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = CapacityBytes, Latency = LatencyModel.Constant(0) });
            var target = new BufTarget(disk, CompletionMode.Irq, s_geometry.BlockSize);
            FsJournal.Create(target, s_geometry);
            var journal = FsJournal.Recover(target, s_geometry);
            var block = s_geometry.DataStart;
            for (var i = 0; i < Commits; i++)
            {
                var tx = journal.Begin();
                Check(target.Read(block, null, out var bp), "read");
                tx.Join(bp!, releaseAtCommit: true);
                bp!.Data[0] = (byte)i;
                Check(tx.Commit(), "commit");
            }

            Check(journal.Checkpoint(), "checkpoint");
            if (journal.Commits != Commits)
            {
                throw new InvalidOperationException($"{journal.Commits} commits, expected {Commits}");
            }
        });
        if (m.Reports.Count != 0)
        {
            throw new InvalidOperationException("the benchmark machine reported: " + m.Reports[0].Text);
        }
    }

    private static void Check(Errno err, string what)
    {
        if (err != Errno.None)
        {
            throw new InvalidOperationException($"{what}: {err}");
        }
    }
}
