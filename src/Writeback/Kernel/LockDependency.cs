namespace Writeback.Kernel;

/// <summary>A recorded dependency A → B: B was acquired while A was held.</summary>
internal sealed record LockDependency(LockClass From, LockClass To, CodeSite FromSite, CodeSite ToSite, string Task, IReadOnlyList<string> Stack);
