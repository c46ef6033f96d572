using Writeback.Block;
using Writeback.Fs.Alloc;
using Writeback.Fs.Buffer;
using Writeback.Fs.Dir;
using Writeback.Fs.Format;
using Writeback.Fs.Inode;
using Writeback.Fs.Journal;
using Writeback.Kernel;
using Writeback.Mm;

namespace Writeback.Fs;

/// <summary>A mounted Writeback filesystem: the namespace operations, each one transaction.</summary>
/// <remarks>Kernel: the roles of struct xfs_mount and the VFS namespace calls (lookup, create,
/// mkdir, unlink, rmdir, rename, link, readdir), and the inode cache (xfs_iget, xfs_irele) of
/// regular files' in-core inodes (<see cref="XfsInode"/>). Mount reads the superblock, recovers
/// the journal, opens the inode table and the allocator, and frees the inodes that were
/// unlinked while open when the system went down (XFS's unlinked-list recovery). A file whose
/// last name goes while it is held keeps its blocks until the last <see cref="Irele"/>.
/// <para>Shutdown (xfs_force_shutdown): when a log write or a checkpoint fails, or on request
/// (<see cref="ForceShutdown"/>), the filesystem stops: every namespace operation, lookup and
/// <see cref="Iget"/> returns <see cref="Errno.EIO"/>, no transaction starts, an unlinked file's
/// last <see cref="Irele"/> frees nothing (mount's orphan recovery will), and
/// <see cref="Unmount"/> writes nothing and drops every cached inode and buffer.</para>
/// Model: one mutex serialises namespace changes (the kernel locks the directories involved);
/// paths are absolute, '/'-separated; directories are not cached in-core — their inode records
/// are the authority.</remarks>
public sealed class FsMount
{
    /// <summary>A regular file's default mode: S_IFREG | 0644.</summary>
    public const ushort FileMode = 0x81A4;

    private static readonly LockClassKey s_nsKey = LockClassKey.ForName("&sb->s_namespace");
    private static readonly LockClassKey s_icacheKey = LockClassKey.ForName("&mp->m_icache_lock");
    private readonly Writeback.Kernel.Mutex _ns = new(s_nsKey);
    private readonly Writeback.Kernel.SpinLock _icacheLock = new(s_icacheKey);
    private readonly Dictionary<ulong, XfsInode> _icache = [];
    private readonly Queue<ulong> _inactivate = new();

    private FsMount(BlockDevice device, Superblock sb, BufTarget buffers, Journal.Journal journal, InodeTable inodes, BlockAllocator allocator)
    {
        Device = device;
        Superblock = sb;
        Buffers = buffers;
        Journal = journal;
        Inodes = inodes;
        Allocator = allocator;
        Directories = new DirectoryBlocks(buffers, sb.Geometry, inodes, allocator);
        inodes.Allocator = allocator;
        allocator.FlushBusy = journal.CheckpointInTransaction;
        journal.Checkpointed = allocator.ClearBusy;
    }

    /// <summary>The device.</summary>
    public BlockDevice Device { get; }

    /// <summary>The superblock read at mount.</summary>
    public Superblock Superblock { get; }

    /// <summary>The metadata buffer cache.</summary>
    public BufTarget Buffers { get; }

    /// <summary>The journal.</summary>
    public Journal.Journal Journal { get; }

    /// <summary>The inode table.</summary>
    public InodeTable Inodes { get; }

    /// <summary>Free space.</summary>
    public BlockAllocator Allocator { get; }

    /// <summary>Directory entries.</summary>
    public DirectoryBlocks Directories { get; }

    /// <summary>Mounts <paramref name="device"/>; on failure <paramref name="problem"/> says what is wrong.</summary>
    /// <remarks>Context: Process context. May sleep.</remarks>
    public static Errno Mount(BlockDevice device, CompletionMode mode, out FsMount? fs, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(device);
        fs = null;
        var err = Mkfs.ReadSuperblock(device, out var sb, out problem);
        if (err != Errno.None)
        {
            return err;
        }

        var buffers = new BufTarget(device, mode, sb!.Geometry.BlockSize);
        try
        {
            var journal = Writeback.Fs.Journal.Journal.Recover(buffers, sb.Geometry);
            var inodes = InodeTable.Open(buffers, sb.Geometry);
            if (inodes.Read(sb.RootInode, out var root, out problem) != Errno.None || root is null || !root.IsDirectory)
            {
                problem = $"{device.Name}: {problem ?? "the root directory is missing"}";
                return Errno.EUCLEAN;
            }

            fs = new FsMount(device, sb, buffers, journal, inodes, BlockAllocator.Open(buffers, sb.Geometry));
            foreach (var ino in inodes.UsedNumbers.ToList())
            {
                if (inodes.Read(ino, out var orphan, out _) == Errno.None && orphan is { IsDirectory: false, Nlink: 0 }
                    && new XfsInode(fs, orphan).Inactivate() is var freed && freed != Errno.None)
                {
                    problem = $"{device.Name}: freeing unlinked inode {ino} failed ({freed})";
                    return freed;
                }
            }

            return Errno.None;
        }
        catch (InvalidDataException ex)
        {
            problem = $"{device.Name}: {ex.Message}";
            return Errno.EUCLEAN;
        }
    }

    /// <summary>Whether the filesystem has shut down.</summary>
    /// <remarks>Kernel: xfs_is_shutdown(). Context: Any context.</remarks>
    public bool IsShutdown => Journal.IsShutdown;

    /// <summary>Shuts the filesystem down because of <paramref name="reason"/>: nothing more is
    /// committed or written; returns false if it was already down.</summary>
    /// <remarks>Kernel: xfs_force_shutdown(). Context: Any context.</remarks>
    public bool ForceShutdown(string reason) => Journal.ForceShutdown(reason);

    /// <summary>Writes everything home and empties the journal; on a shut-down filesystem (or
    /// one whose final checkpoint fails and shuts it down) writes nothing and drops every cached
    /// inode and buffer, the log keeping the last committed state for the next mount.</summary>
    /// <returns>The checkpoint's result; <see cref="Errno.EIO"/> when the filesystem is shut down.</returns>
    /// <remarks>Kernel: xfs_unmountfs() (xfs_log_unmount, xfs_buftarg_drain). Context: Process context. May sleep.</remarks>
    public Errno Unmount()
    {
        var err = IsShutdown ? Errno.EIO : Journal.Checkpoint();
        if (IsShutdown)
        {
            Journal.ReleasePinned();
            _icacheLock.Lock();
            _icache.Clear();
            _icacheLock.Unlock();
            Buffers.Drain();
        }

        return err;
    }

    /// <summary>Runs before a cached inode's blocks are freed (its last link and last hold are
    /// gone): the I/O layer throws its page cache away there (truncate_inode_pages_final).</summary>
    public Action<XfsInode>? Evicting { get; set; }

    /// <summary>The in-core inode of the regular file <paramref name="number"/>, held: release it with <see cref="Irele"/>.</summary>
    /// <returns><see cref="Errno.ENOENT"/> for a free inode, <see cref="Errno.EISDIR"/> for a directory.</returns>
    /// <remarks>Kernel: xfs_iget(). Context: Process context. May sleep.</remarks>
    public Errno Iget(ulong number, out XfsInode? inode)
    {
        if (IsShutdown)
        {
            inode = null;
            return Errno.EIO;
        }

        inode = Cached(number, grab: true);
        if (inode is not null)
        {
            return Errno.None;
        }

        var err = Inodes.Read(number, out var core, out _);
        if (err != Errno.None || core is null || core.IsDirectory || core.Nlink == 0)
        {
            return err != Errno.None ? err : core is { IsDirectory: true } ? Errno.EISDIR : Errno.ENOENT;
        }

        var fresh = new XfsInode(this, core);
        fresh.Grab();
        _icacheLock.Lock();
        if (_icache.TryGetValue(number, out var raced))
        {
            raced.Grab();
            fresh = raced;
        }
        else
        {
            _icache[number] = fresh;
        }

        _icacheLock.Unlock();
        inode = fresh;
        return Errno.None;
    }

    /// <summary>The in-core inode of the regular file at <paramref name="path"/>, held.</summary>
    public Errno Open(string path, out XfsInode? inode)
    {
        inode = null;
        if (IsShutdown)
        {
            return Errno.EIO;
        }

        _ns.Lock();
        try
        {
            var err = Resolve(path, null, out var core);
            return err != Errno.None ? err : Iget(core!.Number, out inode);
        }
        finally
        {
            _ns.Unlock();
        }
    }

    /// <summary>Drops a hold from <see cref="Iget"/>; the last one of an unlinked file frees it.</summary>
    /// <remarks>Kernel: xfs_irele() → xfs_inactive(). Context: Process context. May sleep.</remarks>
    public Errno Irele(XfsInode inode)
    {
        ArgumentNullException.ThrowIfNull(inode);
        _ns.Lock();
        try
        {
            if (inode.Drop() > 0 || inode.Nlink > 0)
            {
                return Errno.None;
            }

            Evict(inode.Number);
            Evicting?.Invoke(inode);

            // Shut down, nothing can be freed (xfs_inode_needs_inactive is false): the log keeps
            // the file unlinked, and the next mount's orphan recovery frees it. Nor is a freeing
            // cut short by a shutdown the closer's error: close(2) does not report it.
            if (IsShutdown)
            {
                return Errno.None;
            }

            var err = inode.Inactivate();
            return IsShutdown ? Errno.None : err;
        }
        finally
        {
            _ns.Unlock();
        }
    }

    /// <summary>The in-core inodes cached now.</summary>
    public IReadOnlyList<XfsInode> CachedInodes()
    {
        _icacheLock.Lock();
        var all = _icache.Values.ToList();
        _icacheLock.Unlock();
        return all;
    }

    /// <summary>Whether inode <paramref name="number"/> is unlinked but still held (an orphan the
    /// last <see cref="Irele"/> will free).</summary>
    public bool IsHeldOrphan(ulong number) => Cached(number, grab: false) is { Nlink: 0, References: > 0 };

    /// <summary>Runs <paramref name="change"/> in one transaction and commits it, even after a
    /// failed check (what it joined is unchanged or consistently changed, and committing releases
    /// it); returns the first error. A change that joined no buffer — a check that failed first
    /// (ENOENT, EEXIST, ENOTEMPTY…), or nothing to do — commits a clean transaction, which writes
    /// nothing to the device.</summary>
    /// <returns><see cref="Errno.EIO"/> without running <paramref name="change"/> on a shut-down
    /// filesystem.</returns>
    /// <remarks>An I/O or corruption error (EIO, EBADMSG, EUCLEAN) after the transaction joined
    /// a buffer may have left a change half made: it is not committed, and the filesystem shuts
    /// down, as XFS does when a dirty transaction is cancelled. Context: Process context. May sleep.</remarks>
    public Errno RunTransaction(Func<Transaction, Errno> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        if (IsShutdown)
        {
            return Errno.EIO;
        }

        var tx = Journal.Begin();
        Errno err;
        try
        {
            err = change(tx);
        }
        catch
        {
            tx.Cancel();
            throw;
        }

        if ((err is Errno.EIO or Errno.EBADMSG or Errno.EUCLEAN) && tx.IsDirty)
        {
            // Shut down before the cancel lets the next transaction see the half-made change.
            ForceShutdown($"a transaction failed with {err} after changing metadata");
            tx.Cancel();
            return err;
        }

        var committed = tx.Commit();
        return err != Errno.None ? err : committed;
    }

    /// <summary>The inode at <paramref name="path"/>; <see cref="Errno.EIO"/> once shut down (xfs_lookup).</summary>
    public Errno Lookup(string path, out DiskInode? inode)
    {
        if (IsShutdown)
        {
            inode = null;
            return Errno.EIO;
        }

        _ns.Lock();
        try
        {
            return Resolve(path, null, out inode);
        }
        finally
        {
            _ns.Unlock();
        }
    }

    /// <summary>The entries of the directory at <paramref name="path"/>.</summary>
    public Errno ReadDir(string path, out IReadOnlyList<(string Name, ulong Ino)> entries)
    {
        entries = [];
        var err = Lookup(path, out var dir);
        if (err != Errno.None)
        {
            return err;
        }

        if (!dir!.IsDirectory)
        {
            return Errno.ENOTDIR;
        }

        entries = Directories.List(dir);
        return Errno.None;
    }

    /// <summary>Creates a regular file.</summary>
    public Errno Create(string path) => MakeNode(path, FileMode);

    /// <summary>Creates a directory.</summary>
    public Errno Mkdir(string path) => MakeNode(path, Mkfs.RootMode);

    /// <summary>Removes a name of a file; the inode goes when its last link does.</summary>
    public Errno Unlink(string path) => RemoveName(path, directory: false);

    /// <summary>Removes an empty directory.</summary>
    public Errno Rmdir(string path) => RemoveName(path, directory: true);

    /// <summary>Adds a name for an existing file.</summary>
    public Errno Link(string existing, string newPath) => InTransaction(tx =>
    {
        var err = Resolve(existing, tx, out var inode);
        if (err != Errno.None)
        {
            return err;
        }

        if (inode!.IsDirectory)
        {
            return Errno.EPERM;
        }

        err = Parent(newPath, tx, out var parent, out var name);
        if (err != Errno.None)
        {
            return err;
        }

        err = Directories.Add(tx, parent!, name, inode.Number, out _);
        if (err == Errno.None)
        {
            WriteInode(tx, inode with { Nlink = inode.Nlink + 1, CtimeNs = Device.Layer.Machine.NowNs });
        }

        return err;
    });

    /// <summary>Moves <paramref name="from"/> to <paramref name="to"/>, replacing a file there (or
    /// an empty directory by a directory); <see cref="Errno.EINVAL"/> for moving a directory into itself.</summary>
    public Errno Rename(string from, string to) => InTransaction(tx =>
    {
        var err = Parent(from, tx, out var fromParent, out var fromName);
        if (err != Errno.None || (err = Directories.Lookup(fromParent!, fromName, out var ino, tx)) != Errno.None)
        {
            return err;
        }

        // Directories have one name each, so "inside itself" is a path prefix.
        var fromParts = from.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var toParts = to.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var intoItself = toParts.Length > fromParts.Length && toParts.AsSpan(0, fromParts.Length).SequenceEqual(fromParts);

        err = Parent(to, tx, out var toParent, out var toName);
        if (err != Errno.None)
        {
            return err;
        }

        Inodes.Read(ino, out var moving, out _, tx);
        if (moving!.IsDirectory && intoItself)
        {
            return Errno.EINVAL;
        }

        var look = Directories.Lookup(toParent!, toName, out var existingIno, tx);
        if (look is not (Errno.None or Errno.ENOENT))
        {
            // A bad target name: nothing has been changed yet.
            return look;
        }

        if (look == Errno.None)
        {
            if (existingIno == ino)
            {
                return Errno.None;
            }

            Inodes.Read(existingIno, out var existing, out _, tx);
            if (existing!.IsDirectory != moving!.IsDirectory)
            {
                return existing.IsDirectory ? Errno.EISDIR : Errno.ENOTDIR;
            }

            if (existing.IsDirectory && !Directories.IsEmpty(existing, tx))
            {
                return Errno.ENOTEMPTY;
            }

            Directories.Remove(tx, toParent!, toName);
            DropLink(tx, existing);
            Inodes.Read(toParent!.Number, out toParent, out _, tx);
        }

        Directories.Remove(tx, fromParent!, fromName);
        if (fromParent!.Number == toParent!.Number)
        {
            Inodes.Read(toParent.Number, out toParent, out _, tx);
        }

        return Directories.Add(tx, toParent!, toName, ino, out _);
    });

    private Errno MakeNode(string path, ushort mode) => InTransaction(tx =>
    {
        var err = Parent(path, tx, out var parent, out var name);
        if (err != Errno.None)
        {
            return err;
        }

        var look = Directories.Lookup(parent!, name, out _, tx);
        if (look != Errno.ENOENT)
        {
            // It exists, or the name is not valid: nothing has been changed yet.
            return look == Errno.None ? Errno.EEXIST : look;
        }

        err = Inodes.Allocate(tx, mode, Device.Layer.Machine.NowNs, out var inode);
        if (err != Errno.None)
        {
            return err;
        }

        if ((mode & 0xF000) == 0x4000)
        {
            Inodes.Write(tx, inode! with { Nlink = 2 });
        }

        err = Directories.Add(tx, parent!, name, inode!.Number, out _);
        if (err != Errno.None)
        {
            // No room for the entry: the inode must not outlive the failed create.
            Inodes.Free(tx, inode.Number);
        }

        return err;
    });

    private Errno RemoveName(string path, bool directory) => InTransaction(tx =>
    {
        var err = Parent(path, tx, out var parent, out var name);
        if (err != Errno.None || (err = Directories.Lookup(parent!, name, out var ino, tx)) != Errno.None)
        {
            return err;
        }

        Inodes.Read(ino, out var inode, out _, tx);
        if (inode!.IsDirectory != directory)
        {
            return directory ? Errno.ENOTDIR : Errno.EISDIR;
        }

        if (directory && !Directories.IsEmpty(inode, tx))
        {
            return Errno.ENOTEMPTY;
        }

        Directories.Remove(tx, parent!, name);
        DropLink(tx, inode);
        return Errno.None;
    });

    private void DropLink(Transaction tx, DiskInode inode)
    {
        if (inode.IsDirectory)
        {
            foreach (var e in inode.Extents)
            {
                Allocator.Free(tx, e.DiskBlock, e.Length, metadata: true);
            }

            Inodes.Free(tx, inode.Number);
            return;
        }

        // A file's last link: the blocks go after this transaction, or at the last Irele if it is held.
        WriteInode(tx, inode with { Nlink = inode.Nlink - 1, CtimeNs = Device.Layer.Machine.NowNs });
        if (inode.Nlink == 1)
        {
            _inactivate.Enqueue(inode.Number);
        }
    }

    private Errno InTransaction(Func<Transaction, Errno> change)
    {
        if (IsShutdown)
        {
            return Errno.EIO;
        }

        _ns.Lock();
        try
        {
            var err = RunTransaction(change);
            while (_inactivate.TryDequeue(out var ino))
            {
                // Outside the namespace transaction: a large file takes several.
                var freed = Inactivate(ino);
                err = err != Errno.None ? err : freed;
            }

            return err;
        }
        finally
        {
            _ns.Unlock();
        }
    }

    private Errno Inactivate(ulong number)
    {
        if (IsShutdown)
        {
            // Left unlinked on disk: the next mount's orphan recovery frees it.
            return Errno.EIO;
        }

        var cached = Cached(number, grab: false);
        if (cached is { References: > 0 })
        {
            return Errno.None;
        }

        if (cached is not null)
        {
            Evict(number);
            Evicting?.Invoke(cached);
            return cached.Inactivate();
        }

        var err = Inodes.Read(number, out var core, out _);
        return err != Errno.None ? err : new XfsInode(this, core!).Inactivate();
    }

    private XfsInode? Cached(ulong number, bool grab)
    {
        _icacheLock.Lock();
        _icache.TryGetValue(number, out var inode);
        if (grab)
        {
            inode?.Grab();
        }

        _icacheLock.Unlock();
        return inode;
    }

    private void Evict(ulong number)
    {
        _icacheLock.Lock();
        _icache.Remove(number);
        _icacheLock.Unlock();
    }

    // Every change of a cached inode's record goes through here, so its in-core copy follows.
    private DiskInode WriteInode(Transaction tx, DiskInode inode)
    {
        var written = Inodes.Write(tx, inode);
        Cached(inode.Number, grab: false)?.SetCore(written);
        return written;
    }

    private Errno Parent(string path, Transaction tx, out DiskInode? parent, out string name)
    {
        var (dir, last) = Split(path);
        name = last;
        var err = Resolve(dir, tx, out parent);
        if (err == Errno.None && !parent!.IsDirectory)
        {
            err = Errno.ENOTDIR;
        }

        return err;
    }

    private Errno Resolve(string path, Transaction? tx, out DiskInode? inode)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!path.StartsWith('/'))
        {
            inode = null;
            return Errno.EINVAL;
        }

        var err = ReadInode(Superblock.RootInode, tx, out inode);
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (err != Errno.None)
            {
                return err;
            }

            if (!inode!.IsDirectory)
            {
                return Errno.ENOTDIR;
            }

            err = Directories.Lookup(inode, part, out var ino, tx);
            if (err != Errno.None)
            {
                inode = null;
                return err;
            }

            err = ReadInode(ino, tx, out inode);
        }

        return err;
    }

    // Outside a transaction, a cached inode's record is read from its in-core copy, which a
    // commit replaces in one step: the disk copy may be halfway through a commit that rewrites the
    // inode's block and then its extent blocks, one buffer lock at a time, and reading it then
    // gives a torn record (an extent count that disagrees with the extent blocks). The kernel's
    // lookup likewise finds the in-core inode before it ever reads the disk (xfs_iget).
    private Errno ReadInode(ulong number, Transaction? tx, out DiskInode? inode)
    {
        if (tx is null && Cached(number, grab: false) is { } cached)
        {
            inode = cached.Core;
            return Errno.None;
        }

        return Inodes.Read(number, out inode, out _, tx);
    }

    private static (string Dir, string Name) Split(string path)
    {
        var trimmed = path.TrimEnd('/');
        var slash = trimmed.LastIndexOf('/');
        return slash < 0 ? ("/", trimmed) : (slash == 0 ? "/" : trimmed[..slash], trimmed[(slash + 1)..]);
    }
}
