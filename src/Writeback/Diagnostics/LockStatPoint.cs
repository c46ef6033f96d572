namespace Writeback.Diagnostics;

/// <summary>One contention point (a call site that waited for a lock) or contended point (the
/// site of the holder that was waited on), with how many times it was seen.</summary>
/// <remarks>Kernel: an entry of lock_class.contention_point[] / contending_point[] and its count
/// in lock_class_stats, include/linux/lockdep.h. Model: the site is a <c>Function (File.cs:Line)</c>
/// string rather than an instruction address.</remarks>
/// <param name="Site">The call site, as <see cref="Writeback.Kernel.CodeSite"/> prints it.</param>
/// <param name="Count">Times a contention was attributed to the site.</param>
public sealed record LockStatPoint(string Site, long Count);
