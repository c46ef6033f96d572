namespace Writeback.Lib;

/// <summary>The three mark bitmaps of a node, stored inline.</summary>
[System.Runtime.CompilerServices.InlineArray(3)]
internal struct XaMarks
{
    private ulong _element0;
}
