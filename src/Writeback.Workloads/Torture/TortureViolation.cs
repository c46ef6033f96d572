using System.Text;
using Writeback.Block;
using Writeback.Mm;

namespace Writeback.Workloads.Torture;

/// <summary>What an oracle run found wrong, with what it takes to replay it: the seed, the mode,
/// the variant, the settings, the last operations and a one-line <c>wbsim torture</c> command.</summary>
public sealed record TortureViolation
{
    /// <summary>What was wrong (one line).</summary>
    public required string What { get; init; }

    /// <summary>The run's seed.</summary>
    public required ulong Seed { get; init; }

    /// <summary>The run's completion mode.</summary>
    public required CompletionMode Completion { get; init; }

    /// <summary>The run's task-completion variant.</summary>
    public required TaskCompletionVariant Variant { get; init; }

    /// <summary>The operation that was running (0-based); <see cref="PlannedOperations"/> for the final checks.</summary>
    public required int Operation { get; init; }

    /// <summary>The operations the run was to execute.</summary>
    public required int PlannedOperations { get; init; }

    /// <summary>The run's settings, as a phrase: block size, injection, dirty limits, mix, CPUs.</summary>
    public required string Settings { get; init; }

    /// <summary>The last operations, oldest first, each "#N what".</summary>
    public required IReadOnlyList<string> LastOperations { get; init; }

    /// <summary>The command that replays the run.</summary>
    public required string ReplayCommand { get; init; }

    /// <summary>More: the exception, the kernel reports; null if the one line says it all.</summary>
    public string? Detail { get; init; }

    /// <summary>The whole report: what, the run, the last operations, the replay command, the detail.</summary>
    public string Text
    {
        get
        {
            var sb = new StringBuilder();
            sb.Append("torture violation: ").Append(What).Append('\n')
              .Append($"  seed {Seed}, completion {Completion.ToString().ToLowerInvariant()}, variant {Variant.ToString().ToLowerInvariant()}, {Settings}; ")
              .Append(Operation >= PlannedOperations ? $"in the final checks after {PlannedOperations} operations" : $"at operation #{Operation} of {PlannedOperations}")
              .Append('\n')
              .Append($"  last {LastOperations.Count} operations:\n");
            foreach (var line in LastOperations)
            {
                sb.Append("    ").Append(line).Append('\n');
            }

            sb.Append("  replay: ").Append(ReplayCommand).Append('\n');
            if (Detail is not null)
            {
                sb.Append("  detail:\n");
                foreach (var line in Detail.Split('\n'))
                {
                    sb.Append("    ").Append(line.TrimEnd('\r')).Append('\n');
                }
            }

            return sb.ToString();
        }
    }

    /// <summary>The whole report (<see cref="Text"/>).</summary>
    public override string ToString() => Text;
}
