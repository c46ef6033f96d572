using System.Globalization;
using Writeback.Kernel;

namespace Writeback.Samples.Runtime;

/// <summary>The command line: --engine sim|real, --seed N, --cpus N, --iterations N, --quantum NS.</summary>
internal sealed record SampleOptions(EngineKind Engine, ulong Seed, int Cpus, int Iterations, long QuantumNs)
{
    public static SampleOptions? Parse(string[] args)
    {
        var o = new SampleOptions(EngineKind.Deterministic, 1, 4, 200, new MachineOptions().QuantumNs);
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            var value = i + 1 < args.Length ? args[++i] : null;
            if (value is null)
            {
                return Fail($"option {name} needs a value");
            }

            switch (name)
            {
                case "--engine" when value is "sim" or "real":
                    o = o with { Engine = value == "sim" ? EngineKind.Deterministic : EngineKind.Real };
                    break;
                case "--engine":
                    return Fail($"--engine must be sim or real, not '{value}'");
                case "--seed" when ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seed):
                    o = o with { Seed = seed };
                    break;
                case "--cpus" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var cpus) && cpus is >= 2 and <= 128:
                    o = o with { Cpus = cpus };
                    break;
                case "--iterations" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 1_000_000:
                    o = o with { Iterations = n };
                    break;
                case "--quantum" when long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var q):
                    o = o with { QuantumNs = q };
                    break;
                case "--seed" or "--cpus" or "--iterations" or "--quantum":
                    return Fail($"{name}: '{value}' is not valid (seed: a non-negative integer; cpus: 2 to 128; iterations: 1 to 1000000; quantum: virtual ns, 0 or more)");
                default:
                    return Fail($"unknown option '{name}' (known: --engine sim|real, --seed N, --cpus N, --iterations N, --quantum NS)");
            }
        }

        return o;
    }

    private static SampleOptions? Fail(string message)
    {
        Console.Error.WriteLine("runtime sample: " + message);
        return null;
    }
}
