using System.Runtime.CompilerServices;

namespace Writeback.Tests.Infrastructure;

/// <summary>The checkout's root, the folder holding <c>Writeback.sln</c>: found above the test
/// binary or, when the build's output lives outside the source tree (--artifacts-path), above this
/// source file's compile-time path.</summary>
internal static class RepoRoot
{
    private static readonly Lazy<string> s_path = new(() => Find());

    /// <summary>The full path of the folder holding <c>Writeback.sln</c>.</summary>
    public static string Path => s_path.Value;

    /// <summary>A path below the root, one part per folder: <c>File("samples", "jobs")</c>.</summary>
    public static string File(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    private static string Find([CallerFilePath] string source = "")
    {
        foreach (var start in new[] { AppContext.BaseDirectory, System.IO.Path.GetDirectoryName(source) ?? "" })
        {
            for (var dir = start.Length > 0 ? new DirectoryInfo(start) : null; dir is not null; dir = dir.Parent)
            {
                if (System.IO.File.Exists(System.IO.Path.Combine(dir.FullName, "Writeback.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        throw new InvalidOperationException($"Writeback.sln not found above {AppContext.BaseDirectory} or {source}");
    }
}
