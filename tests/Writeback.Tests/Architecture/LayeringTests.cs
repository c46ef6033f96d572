using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Architecture;

/// <summary>The layers of src/Writeback depend downwards only (ARCHITECTURE.md, "Layers").</summary>
public class LayeringTests
{
    // Each layer, and the layers it must not know.
    public static TheoryData<string, string[]> Rules => new()
    {
        // Kernel/ and Lib/ are both the bottom, as kernel/ and lib/ are: they may use each other.
        { "Kernel", ["Block", "Mm", "Fs", "Diagnostics"] },
        { "Lib", ["Block", "Mm", "Fs", "Diagnostics"] },
        { "Block", ["Mm", "Fs", "Diagnostics"] },
        { "Mm", ["Fs", "Diagnostics"] },
    };

    [Theory]
    [MemberData(nameof(Rules))]
    public void Layer_DoesNotReferenceLayersAboveIt(string layer, string[] forbidden)
    {
        var dir = Path.Combine(SourceRoot(), layer);
        if (!Directory.Exists(dir))
        {
            return;
        }

        var offenders = new List<string>();
        foreach (var file in Directory.EnumerateFiles(dir, "*.cs", SearchOption.AllDirectories))
        {
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                foreach (var up in forbidden)
                {
                    if (lines[i].Contains($"Writeback.{up}", StringComparison.Ordinal) && !lines[i].TrimStart().StartsWith("///", StringComparison.Ordinal))
                    {
                        offenders.Add($"{Path.GetRelativePath(SourceRoot(), file)}:{i + 1}: {lines[i].Trim()}");
                    }
                }
            }
        }

        Assert.True(offenders.Count == 0, $"{layer} must not depend on {string.Join(", ", forbidden)}:\n{string.Join("\n", offenders)}");
    }

    [Fact]
    public void SourceRoot_IsFound()
    {
        Assert.True(Directory.Exists(Path.Combine(SourceRoot(), "Kernel")));
    }

    private static string SourceRoot() => RepoRoot.File("src", "Writeback");
}
