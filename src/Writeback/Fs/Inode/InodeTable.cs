using Writeback.Fs.Buffer;
using Writeback.Fs.Format;
using Writeback.Fs.Journal;
using Writeback.Kernel;

namespace Writeback.Fs.Inode;

/// <summary>The on-disk inode table: reading inodes (verified) and allocating, writing and
/// freeing them inside transactions.</summary>
/// <remarks>Kernel: the role of XFS's inode chunks and xfs_imap/xfs_iread. Inode n lives in
/// block InodeStart + n / (inodes per block). Inode 0 is never used; the root directory is
/// inode 1. An in-memory copy of which numbers are in use, read at open, answers allocation.</remarks>
public sealed class InodeTable
{
    private readonly BufTarget _target;
    private readonly FsGeometry _g;
    private readonly System.Collections.BitArray _used;

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
        if (tx?.Joined(BlockOf(number)) is { } joined)
        {
            return DiskInode.Decode(joined.Data.AsSpan(OffsetOf(number)), number, out inode, out problem);
        }

        var err = _target.Read(BlockOf(number), null, out var bp);
        if (err != Errno.None)
        {
            problem = $"inode {number}: reading its block failed ({err})";
            return err;
        }

        err = DiskInode.Decode(bp!.Data.AsSpan(OffsetOf(number)), number, out inode, out problem);
        bp.Relse();
        return err;
    }

    /// <summary>Takes the lowest free inode number and writes a new inode of <paramref name="mode"/> there.</summary>
    /// <returns><see cref="Errno.ENOSPC"/> when every inode is in use.</returns>
    public Errno Allocate(Transaction tx, ushort mode, long nowNs, out DiskInode? inode)
    {
        ArgumentNullException.ThrowIfNull(tx);
        inode = null;
        for (ulong ino = 1; ino < _g.Inodes; ino++)
        {
            if (!_used[(int)ino])
            {
                inode = new DiskInode { Number = ino, Mode = mode, Nlink = 1, Generation = 1, AtimeNs = nowNs, MtimeNs = nowNs, CtimeNs = nowNs };
                _used[(int)ino] = true;
                Used++;
                Write(tx, inode);
                return Errno.None;
            }
        }

        return Errno.ENOSPC;
    }

    /// <summary>Writes <paramref name="inode"/> into its slot, in <paramref name="tx"/>.</summary>
    public void Write(Transaction tx, DiskInode inode)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(inode);
        CheckNumber(inode.Number);
        inode.Encode(Joined(tx, BlockOf(inode.Number)).Data.AsSpan(OffsetOf(inode.Number)));
    }

    /// <summary>Frees inode <paramref name="number"/>: its slot becomes zero.</summary>
    /// <exception cref="KernelBugException">The inode is already free.</exception>
    public void Free(Transaction tx, ulong number)
    {
        ArgumentNullException.ThrowIfNull(tx);
        CheckNumber(number);
        if (!_used[(int)number])
        {
            Bug.Fail($"inode table: freeing inode {number}, which is free");
        }

        Joined(tx, BlockOf(number)).Data.AsSpan(OffsetOf(number), DiskInode.Size).Clear();
        _used[(int)number] = false;
        Used--;
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
