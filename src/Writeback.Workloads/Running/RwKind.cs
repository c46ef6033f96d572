namespace Writeback.Workloads.Running;

/// <summary>fio's rw= patterns.</summary>
public enum RwKind
{
    /// <summary>Sequential reads.</summary>
    Read,

    /// <summary>Sequential writes.</summary>
    Write,

    /// <summary>Random reads.</summary>
    RandRead,

    /// <summary>Random writes.</summary>
    RandWrite,

    /// <summary>Mixed sequential reads and writes (rw, readwrite).</summary>
    ReadWrite,

    /// <summary>Mixed random reads and writes.</summary>
    RandRw,
}
