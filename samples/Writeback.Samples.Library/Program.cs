// The Writeback stack driven directly: two tasks each write 1 MiB to a new file in 4 KiB buffered
// writes and fsync it, with bios completing in interrupt context (irq, the default) or in task
// context (task, BIO_COMPLETE_IN_TASK). Arguments: [irq|task] [seed].
using System.Globalization;
using Writeback.Block;
using Writeback.Diagnostics;
using Writeback.Fs;
using Writeback.Kernel;
using Writeback.Mm;

var mode = args.Length > 0 ? args[0] : "irq";
ulong seed = 1;
if (mode is not ("irq" or "task") || (args.Length > 1 && !ulong.TryParse(args[1], CultureInfo.InvariantCulture, out seed)))
{
    Console.Error.WriteLine("usage: Writeback.Samples.Library [irq|task] [seed]");
    return 2;
}

var completion = mode == "task" ? CompletionMode.Task : CompletionMode.Irq;

// The deterministic engine: virtual time from a cost model, one seeded schedule. Lockdep reports
// what it finds and lets the run go on, as the kernel does.
using var machine = Machine.Create(new MachineOptions { Cpus = 4, Seed = seed, Lockdep = LockdepMode.Report });

var fsyncNs = new long[2];
FsStats? stats = null;
machine.Run(() =>
{
    // A block layer (blk-mq) and a 64 MiB RAM disk that completes each bio with an interrupt.
    var disk = new MemDisk(BlockLayer.Create(machine), new DiskOptions { CapacityBytes = 64L << 20 });

    // mkfs: superblock, free-space bitmap, inode table, empty log and root directory.
    FileSystem.Mkfs(disk, mode: completion);

    // The page cache; the completion mode decides the i_pages lock flavour (irq-safe or plain).
    var cache = PageCache.Create(machine, new PageCacheOptions { Mode = completion });

    // mount: read the superblock and recover the log; irq mode adds the xfs-conv and dio workqueues.
    if (FileSystem.Mount(disk, cache, out var fs, out var problem) != Errno.None)
    {
        throw new InvalidOperationException($"mount failed: {problem}");
    }

    var writers = new List<TaskStruct>();
    for (var w = 0; w < 2; w++)
    {
        var writer = w;
        writers.Add(machine.Spawn($"writer/{writer}", () =>
        {
            // open(O_CREAT): a new inode and a directory entry, logged in a transaction.
            Check(fs!.Open($"/file{writer}", OpenFlags.Create, out var file), "open");

            // write(2) x 256: reserve delalloc space, copy into dirty page-cache folios; no I/O yet.
            var buffer = new byte[4096];
            for (long pos = 0; pos < 1L << 20; pos += buffer.Length)
            {
                Check(file!.Write(pos, buffer, out _), "write");
            }

            // fsync(2): write back the dirty folios (delalloc becomes unwritten blocks; each
            // ioend's completion converts them and logs the new size), wait for writeback, log
            // the timestamps, then flush the disk's write cache.
            var start = machine.NowNs;
            Check(file!.Fsync(), "fsync");
            fsyncNs[writer] = machine.NowNs - start;
            Check(file.Close(), "close");
        }, cpu: writer + 1));
    }

    foreach (var writer in writers)
    {
        writer.WaitForExit();
    }

    stats = fs!.Stats;
});

Console.WriteLine($"mode {mode}, seed {seed}, 4 CPUs; times are modelled by the deterministic engine, not measured");
Console.WriteLine($"fsync latency: writer/0 {Us(fsyncNs[0])}, writer/1 {Us(fsyncNs[1])} (modelled)");
Console.WriteLine($"ioends {stats!.Ioends} (needing completion work {stats.IoendsWithCompletionWork}), " +
    $"xfs-conv work items {stats.ConvWorkqueueItems}, dio work items {stats.DioWorkqueueItems}");

// /proc/lock_stat: its header, then only the page cache's i_pages lock (row and contention points).
Console.WriteLine();
var lockStat = LockStatReport.Format(machine).Split('\n');
var header = lockStat.TakeWhile(line => line.Length > 0);
var pagesLock = lockStat.Where(line => line.Contains("i_pages", StringComparison.Ordinal));
foreach (var line in header.Concat(pagesLock))
{
    Console.WriteLine(line);
}

// The irqsoff tracer: the longest stretch any CPU ran with interrupts disabled.
Console.WriteLine();
Console.WriteLine(IrqsOffReport.Format(machine));

Console.WriteLine(machine.Reports.Count == 0 ? "lockdep: no reports" : $"lockdep: {machine.Reports[0].Title}");
return 0;

static void Check(Errno result, string what)
{
    if (result != Errno.None)
    {
        throw new InvalidOperationException($"{what} failed: {result}");
    }
}

static string Us(long ns) => (ns / 1000.0).ToString("0.00", CultureInfo.InvariantCulture) + " us";
