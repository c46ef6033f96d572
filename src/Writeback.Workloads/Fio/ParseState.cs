namespace Writeback.Workloads.Fio;

/// <summary>What the job-file reader knows as it goes: the global options so far, the job being
/// read, and the jobs finished.</summary>
internal sealed class ParseState(Func<string, string?> environment, Func<string, string> readInclude)
{
    private readonly Dictionary<string, FioOptionValue> _global = new(StringComparer.Ordinal);
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private Dictionary<string, FioOptionValue>? _job;
    private bool _inWbsim;
    private (string Name, string File, int Line) _section;

    public Func<string, string?> Environment { get; } = environment;

    public Func<string, string> ReadInclude { get; } = readInclude;

    public List<FioJob> Jobs { get; } = [];

    /// <summary>The options of the [wbsim] sections, in order.</summary>
    public List<FioOptionValue> Wbsim { get; } = [];

    public void StartSection(string name, string file, int line)
    {
        FinishJob();
        _inWbsim = name == FioJobFile.ModelSection;
        if (name == "global" || _inWbsim)
        {
            return;
        }

        if (!_names.Add(name))
        {
            throw new JobFileException(file, line, null, $"job [{name}] is defined twice");
        }

        _section = (name, file, line);
        _job = new Dictionary<string, FioOptionValue>(_global, StringComparer.Ordinal);
    }

    public void Set(FioOptionValue option)
    {
        if (_inWbsim)
        {
            if (!Running.WbsimOptions.Table.Any(t => t.Name == option.Name))
            {
                throw new JobFileException(option.File, option.Line, option.Name, $"not a [{FioJobFile.ModelSection}] option (they are: {string.Join(", ", Running.WbsimOptions.Table.Select(t => t.Name))})");
            }

            Wbsim.Add(option);
            return;
        }

        if (!FioJobFile.Options.ContainsKey(option.Name))
        {
            throw new JobFileException(option.File, option.Line, option.Name, "not an option this tool supports (see the README's table of fio options)");
        }

        (_job ?? _global)[option.Name] = option;
    }

    public void FinishJob()
    {
        if (_job is null)
        {
            return;
        }

        var kbBase = _job.TryGetValue("kb_base", out var kb) && kb.Value == "1000" ? 1000 : 1024;
        foreach (var option in _job.Values)
        {
            if (FioJobFile.Options[option.Name].Check(option.Value, kbBase) is { } problem)
            {
                throw new JobFileException(option.File, option.Line, option.Name, problem);
            }
        }

        var name = _job.TryGetValue("name", out var n) ? n.Value : _section.Name;
        Jobs.Add(new FioJob(name, _section.File, _section.Line, _job));
        _job = null;
    }
}
