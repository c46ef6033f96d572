namespace Writeback.Kernel;

/// <summary>Where and in which context a lockdep usage bit was first registered.</summary>
internal sealed record UsageTrace(CodeSite Site, string Task, string Context, IReadOnlyList<string> Stack);
