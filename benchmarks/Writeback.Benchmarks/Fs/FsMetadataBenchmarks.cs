using System.Globalization;
using BenchmarkDotNet.Attributes;
using Writeback.Block;
using Writeback.Fs;
using Writeback.Fs.Format;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Benchmarks.Fs;

/// <summary>Creating and then unlinking 100,000 files on a mounted Writeback filesystem
/// (<see cref="FsMount.Create"/>, <see cref="FsMount.Unlink"/>) on the real engine with one CPU,
/// against adding and removing the same names in a two-level dictionary tree in memory.</summary>
/// <remarks>Issue: "Create/unlink of 100,000 files". A directory lookup in this filesystem is a
/// linear scan of the directory's blocks (<see cref="Writeback.Fs.Dir.DirectoryBlocks"/>), and so
/// is inode allocation (the lowest free number is searched from 1), so the files go into 100
/// directories of 1,000 files each (<c>/d00/f000</c> … <c>/d99/f999</c>), filled one directory
/// after the other; then they are unlinked in the same order. Every create and every unlink is
/// one journal transaction whose commit is synchronous: a descriptor block, a copy of each block
/// it changed and a commit block written with a cache flush before it and FUA, each a bio waited
/// for; a checkpoint writes the logged blocks home whenever the log fills.
/// <para>The filesystem is 200 MiB with one inode per 2 KiB (102,400 inodes, so the 100,101 in
/// use fit; the default of one per 16 KiB would need a 1.6 GiB device) and a 800-block log; it is
/// made once, with its 100 directories, in <see cref="Setup"/>, and each invocation mounts a
/// fresh copy of that image on a <see cref="MemDisk"/> (which is sparse: only written blocks take
/// memory). Buffer completions use <see cref="CompletionMode.Irq"/>. The device's service time is
/// zero (<see cref="LatencyModel.Constant"/>), so the figures are the model's own cost per
/// operation; with a real device each commit would add the latency of its 4 to 6 sequential writes.</para>
/// <para>The mean is per operation (a create or an unlink: 200,000 per invocation); operations per
/// second is 1e9 / mean (ns). One machine run per invocation, and it includes mounting the copy,
/// which reads and verifies every inode: <see cref="MountOnly"/> measures that alone, divided by the
/// same 200,000, so it is the share of the <see cref="CreateUnlink"/> figure that is mount. An
/// invocation of <see cref="CreateUnlink"/> takes about half a minute, so there is no separate
/// warmup: BenchmarkDotNet's first (jitting) invocation is one full run, and three more are measured.</para></remarks>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 0, iterationCount: 3, invocationCount: 1)]
public class FsMetadataBenchmarks
{
    private const int Dirs = 100;
    private const int FilesPerDir = 1000;
    private const int Operations = 2 * Dirs * FilesPerDir;
    private const int BaselinePasses = 20;
    private const long CapacityBytes = 200L << 20;
    private const ulong BytesPerInode = 2048;
    private static readonly FsGeometry s_geometry = FsGeometry.For(CapacityBytes, bytesPerInode: BytesPerInode);
    private readonly string[] _dirNames = new string[Dirs];
    private readonly string[] _fileNames = new string[FilesPerDir];
    private readonly string[] _paths = new string[Dirs * FilesPerDir];
    private DiskImage? _image;

    /// <summary>Makes the names, and the filesystem image with its 100 empty directories.</summary>
    [GlobalSetup]
    public void Setup()
    {
        for (var d = 0; d < Dirs; d++)
        {
            _dirNames[d] = "d" + d.ToString("D2", CultureInfo.InvariantCulture);
        }

        for (var f = 0; f < FilesPerDir; f++)
        {
            _fileNames[f] = "f" + f.ToString("D3", CultureInfo.InvariantCulture);
        }

        for (var d = 0; d < Dirs; d++)
        {
            for (var f = 0; f < FilesPerDir; f++)
            {
                _paths[(d * FilesPerDir) + f] = "/" + _dirNames[d] + "/" + _fileNames[f];
            }
        }

        using var m = NewMachine();
        m.Run(() =>
        {
            var disk = new MemDisk(BlockLayer.Create(m), DiskOptions());
            Mkfs.Format(disk, s_geometry, Guid.Empty, CompletionMode.Irq);
            var fs = Mount(disk);
            foreach (var dir in _dirNames)
            {
                Check(fs.Mkdir("/" + dir), "mkdir", dir);
            }

            Check(fs.Unmount(), "unmount", "/");
            _image = disk.DurableImage();
        });
        CheckReports(m);
    }

    /// <summary>Adds and removes the same names in a dictionary per directory (baseline), 20 times
    /// over so that one invocation is long enough to time and to be compiled at full optimisation.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = BaselinePasses * Operations)]
    public int Dictionary()
    {
        var left = 0;
        for (var pass = 0; pass < BaselinePasses; pass++)
        {
            left += DictionaryPass();
        }

        return left;
    }

    /// <summary>Mounts a copy of the image, creates the 100,000 files, then unlinks them.</summary>
    [Benchmark(OperationsPerInvoke = Operations)]
    public void CreateUnlink() => MountAndRun(createUnlink: true);

    /// <summary>Mounts a copy of the image and nothing else: the mount's share of <see cref="CreateUnlink"/>.</summary>
    [Benchmark(OperationsPerInvoke = Operations)]
    public void MountOnly() => MountAndRun(createUnlink: false);

    private int DictionaryPass()
    {
        var root = new Dictionary<string, Dictionary<string, ulong>>(StringComparer.Ordinal);
        foreach (var dir in _dirNames)
        {
            root.Add(dir, new Dictionary<string, ulong>(StringComparer.Ordinal));
        }

        var ino = (ulong)Dirs + 1;
        foreach (var dir in _dirNames)
        {
            foreach (var name in _fileNames)
            {
                root[dir].Add(name, ++ino);
            }
        }

        var left = 0;
        foreach (var dir in _dirNames)
        {
            foreach (var name in _fileNames)
            {
                root[dir].Remove(name);
            }

            left += root[dir].Count;
        }

        return left;
    }

    private void MountAndRun(bool createUnlink)
    {
        using var m = NewMachine();
        m.Run(() =>
        {
            var fs = Mount(new MemDisk(BlockLayer.Create(m), DiskOptions(), _image));
            if (!createUnlink)
            {
                return;
            }

            foreach (var path in _paths)
            {
                Check(fs.Create(path), "create", path);
            }

            foreach (var path in _paths)
            {
                Check(fs.Unlink(path), "unlink", path);
            }

            if (fs.Inodes.Used != Dirs + 1)
            {
                throw new InvalidOperationException($"{fs.Inodes.Used} inodes in use after the unlinks, expected {Dirs + 1}");
            }
        });
        CheckReports(m);
    }

    private static Machine NewMachine() =>
        Machine.Create(new MachineOptions { Engine = EngineKind.Real, Cpus = 1, Lockdep = LockdepMode.Off });

    private static DiskOptions DiskOptions() => new() { CapacityBytes = CapacityBytes, Latency = LatencyModel.Constant(0) };

    private static FsMount Mount(MemDisk disk)
    {
        if (FsMount.Mount(disk, CompletionMode.Irq, out var fs, out var problem) != Errno.None)
        {
            throw new InvalidOperationException("mount failed: " + problem);
        }

        return fs!;
    }

    private static void Check(Errno err, string op, string path)
    {
        if (err != Errno.None)
        {
            throw new InvalidOperationException($"{op} {path}: {err}");
        }
    }

    private static void CheckReports(Machine m)
    {
        if (m.Reports.Count != 0)
        {
            throw new InvalidOperationException("the benchmark machine reported: " + m.Reports[0].Text);
        }
    }
}
