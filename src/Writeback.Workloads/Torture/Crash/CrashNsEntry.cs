namespace Writeback.Workloads.Torture.Crash;

/// <summary>A name in the tree: the inode it points at, and the model's file (0 for a directory).</summary>
internal readonly record struct CrashNsEntry(ulong Ino, int FileId, bool IsDirectory);
