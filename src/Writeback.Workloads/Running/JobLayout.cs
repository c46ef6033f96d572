using Writeback.Fs;
using Writeback.Kernel;

namespace Writeback.Workloads.Running;

/// <summary>Lays out the jobs' files before they run, as fio does: directories made, each file
/// created and preallocated per <c>fallocate=</c>, the files of jobs that read filled with data,
/// then everything synced and the page cache dropped (fio's default <c>invalidate=1</c>).</summary>
internal static class JobLayout
{
    private const int FillChunk = 256 << 10;

    /// <summary>Lays out every job's files; returns what failed, or null.</summary>
    /// <remarks>Context: Process context, inside the machine. May sleep.</remarks>
    public static string? Prepare(FileSystem fs, IReadOnlyList<JobSpec> jobs)
    {
        var laidOut = new HashSet<string>(StringComparer.Ordinal);
        foreach (var spec in jobs)
        {
            if (MakeDirectories(fs, spec.Directory) is { } dirError)
            {
                return dirError;
            }

            for (var i = 0; i < spec.NumJobs; i++)
            {
                for (var n = 0; n < spec.NrFiles; n++)
                {
                    var path = spec.FilePath(i, n);
                    if (laidOut.Add(path) && LayOut(fs, spec, path) is { } error)
                    {
                        return $"[{spec.Name}] laying out {path}: {error}";
                    }
                }
            }
        }

        var err = fs.Sync();
        if (err != Errno.None)
        {
            return $"sync after layout: {err}";
        }

        fs.DropCaches();
        return null;
    }

    private static string? MakeDirectories(FileSystem fs, string directory)
    {
        var path = "";
        foreach (var part in directory.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            path += "/" + part;
            var err = fs.Meta.Mkdir(path);
            if (err is not (Errno.None or Errno.EEXIST))
            {
                return $"mkdir {path}: {err}";
            }
        }

        return null;
    }

    private static string? LayOut(FileSystem fs, JobSpec spec, string path)
    {
        var err = fs.Open(path, OpenFlags.Create, out var file);
        if (err != Errno.None)
        {
            return $"open: {err}";
        }

        try
        {
            err = spec.Fallocate switch
            {
                "native" or "posix" => file!.Fallocate(0, spec.FileSize),
                "keep" => file!.Fallocate(0, spec.FileSize, keepSize: true),
                "truncate" => file!.Truncate(spec.FileSize),
                _ => Errno.None,
            };
            if (err != Errno.None)
            {
                return $"fallocate={spec.Fallocate}: {err}";
            }

            if (spec.Reads || spec.Overwrite)
            {
                // A read job needs data to read, and overwrite=1 written blocks to overwrite: fio
                // writes the file before the job starts.
                var chunk = new byte[(int)Math.Min(FillChunk, spec.FileSize)];
                new Prandom(0x89).NextBytes(chunk);

                for (var at = 0L; at < spec.FileSize; at += chunk.Length)
                {
                    var length = (int)Math.Min(chunk.Length, spec.FileSize - at);
                    err = file!.Write(at, chunk.AsSpan(0, length), out _);
                    if (err != Errno.None)
                    {
                        return $"write at {at}: {err}";
                    }
                }
            }

            return null;
        }
        finally
        {
            file!.Close();
        }
    }
}
