namespace Writeback.Workloads.Running;

/// <summary>The built-in workload of <c>wbsim run</c> and <c>wbsim compare</c> without a job file:
/// the two paths the designs differ on, at once, sized to finish within a minute on 2 cores
/// per design on the deterministic engine.</summary>
public static class DefaultJob
{
    /// <summary>The name reports give it.</summary>
    public const string Name = "default";

    /// <summary>The job file text.</summary>
    public const string Text = """
        ; wbsim's built-in workload: the completion paths the designs differ on, together.
        ;  - two buffered writers append into preallocated (unwritten) space with a periodic
        ;    fdatasync: every ioend needs the unwritten conversion at completion (a workqueue in
        ;    the IRQ design, inline in task context in the task design);
        ;  - one buffered writer overwrites written blocks at random: its writeback ends in the
        ;    interrupt in the IRQ design, taking i_pages there (why that lock is irq-safe today);
        ;  - one asynchronous direct writer overwrites a file at queue depth 8: completions that
        ;    need no work run in the interrupt (IRQ design) or inline in task context (task design).
        [global]
        directory=/data
        ioengine=psync
        bs=4k

        [buffered-append]
        rw=write
        size=32m
        numjobs=2
        fdatasync=64
        group_reporting=1

        [buffered-overwrite]
        rw=randwrite
        size=16m
        overwrite=1
        fsync=256

        [direct-overwrite]
        rw=randwrite
        size=16m
        direct=1
        overwrite=1
        ioengine=libaio
        iodepth=8
        """;
}
