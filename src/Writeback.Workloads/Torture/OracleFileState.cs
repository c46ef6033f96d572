namespace Writeback.Workloads.Torture;

/// <summary>What <see cref="OracleFile.Capture"/> took of a file: what a synced image holds of
/// it, to go back to when the writes after the capture are lost (a metadata write error that
/// shuts the filesystem down, or dropped writes, followed by a power cut).</summary>
/// <param name="Names">The file's names.</param>
/// <param name="Data">The file's bytes up to its size.</param>
/// <param name="Size">The file's size.</param>
/// <param name="Exists">Whether the file existed.</param>
/// <param name="Ino">The file's inode number, if known.</param>
internal sealed record OracleFileState(IReadOnlyList<string> Names, byte[] Data, long Size, bool Exists, ulong? Ino);
