using Writeback.Fs.Alloc;
using Writeback.Fs.Buffer;
using Writeback.Fs.Format;
using Writeback.Fs.Journal;
using Writeback.Kernel;

namespace Writeback.Fs.Inode;

/// <summary>The on-disk inode table: reading inodes (verified) and allocating, writing and
/// freeing them inside transactions.</summary>
/// <remarks>Kernel: the role of XFS's inode chunks and xfs_imap/xfs_iread. Inode n lives in
/// block InodeStart + n / (inodes per block). Inode 0 is never used; the root directory is
/// inode 1. An in-memory copy of which numbers are in use, read at open, answers allocation.
/// An inode with more than <see cref="DiskInode.MaxExtents"/> extents keeps them in
/// <see cref="ExtentBlock"/>s, which <see cref="Write"/> allocates, rewrites (only those whose
/// contents change) and frees, and <see cref="Read"/> reads and verifies.</remarks>
public sealed class InodeTable
{
    private readonly BufTarget _target;
    private readonly FsGeometry _g;
    private readonly System.Collections.BitArray _used;
    private ulong _lowestFree = 1;

    private InodeTable(BufTarget target, FsGeometry geometry)
    {
        _target = target;
        _g = geometry;
        _used = new System.Collections.BitArray(checked((int)geometry.Inodes));
    }

    /// <summary>Inodes in use.</summary>
    public int Used { get; private set; }

    /// <summary>The numbers of the inodes in use, ascending.</summary>
    public IEnumerable<ulong> UsedNumbers
    {
        get
        {
            for (ulong ino = 1; ino < _g.Inodes; ino++)
            {
                if (_used[(int)ino])
                {
                    yield return ino;
                }
            }
        }
    }

    /// <summary>Extents one inode can have: its extent blocks are bounded by what one
    /// transaction may change, with room left for the inode, bitmap and directory blocks.</summary>
    public int MaxExtentsPerInode => Math.Max(DiskInode.MaxExtents, MaxExtentBlocks * ExtentBlock.PerBlock(_g.BlockSize));

    /// <summary>Extent blocks one inode may have on this filesystem.</summary>
    public int MaxExtentBlocks => Math.Clamp(Journal.Journal.MaxBlocksFor(_g) - 12, 1, DiskInode.MaxExtentBlocks);

    /// <summary>Extent blocks an inode with <paramref name="extents"/> extents needs.</summary>
    public int ExtentBlocksFor(int extents)
    {
        var per = ExtentBlock.PerBlock(_g.BlockSize);
        return extents <= DiskInode.MaxExtents ? 0 : (extents + per - 1) / per;
    }

    /// <summary>Where extent blocks come from (set at mount; mkfs needs none).</summary>
    public BlockAllocator? Allocator { get; set; }

    private ulong PerBlock => (ulong)(_g.BlockSize / DiskInode.Size);

    /// <summary>Opens the table of a mounted filesystem.</summary>
    /// <exception cref="InvalidDataException">The geometry's inode size is not this format's, or an inode fails verification.</exception>
    public static InodeTable Open(BufTarget target, FsGeometry geometry)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(geometry);
        if (geometry.InodeSize != DiskInode.Size)
        {
            throw new InvalidDataException($"inode table: inodes of {geometry.InodeSize} bytes, this format uses {DiskInode.Size}");
        }

        var table = new InodeTable(target, geometry);
        for (ulong ino = 1; ino < geometry.Inodes; ino++)
        {
            if (table.Read(ino, out var inode, out var problem) is var err && err != Errno.None)
            {
                throw new InvalidDataException(problem);
            }

            if (inode is not null)
            {
                table._used[(int)ino] = true;
                table.Used++;
            }
        }

        return table;
    }

    /// <summary>Reads inode <paramref name="number"/>: null if it is free. Inside a transaction
    /// that holds the inode's block, pass it as <paramref name="tx"/> to read what it wrote.</summary>
    public Errno Read(ulong number, out DiskInode? inode, out string? problem, Transaction? tx = null)
    {
        CheckNumber(number);
        inode = null;
        var err = ReadBlock(BlockOf(number), tx, out var data, out var held);
        if (err != Errno.None)
        {
            problem = $"inode {number}: reading its block failed ({err})";
            return err;
        }

        err = DiskInode.Decode(data.AsSpan(OffsetOf(number)), number, out inode, out problem);
        held?.Relse();
        if (err != Errno.None || inode is null || inode.ExtentBlocks.Count == 0)
        {
            return err;
        }

        var extents = new List<Extent>(inode.StoredExtentCount);
        for (var i = 0; i < inode.ExtentBlocks.Count && err == Errno.None; i++)
        {
            err = ReadBlock(inode.ExtentBlocks[i], tx, out data, out held);
            if (err != Errno.None)
            {
                problem = $"inode {number}: reading extent block {inode.ExtentBlocks[i]} failed ({err})";
                break;
            }

            err = ExtentBlock.Decode(data, number, i, extents, out problem);
            held?.Relse();
        }

        if (err == Errno.None && extents.Count != inode.StoredExtentCount)
        {
            problem = $"inode {number}: its extent blocks hold {extents.Count} extents, the inode says {inode.StoredExtentCount}";
            err = Errno.EUCLEAN;
        }

        if (err != Errno.None)
        {
            inode = null;
            return err;
        }

        inode = inode with { Extents = extents };
        return Errno.None;
    }

    /// <summary>Takes the lowest free inode number and writes a new inode of <paramref name="mode"/> there.</summary>
    /// <returns><see cref="Errno.ENOSPC"/> when every inode is in use.</returns>
    public Errno Allocate(Transaction tx, ushort mode, long nowNs, out DiskInode? inode)
    {
        ArgumentNullException.ThrowIfNull(tx);
        inode = null;
        for (var ino = _lowestFree; ino < _g.Inodes; ino++)
        {
            if (!_used[(int)ino])
            {
                _lowestFree = ino + 1;
                inode = new DiskInode { Number = ino, Mode = mode, Nlink = 1, Generation = 1, AtimeNs = nowNs, MtimeNs = nowNs, CtimeNs = nowNs };
                _used[(int)ino] = true;
                Used++;
                Write(tx, inode);
                return Errno.None;
            }
        }

        return Errno.ENOSPC;
    }

    /// <summary>Writes <paramref name="inode"/> into its slot, and its extents into extent blocks
    /// when they do not fit the inode, in <paramref name="tx"/>; returns the record as written
    /// (with its extent blocks).</summary>
    /// <exception cref="InvalidOperationException">More extents than <see cref="MaxExtentsPerInode"/>
    /// (callers check first), or no block left for an extent block even in the set-aside pool.</exception>
    public DiskInode Write(Transaction tx, DiskInode inode)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(inode);
        CheckNumber(inode.Number);
        if (inode.Extents.Count > MaxExtentsPerInode)
        {
            throw new InvalidOperationException($"inode {inode.Number}: {inode.Extents.Count} extents, at most {MaxExtentsPerInode} fit");
        }

        var slot = Joined(tx, BlockOf(inode.Number));
        var written = inode with { ExtentBlocks = WriteExtentBlocks(tx, inode) };
        written.Encode(slot.Data.AsSpan(OffsetOf(inode.Number)));
        return written;
    }

    /// <summary>Frees inode <paramref name="number"/> and its extent blocks: its slot becomes zero.</summary>
    /// <exception cref="KernelBugException">The inode is already free.</exception>
    public void Free(Transaction tx, ulong number)
    {
        ArgumentNullException.ThrowIfNull(tx);
        CheckNumber(number);
        if (!_used[(int)number])
        {
            Bug.Fail($"inode table: freeing inode {number}, which is free");
        }

        if (Read(number, out var inode, out _, tx) == Errno.None && inode is not null)
        {
            foreach (var block in inode.ExtentBlocks)
            {
                RequireAllocator().Free(tx, block, 1, metadata: true);
            }
        }

        Joined(tx, BlockOf(number)).Data.AsSpan(OffsetOf(number), DiskInode.Size).Clear();
        _used[(int)number] = false;
        _lowestFree = Math.Min(_lowestFree, number);
        Used--;
    }

    private List<ulong> WriteExtentBlocks(Transaction tx, DiskInode inode)
    {
        var per = ExtentBlock.PerBlock(_g.BlockSize);
        var count = inode.Extents.Count;
        var needed = ExtentBlocksFor(count);
        var blocks = inode.ExtentBlocks.ToList();
        while (blocks.Count > needed)
        {
            RequireAllocator().Free(tx, blocks[^1], 1, metadata: true);
            blocks.RemoveAt(blocks.Count - 1);
        }

        var fresh = new HashSet<ulong>();
        while (blocks.Count < needed)
        {
            var goal = blocks.Count > 0 ? blocks[^1] + 1 : BlockOf(inode.Number);
            if (RequireAllocator().Allocate(tx, 1, goal, out var block, out _, AllocKind.Metadata) != Errno.None)
            {
                throw new InvalidOperationException($"inode {inode.Number}: no space for an extent block, even in the set-aside pool");
            }

            blocks.Add(block);
            fresh.Add(block);
        }

        var extents = inode.Extents as Extent[] ?? [.. inode.Extents];
        var image = new byte[_g.BlockSize];
        for (var i = 0; i < blocks.Count; i++)
        {
            ExtentBlock.Encode(image, inode.Number, i, extents.AsSpan(i * per, Math.Min(per, count - (i * per))));
            var joined = tx.Joined(blocks[i]);
            if (joined is null && !fresh.Contains(blocks[i]))
            {
                // Join only the blocks whose contents change: an append touches the last one.
                if (_target.Read(blocks[i], null, out var current) is var err && err != Errno.None)
                {
                    throw new IOException($"inode {inode.Number}: reading extent block {blocks[i]} failed: {err}");
                }

                if (current!.Data.AsSpan().SequenceEqual(image))
                {
                    current.Relse();
                    continue;
                }

                tx.Join(current, releaseAtCommit: true);
                joined = current;
            }

            if (joined is null)
            {
                joined = _target.Get(blocks[i]);
                tx.Join(joined, releaseAtCommit: true);
            }

            image.CopyTo(joined.Data, 0);
        }

        return blocks;
    }

    private BlockAllocator RequireAllocator() =>
        Allocator ?? throw new InvalidOperationException("inode table: extent blocks need the allocator, which is set at mount");

    // The block's bytes: the transaction's copy if it has joined it, else the cache's (then
    // held, to be released by the caller).
    private Errno ReadBlock(ulong block, Transaction? tx, out byte[] data, out XfsBuf? held)
    {
        held = null;
        if (tx?.Joined(block) is { } joined)
        {
            data = joined.Data;
            return Errno.None;
        }

        var err = _target.Read(block, null, out held);
        data = held?.Data ?? [];
        return err;
    }

    private XfsBuf Joined(Transaction tx, ulong block)
    {
        if (tx.Joined(block) is { } joined)
        {
            return joined;
        }

        if (_target.Read(block, null, out var bp) is var err && err != Errno.None)
        {
            throw new IOException($"inode table: reading block {block} failed: {err}");
        }

        tx.Join(bp!, releaseAtCommit: true);
        return bp!;
    }

    private ulong BlockOf(ulong number) => _g.InodeStart + (number / PerBlock);

    private int OffsetOf(ulong number) => (int)(number % PerBlock) * DiskInode.Size;

    private void CheckNumber(ulong number)
    {
        if (number == 0 || number >= _g.Inodes)
        {
            throw new ArgumentOutOfRangeException(nameof(number), number, $"inode numbers run from 1 to {_g.Inodes - 1}");
        }
    }
}
