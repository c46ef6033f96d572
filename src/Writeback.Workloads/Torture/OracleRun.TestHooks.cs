namespace Writeback.Workloads.Torture;

/// <summary>Hooks with which tests break the model on purpose, to prove the oracle catches it.</summary>
public sealed partial class OracleRun
{
    /// <summary>Runs in the machine after the model took a write (file, position, length): a
    /// test corrupts the model here.</summary>
    internal Action<OracleFile, long, int>? AfterModelWrite { get; set; }

    /// <summary>Given an operation's model update ("write", "truncate", "fallocate",
    /// "punch hole", "rename", "link", "unlink"), true skips it, as a model that forgot it would.</summary>
    internal Func<string, bool>? SkipModelUpdate { get; set; }

    /// <summary>Every operation logged so far, "#N what".</summary>
    internal IReadOnlyList<string> Log => _log;

    private bool Skip(string update) => SkipModelUpdate?.Invoke(update) == true;

    private void ModelWrite(OracleFile s, long pos, byte[] data)
    {
        if (Skip("write"))
        {
            return;
        }

        s.Write(pos, data);
        AfterModelWrite?.Invoke(s, pos, data.Length);
    }
}
