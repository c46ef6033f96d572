using Writeback.Tests.Infrastructure;
using Writeback.Workloads.Fio;
using Writeback.Workloads.Running;

namespace Writeback.Tests.Workloads;

/// <summary>The README's option tables list every option the code accepts, so that users can
/// trust them.</summary>
public class ReadmeTests
{
    private static string Readme() => File.ReadAllText(RepoRoot.File("README.md"));

    [Fact]
    public void EveryWbsimOption_IsInTheReadmesTable()
    {
        var readme = Readme();
        Assert.All(WbsimOptions.Table, o => Assert.Contains($"| `--{o.Name.Replace('_', '-')}` / `{o.Name}=` | {o.Values} |", readme, StringComparison.Ordinal));
    }

    [Fact]
    public void EveryFioOption_IsInTheReadmesTable()
    {
        var readme = Readme();
        Assert.All(FioJobFile.Options.Keys, name => Assert.Contains($"`{name}`", readme, StringComparison.Ordinal));
    }
}
