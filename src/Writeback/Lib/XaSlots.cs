namespace Writeback.Lib;

/// <summary>The slots of a node, stored inline.</summary>
[System.Runtime.CompilerServices.InlineArray(XaNode.MaxChunkSize)]
internal struct XaSlots
{
    private object? _element0;
}
