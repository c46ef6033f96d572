using System.Threading;
using Microsoft.Extensions.Internal;

namespace Writeback.Fs.Buffer;

/// <summary>A clock for the reclaimable tier's cache that advances one tick per reading, so that
/// "least recently used" is the exact order of use and the same on every run.</summary>
internal sealed class LogicalClock : ISystemClock
{
    private static readonly DateTimeOffset s_epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private long _ticks;

    public DateTimeOffset UtcNow => s_epoch.AddTicks(Interlocked.Increment(ref _ticks));
}
