using System.Runtime.CompilerServices;

namespace Writeback.Kernel;

/// <summary>Builds a <see cref="Bug"/> message only when the condition holds, so that checks on
/// hot paths (every unlock) cost a compare and nothing else.</summary>
[InterpolatedStringHandler]
public ref struct BugMessageHandler
{
    private readonly bool _enabled;
    private DefaultInterpolatedStringHandler _inner;

    /// <summary>Creates the handler; formatting happens only when <paramref name="condition"/> is true.</summary>
    public BugMessageHandler(int literalLength, int formattedCount, bool condition, out bool shouldAppend)
    {
        _enabled = condition;
        shouldAppend = condition;
        _inner = condition ? new DefaultInterpolatedStringHandler(literalLength, formattedCount) : default;
    }

    /// <summary>Appends literal text.</summary>
    public void AppendLiteral(string value) => _inner.AppendLiteral(value);

    /// <summary>Appends a value.</summary>
    public void AppendFormatted<T>(T value) => _inner.AppendFormatted(value);

    /// <summary>Appends a value with a format.</summary>
    public void AppendFormatted<T>(T value, string? format) => _inner.AppendFormatted(value, format);

    /// <summary>The message (empty when the condition was false).</summary>
    public string ToStringAndClear() => _enabled ? _inner.ToStringAndClear() : string.Empty;
}
