namespace Writeback.Kernel;

/// <summary>The interrupt state saved by local_irq_save() and restored by local_irq_restore().</summary>
/// <remarks>Kernel: unsigned long flags. Model: only the enabled bit is kept.</remarks>
public readonly record struct IrqFlags(bool WereEnabled);
