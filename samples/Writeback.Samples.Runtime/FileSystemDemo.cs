using System.Threading;
using Writeback.Block;
using Writeback.Fs;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Samples.Runtime;

/// <summary>The filesystem half of the design: two writers append to their own files through
/// the page cache (new blocks, so every ioend needs an unwritten conversion and a size update),
/// a third issues asynchronous direct writes into a hole, then everything is fsynced. Where the
/// completion work runs is the difference between the designs.</summary>
internal sealed class FileSystemDemo(Machine machine, CompletionMode mode, int pages)
{
    public CompletionMode Mode => mode;

    public FsStats? Stats { get; private set; }

    public long FsyncNs { get; private set; }

    public Errno Result { get; private set; } = Errno.EIO;

    /// <summary>Runs the workload; call inside <see cref="Machine.Run"/>.</summary>
    public void Main()
    {
        var disk = new MemDisk(BlockLayer.Create(machine), new DiskOptions { CapacityBytes = 64L << 20, Affinity = IrqAffinity.RoundRobin });
        FileSystem.Mkfs(disk, mode: mode);
        var cache = PageCache.Create(machine, new PageCacheOptions { Mode = mode });
        if (FileSystem.Mount(disk, cache, out var fs, out var problem) != Errno.None)
        {
            throw new InvalidOperationException(problem);
        }

        var data = new byte[4096];
        var results = new Errno[3];
        var tasks = Enumerable.Range(0, 2).Select(w => machine.Spawn($"writer/{w}", () =>
        {
            fs!.Open($"/file{w}", OpenFlags.Create, out var f);
            for (var p = 0; p < pages && results[w] == Errno.None; p++)
            {
                results[w] = f!.Write((long)p * data.Length, data, out _);
            }

            f!.Close();
        }, w)).ToList();
        tasks.Add(machine.Spawn("aio", () =>
        {
            fs!.Open("/direct", OpenFlags.Create | OpenFlags.Direct, out var f);
            var done = new Completion();
            var left = pages / 4;
            for (var p = 0; p < pages / 4 && results[2] == Errno.None; p++)
            {
                results[2] = f!.WriteDirectAsync((long)p * data.Length, data, (e, _) =>
                {
                    if (Interlocked.Decrement(ref left) == 0)
                    {
                        done.Complete();
                    }
                });
            }

            if (pages / 4 > 0)
            {
                done.WaitForCompletion();
            }

            f!.Close();
        }, 1));
        foreach (var t in tasks)
        {
            t.WaitForExit();
        }

        var start = machine.NowNs;
        var synced = fs!.Sync();
        FsyncNs = machine.NowNs - start;
        Result = results.FirstOrDefault(e => e != Errno.None, synced);
        Stats = fs.Stats;
    }
}
