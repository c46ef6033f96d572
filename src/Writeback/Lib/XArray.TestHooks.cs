using Writeback.Kernel;

namespace Writeback.Lib;

/// <summary>Read-only views and the structural invariant check, for tests.</summary>
public sealed partial class XArray<T>
{
    /// <summary>Nodes in the tree now.</summary>
    internal int NodeCount => _head is XaNode top ? CountNodes(top) : 0;

    /// <summary>Levels of the tree (0 when the head holds an entry or nothing).</summary>
    internal int Height => _head is XaNode top ? (top.Shift / _chunkShift) + 1 : 0;

    /// <summary>The count and nr_values of the node that holds the slot for <paramref name="index"/>
    /// (0, 0 when the index lives in the head or nowhere), as check_account reads them.</summary>
    internal (int Count, int NrValues) NodeCounts(ulong index)
    {
        Locate(index, out var node, out _);
        return node is null ? (0, 0) : (node.Count, node.NrValues);
    }

    /// <summary>Checks counts, parent links, shifts, mark propagation (each bit is the OR of its
    /// subtree, and never set on an empty slot), the root marks, no empty node, and
    /// that the top node could not be shrunk.</summary>
    /// <remarks>Context: the array must be quiescent (no concurrent writer).</remarks>
    internal void AssertInvariants()
    {
        var head = _head;
        if (head is not XaNode top)
        {
            if (head is null && _rootMarks != 0)
            {
                throw new KernelBugException($"xarray: root marks {_rootMarks} with head {head ?? "null"}");
            }

            return;
        }

        Check(top.Parent is null, "top node has a parent");
        Check(!(top.Count == 1 && top.Slots[0] is { } e0 && (e0 is XaNode || top.Shift == 0)), "top node only uses slot 0 but was not shrunk");
        var marks = CheckNode(top);
        for (var m = 0; m < 3; m++)
        {
            if (!(((_rootMarks >> m) & 1) == (marks[m] ? 1 : 0)))
            {
                Fail($"root mark {m} disagrees with the tree");
            }
        }
    }

    private bool[] CheckNode(XaNode node)
    {
        var count = 0;
        var values = 0;
        for (var i = 0; i < _chunkSize; i++)
        {
            var e = node.Slots[i];
            if (e is null || e is XaInternal { IsSibling: true })
            {
                for (var m = 0; m < 3; m++)
                {
                    if (!((node.Marks[m] & (1UL << i)) == 0))
                    {
                        Fail($"mark {m} on {(e is null ? "empty" : "sibling")} slot {i} (shift {node.Shift})");
                    }
                }

                if (e is null)
                {
                    continue;
                }
            }

            count++;
            values += IsValueSlot(node, i) ? 1 : 0;
            if (e is XaNode child)
            {
                Check(node.Shift > 0, "child node under a leaf");
                if (!(child.Parent == node && child.Offset == i))
                {
                    Fail($"child at slot {i} has a wrong parent link");
                }
                Check(child.Shift == node.Shift - _chunkShift, "child shift");
                Check(child.Count > 0, "empty node left in the tree");
                var sub = CheckNode(child);
                for (var m = 0; m < 3; m++)
                {
                    if (!(((node.Marks[m] >> i) & 1) == (sub[m] ? 1UL : 0UL)))
                    {
                        Fail($"mark {m} of slot {i} is not the OR of its subtree");
                    }
                }
            }
            else if (e is XaInternal { IsSibling: true } sibling)
            {
                // A sibling follows its canonical slot (or another sibling of it) in the same node.
                var canonical = sibling.SiblingOffset;
                Check(canonical < i && (canonical == i - 1 || ReferenceEquals(node.Slots[i - 1], e)), "sibling run broken");
                Check(node.Slots[canonical] is { } c && c is not XaNode && c is not XaInternal { IsSibling: true }, "sibling of a node, a sibling or nothing");
            }
            else
            {
                Check(!ReferenceEquals(e, XaInternal.Retry), "retry entry in a live node");
            }
        }

        if (!(count == node.Count))
        {
            Fail($"node count {node.Count} but {count} slots used");
        }

        if (!(values == node.NrValues))
        {
            Fail($"node nr_values {node.NrValues} but {values} value slots");
        }

        return [node.Marks[0] != 0, node.Marks[1] != 0, node.Marks[2] != 0];
    }

    private static int CountNodes(XaNode node)
    {
        var n = 1;
        for (var i = 0; i < XaNode.MaxChunkSize; i++)
        {
            if (node.Slots[i] is XaNode child)
            {
                n += CountNodes(child);
            }
        }

        return n;
    }

    // Messages with values are formatted only on failure: this check runs after every operation in tests.
    private static void Check(bool ok, string what)
    {
        if (!ok)
        {
            Fail(what);
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Fail(string what) => throw new KernelBugException("xarray invariant: " + what);
}
