using Writeback.Kernel;

namespace Writeback.Workloads.Running;

/// <summary>What a job did — one instance, or all of a job's instances with group_reporting.</summary>
public sealed class JobResult
{
    /// <summary>Creates an empty result for <paramref name="spec"/>.</summary>
    public JobResult(JobSpec spec, int groupId)
    {
        ArgumentNullException.ThrowIfNull(spec);
        Spec = spec;
        GroupId = groupId;
    }

    /// <summary>The job.</summary>
    public JobSpec Spec { get; }

    /// <summary>The job's name.</summary>
    public string Name => Spec.Name;

    /// <summary>Its reporting group (fio's groupid: 0 unless a job says otherwise).</summary>
    public int GroupId { get; }

    /// <summary>Instances this result covers.</summary>
    public int Jobs { get; internal set; } = 1;

    /// <summary>The simulated task id of the (first) instance: fio's pid.</summary>
    public int Pid { get; internal set; }

    /// <summary>The reads.</summary>
    public IoStats Read { get; } = new();

    /// <summary>The writes.</summary>
    public IoStats Write { get; } = new();

    /// <summary>The fsync and fdatasync calls.</summary>
    public SyncStats Sync { get; } = new();

    /// <summary>The first error (fio's err=); <see cref="Errno.None"/> when none.</summary>
    public Errno Error { get; internal set; }

    /// <summary>What failed, when <see cref="Error"/> is set.</summary>
    public string? ErrorContext { get; internal set; }

    /// <summary>Bytes read back and checked by verify.</summary>
    public long VerifyBytes { get; internal set; }

    /// <summary>Blocks whose verify header or checksum did not match.</summary>
    public long VerifyErrors { get; internal set; }

    /// <summary>The first verify mismatch, described.</summary>
    public string? FirstVerifyError { get; internal set; }

    /// <summary>I/Os in flight at each submission, by depth (index = depth).</summary>
    public long[] Depths { get; } = new long[65];

    /// <summary>Adds another instance's figures (group_reporting).</summary>
    internal void Add(JobResult other)
    {
        Jobs += other.Jobs;
        Read.Add(other.Read);
        Write.Add(other.Write);
        Sync.Add(other.Sync);
        if (Error == Errno.None && other.Error != Errno.None)
        {
            (Error, ErrorContext) = (other.Error, other.ErrorContext);
        }

        VerifyBytes += other.VerifyBytes;
        VerifyErrors += other.VerifyErrors;
        FirstVerifyError ??= other.FirstVerifyError;
        for (var i = 0; i < Depths.Length; i++)
        {
            Depths[i] += other.Depths[i];
        }
    }
}
