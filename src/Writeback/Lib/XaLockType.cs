namespace Writeback.Lib;

/// <summary>How the normal XArray API takes the array's lock.</summary>
/// <remarks>Kernel: xa_lock(), xa_lock_bh(), xa_lock_irq(), xa_lock_irqsave(); the page cache's
/// i_pages is XA_FLAGS_LOCK_IRQ. The owner decides, as each caller of the kernel API does.</remarks>
public enum XaLockType
{
    /// <summary>spin_lock().</summary>
    Plain,

    /// <summary>spin_lock_bh().</summary>
    Bh,

    /// <summary>spin_lock_irq().</summary>
    Irq,

    /// <summary>spin_lock_irqsave().</summary>
    IrqSave,
}
