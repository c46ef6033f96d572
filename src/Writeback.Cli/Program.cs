using System.Threading;
using Writeback.Cli;

// wbsim: run fio job files on the Writeback model, under IRQ and task completion.
using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // The first Ctrl-C stops the jobs at their next I/O and still prints what was measured;
    // a second one ends the process.
    if (!cts.IsCancellationRequested)
    {
        e.Cancel = true;
        Console.Error.WriteLine("\nwbsim: stopping (Ctrl-C again to quit at once)");
        cts.Cancel();
    }
};
return WbsimCommand.Invoke(args, Console.Out, Console.Error, progressToTerminal: !Console.IsErrorRedirected, cts.Token);
