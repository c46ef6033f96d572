namespace Writeback.Kernel;

/// <summary>Softirq vectors, in the kernel's order (lower runs first).</summary>
/// <remarks>Kernel: the softirq enum in include/linux/interrupt.h.</remarks>
public enum Softirq
{
    /// <summary>HI_SOFTIRQ.</summary>
    Hi = 0,

    /// <summary>TIMER_SOFTIRQ: runs expired timers.</summary>
    Timer = 1,

    /// <summary>NET_TX_SOFTIRQ.</summary>
    NetTx = 2,

    /// <summary>NET_RX_SOFTIRQ.</summary>
    NetRx = 3,

    /// <summary>BLOCK_SOFTIRQ: block request completion.</summary>
    Block = 4,

    /// <summary>IRQ_POLL_SOFTIRQ.</summary>
    IrqPoll = 5,

    /// <summary>TASKLET_SOFTIRQ.</summary>
    Tasklet = 6,

    /// <summary>SCHED_SOFTIRQ.</summary>
    Sched = 7,

    /// <summary>HRTIMER_SOFTIRQ.</summary>
    HrTimer = 8,

    /// <summary>RCU_SOFTIRQ.</summary>
    Rcu = 9,
}
