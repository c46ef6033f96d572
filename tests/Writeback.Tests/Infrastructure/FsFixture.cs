using Writeback.Block;
using Writeback.Fs;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Tests.Infrastructure;

/// <summary>A fresh filesystem with a page cache, and test data, for the file-API tests.</summary>
public static class FsFixture
{
    /// <summary>Makes and mounts a filesystem on a new MemDisk of <paramref name="capacityBytes"/>;
    /// call inside the machine's run. <paramref name="cacheOptions"/> defaults to the mode's defaults.</summary>
    public static (MemDisk Disk, PageCache Cache, FileSystem Fs) Fresh(Machine m, CompletionMode mode, long capacityBytes = 32L << 20, PageCacheOptions? cacheOptions = null)
    {
        var disk = new MemDisk(BlockLayer.Create(m), new DiskOptions { CapacityBytes = capacityBytes });
        FileSystem.Mkfs(disk, mode: mode);
        var cache = PageCache.Create(m, cacheOptions ?? new PageCacheOptions { Mode = mode });
        Assert.Equal(Errno.None, FileSystem.Mount(disk, cache, out var fs, out var problem));
        Assert.Null(problem);
        return (disk, cache, fs!);
    }

    /// <summary>Recognisable bytes: different per seed and per offset, repeating only every 256 × 4 KiB.</summary>
    public static byte[] Pattern(int seed, int length)
    {
        var data = new byte[length];
        for (var i = 0; i < length; i++)
        {
            data[i] = (byte)((i * 31) + (seed * 7) + (i >> 12));
        }

        return data;
    }
}
