using System.Buffers.Binary;
using System.Text;
using Writeback.Fs.Alloc;
using Writeback.Fs.Buffer;
using Writeback.Fs.Format;
using Writeback.Fs.Inode;
using Writeback.Fs.Journal;
using Writeback.Kernel;

namespace Writeback.Fs.Dir;

/// <summary>The entries of a directory: name → inode number, packed in the directory's data
/// blocks, read and changed inside transactions.</summary>
/// <remarks>Kernel: the role of XFS's directory blocks, in the simplest form: each block holds
/// records of [inode number (8 bytes), name length (1 byte), name (UTF-8)] one after another; a
/// record with inode 0 and length 0 ends the block; a removed entry keeps its space with inode 0
/// (a tombstone) until the block is rewritten. A new entry goes at the end of the last block with
/// room, or into a newly allocated block mapped at the end of the directory.</remarks>
public sealed class DirectoryBlocks(BufTarget target, FsGeometry geometry, InodeTable inodes, BlockAllocator allocator)
{
    /// <summary>The longest name in bytes (NAME_MAX).</summary>
    public const int NameMax = 255;

    /// <summary>The inode number <paramref name="name"/> maps to in <paramref name="dir"/>, or <see cref="Errno.ENOENT"/>.</summary>
    public Errno Lookup(DiskInode dir, string name, out ulong ino, Transaction? tx = null)
    {
        ArgumentNullException.ThrowIfNull(dir);
        ino = 0;
        var err = CheckName(name);
        if (err != Errno.None)
        {
            return err;
        }

        var found = Find(dir, name, tx);
        ino = found?.Ino ?? 0;
        return found is null ? Errno.ENOENT : Errno.None;
    }

    /// <summary>The live entries of <paramref name="dir"/>, in storage order.</summary>
    public IReadOnlyList<(string Name, ulong Ino)> List(DiskInode dir, Transaction? tx = null)
    {
        ArgumentNullException.ThrowIfNull(dir);
        var found = new List<(string, ulong)>();
        Scan(dir, tx, (data, _, at, ino) =>
        {
            found.Add((Encoding.UTF8.GetString(data, at + 9, data[at + 8]), ino));
            return false;
        });
        return found;
    }

    /// <summary>Whether <paramref name="dir"/> has no live entries.</summary>
    public bool IsEmpty(DiskInode dir, Transaction? tx = null)
    {
        ArgumentNullException.ThrowIfNull(dir);
        return !Scan(dir, tx, (_, _, _, _) => true);
    }

    /// <summary>Adds <paramref name="name"/> → <paramref name="ino"/>; returns the directory inode as
    /// changed (its size and extents), or <see cref="Errno.EEXIST"/>, <see cref="Errno.ENAMETOOLONG"/>, <see cref="Errno.ENOSPC"/>.</summary>
    public Errno Add(Transaction tx, DiskInode dir, string name, ulong ino, out DiskInode changed)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(dir);
        changed = dir;
        var err = CheckName(name);
        if (err != Errno.None)
        {
            return err;
        }

        if (Lookup(dir, name, out _, tx) == Errno.None)
        {
            return Errno.EEXIST;
        }

        var record = Record(name, ino);
        foreach (var block in DataBlocks(dir))
        {
            // Look without joining: only the block that takes the entry joins the transaction.
            var joined = tx.Joined(block);
            var peek = joined ?? ReadBlock(block);
            var room = UsedLength(peek.Data) + record.Length + 9 <= peek.Data.Length;
            if (joined is null)
            {
                peek.Relse();
            }

            if (room)
            {
                var bp = Buffer(tx, block);
                record.CopyTo(bp.Data, UsedLength(bp.Data));
                return Errno.None;
            }
        }

        var fileBlock = (ulong)(dir.FileSize / geometry.BlockSize);
        var goal = dir.Extents.Count > 0 ? dir.Extents[^1].DiskBlock + dir.Extents[^1].Length : geometry.DataStart;
        err = allocator.Allocate(tx, 1, goal, out var disk, out _);
        if (err != Errno.None)
        {
            return err;
        }

        var extents = dir.Extents.ToList();
        if (extents.Count > 0 && extents[^1].DiskBlock + extents[^1].Length == disk && extents[^1].FileEnd == fileBlock)
        {
            extents[^1] = extents[^1] with { Length = extents[^1].Length + 1 };
        }
        else if (extents.Count == inodes.MaxExtentsPerInode)
        {
            allocator.Free(tx, disk, 1, metadata: true);
            return Errno.ENOSPC;
        }
        else
        {
            extents.Add(new Extent(fileBlock, disk, 1, ExtentState.Written));
        }

        var fresh = Buffer(tx, disk, read: false);
        Array.Clear(fresh.Data);
        record.CopyTo(fresh.Data, 0);

        changed = inodes.Write(tx, dir with { FileSize = dir.FileSize + geometry.BlockSize, Extents = extents });
        return Errno.None;
    }

    /// <summary>Removes <paramref name="name"/>, or returns <see cref="Errno.ENOENT"/>.</summary>
    public Errno Remove(Transaction tx, DiskInode dir, string name)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(dir);
        var err = CheckName(name);
        if (err != Errno.None)
        {
            return err;
        }

        if (Find(dir, name, tx) is not { } found)
        {
            return Errno.ENOENT;
        }

        BinaryPrimitives.WriteUInt64LittleEndian(Buffer(tx, found.Block).Data.AsSpan(found.Offset), 0);
        return Errno.None;
    }

    // The live entry called `name`: compared as UTF-8 bytes in place, nothing decoded.
    private (ulong Ino, ulong Block, int Offset)? Find(DiskInode dir, string name, Transaction? tx)
    {
        var wanted = Encoding.UTF8.GetBytes(name);
        (ulong, ulong, int)? found = null;
        Scan(dir, tx, (data, block, at, ino) =>
        {
            if (data[at + 8] != wanted.Length || !data.AsSpan(at + 9, wanted.Length).SequenceEqual(wanted))
            {
                return false;
            }

            found = (ino, block, at);
            return true;
        });
        return found;
    }

    private static Errno CheckName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (Encoding.UTF8.GetByteCount(name) > NameMax)
        {
            return Errno.ENAMETOOLONG;
        }

        return name.Length == 0 || name.Contains('/', StringComparison.Ordinal) || name is "." or ".." ? Errno.EINVAL : Errno.None;
    }

    private static byte[] Record(string name, ulong ino)
    {
        var bytes = Encoding.UTF8.GetBytes(name);
        var record = new byte[9 + bytes.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(record, ino);
        record[8] = (byte)bytes.Length;
        bytes.CopyTo(record, 9);
        return record;
    }

    private static int UsedLength(byte[] block)
    {
        var at = 0;
        while (at + 9 <= block.Length)
        {
            var ino = BinaryPrimitives.ReadUInt64LittleEndian(block.AsSpan(at));
            var len = block[at + 8];
            if (ino == 0 && len == 0)
            {
                break;
            }

            at += 9 + len;
        }

        return at;
    }

    private IEnumerable<ulong> DataBlocks(DiskInode dir) =>
        dir.Extents.SelectMany(e => Enumerable.Range(0, (int)e.Length).Select(i => e.DiskBlock + (ulong)i));

    // Calls visit(block bytes, block number, record offset, inode) for each live entry until it returns true;
    // returns whether one did.
    private bool Scan(DiskInode dir, Transaction? tx, Func<byte[], ulong, int, ulong, bool> visit)
    {
        foreach (var block in DataBlocks(dir))
        {
            var joined = tx?.Joined(block);
            var bp = joined ?? ReadBlock(block);
            var data = bp.Data;
            var end = UsedLength(data);
            var stop = false;
            for (var at = 0; at < end && !stop; at += 9 + data[at + 8])
            {
                var ino = BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(at));
                stop = ino != 0 && visit(data, block, at, ino);
            }

            if (joined is null)
            {
                bp.Relse();
            }

            if (stop)
            {
                return true;
            }
        }

        return false;
    }

    private XfsBuf ReadBlock(ulong block)
    {
        if (target.Read(block, null, out var bp) is var err && err != Errno.None)
        {
            throw new IOException($"directory: reading block {block} failed: {err}");
        }

        return bp!;
    }

    private XfsBuf Buffer(Transaction tx, ulong block, bool read = true)
    {
        if (tx.Joined(block) is { } joined)
        {
            return joined;
        }

        var bp = read ? ReadBlock(block) : target.Get(block);
        tx.Join(bp, releaseAtCommit: true);
        return bp;
    }
}
