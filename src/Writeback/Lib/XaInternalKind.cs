namespace Writeback.Lib;

/// <summary>What an <see cref="XaInternal"/> is.</summary>
internal enum XaInternalKind
{
    Retry,
    Zero,
    Sibling,
    Value,
}
