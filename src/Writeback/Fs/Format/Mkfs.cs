using Writeback.Block;
using Writeback.Fs.Buffer;
using Writeback.Kernel;

namespace Writeback.Fs.Format;

/// <summary>Making a Writeback filesystem, and reading back what a device holds.</summary>
/// <remarks>Model: mkfs writes the superblock, a free-space bitmap with the metadata blocks
/// marked used, and zeroed journal and inode-table blocks, through the buffer cache, flushes the
/// device's cache, and writes an empty journal.</remarks>
public static class Mkfs
{
    /// <summary>The root directory's mode: S_IFDIR | 0755.</summary>
    public const ushort RootMode = 0x41ED;

    /// <summary>Formats <paramref name="device"/> with <paramref name="geometry"/>; returns the superblock written.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    /// <exception cref="ArgumentOutOfRangeException">The geometry does not fit the device.</exception>
    public static Superblock Format(BlockDevice device, FsGeometry geometry, Guid uuid, Writeback.Mm.CompletionMode mode = Writeback.Mm.CompletionMode.Irq)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(geometry);
        if (geometry.Blocks * (ulong)geometry.BlockSize > device.CapacitySectors * BlockDevice.SectorSize)
        {
            throw new ArgumentOutOfRangeException(nameof(geometry), geometry.Blocks, $"mkfs: {geometry.Blocks} blocks of {geometry.BlockSize} bytes do not fit {device.Name} ({device.CapacitySectors * BlockDevice.SectorSize} bytes)");
        }

        var target = new BufTarget(device, mode, geometry.BlockSize);
        var sb = new Superblock { Geometry = geometry, Uuid = uuid };
        for (var b = geometry.LogStart; b < geometry.DataStart; b++)
        {
            var bp = target.Get(b);
            Array.Clear(bp.Data);
            if (b >= geometry.BitmapStart && b < geometry.BitmapStart + geometry.BitmapBlocks)
            {
                MarkUsed(bp.Data, b - geometry.BitmapStart, geometry);
            }

            bp.MarkDirty();
            bp.Relse();
        }

        var sbBuf = target.Get(0);
        Array.Clear(sbBuf.Data);
        sb.Encode(sbBuf.Data);
        sbBuf.MarkDirty();
        sbBuf.Relse();
        var err = target.FlushDirty();
        if (err == Errno.None)
        {
            err = Flush(device);
        }

        if (err != Errno.None)
        {
            throw new IOException($"mkfs: writing {device.Name} failed: {err}");
        }

        // An empty journal: its header names where the first transaction will go. Then the root
        // directory, inode 1, through the journal like every later change.
        Writeback.Fs.Journal.Journal.Create(target, geometry);
        var journal = Writeback.Fs.Journal.Journal.Recover(target, geometry);
        var inodes = Writeback.Fs.Inode.InodeTable.Open(target, geometry);
        var tx = journal.Begin();
        if (inodes.Allocate(tx, RootMode, 0, out var root) != Errno.None || root!.Number != sb.RootInode)
        {
            throw new IOException("mkfs: the root directory did not get inode 1");
        }

        inodes.Write(tx, root with { Nlink = 2 });
        if (tx.Commit() is var committed && committed != Errno.None || journal.Checkpoint() is var cp && cp != Errno.None)
        {
            throw new IOException($"mkfs: writing the root directory to {device.Name} failed");
        }

        return sb;
    }

    /// <summary>Reads and checks the superblock of <paramref name="device"/>.</summary>
    /// <returns><see cref="Errno.None"/> with the superblock, or the error and, in
    /// <paramref name="problem"/>, a sentence naming what is wrong.</returns>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public static Errno ReadSuperblock(BlockDevice device, out Superblock? superblock, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(device);
        var block = new byte[BlockDevice.SectorSize];
        var bio = new Bio(device, BioOp.Read, BioOpFlags.Meta);
        bio.AddVec(block);
        if (bio.SubmitWait() is var read && read != Errno.None)
        {
            superblock = null;
            problem = $"{device.Name}: reading the superblock failed ({bio.Status})";
            return read;
        }

        var err = Superblock.Decode(block, out superblock, out problem);
        if (err == Errno.None && superblock!.Geometry.Blocks * (ulong)superblock.Geometry.BlockSize > device.CapacitySectors * BlockDevice.SectorSize)
        {
            problem = $"{device.Name}: the filesystem's {superblock.Geometry.Blocks} blocks of {superblock.Geometry.BlockSize} bytes do not fit the device ({device.CapacitySectors * BlockDevice.SectorSize} bytes)";
            superblock = null;
            return Errno.EUCLEAN;
        }

        if (problem is not null)
        {
            problem = $"{device.Name}: {problem}";
        }

        return err;
    }

    private static void MarkUsed(byte[] bitmapBlock, ulong bitmapIndex, FsGeometry g)
    {
        var bitsPerBlock = (ulong)g.BlockSize * 8;
        var first = bitmapIndex * bitsPerBlock;
        for (var bit = first; bit < first + bitsPerBlock && bit < g.DataStart; bit++)
        {
            var local = bit - first;
            bitmapBlock[local / 8] |= (byte)(1 << (int)(local % 8));
        }
    }

    private static Errno Flush(BlockDevice device) => new Bio(device, BioOp.Flush).SubmitWait();
}
