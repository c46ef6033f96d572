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
    /// that the top node could not be shrunk; throws on the first problem.</summary>
    /// <remarks>Context: the array must be quiescent (no concurrent writer), or the caller holds the xa_lock.</remarks>
    internal void AssertInvariants()
    {
        var problems = new List<string>(0);
        CollectInvariantViolations(problems);
        if (problems.Count > 0)
        {
            throw new KernelBugException("xarray invariant: " + problems[0]);
        }
    }

    /// <summary>The checks of <see cref="AssertInvariants"/>, adding every problem found to
    /// <paramref name="problems"/> instead of throwing. A subtree whose shift or parent link is
    /// wrong is reported and not descended into, so a corrupted tree cannot make the walk loop.</summary>
    /// <remarks>Race-free under the xa_lock: every writer holds it, and one that drops it to
    /// allocate leaves the tree as it found it (<see cref="StoreEntry"/> undoes a partial
    /// expansion), so no reader of the structure can see a half-done change while holding it.
    /// Context: Caller holds the xa_lock, or the array is quiescent.</remarks>
    internal void CollectInvariantViolations(ICollection<string> problems)
    {
        ArgumentNullException.ThrowIfNull(problems);
        var head = _head;
        if (head is not XaNode top)
        {
            if (head is null && _rootMarks != 0)
            {
                problems.Add($"root marks {_rootMarks} with an empty head");
            }

            return;
        }

        Check(problems, top.Parent is null, "top node has a parent");
        Check(problems, !(top.Count == 1 && top.Slots[0] is { } e0 && (e0 is XaNode || top.Shift == 0)), "top node only uses slot 0 but was not shrunk");
        var marks = CheckNode(top, problems);
        for (var m = 0; m < 3; m++)
        {
            if (((_rootMarks >> m) & 1) != (marks[m] ? 1 : 0))
            {
                problems.Add($"root mark {m} disagrees with the tree");
            }
        }
    }

    private bool[] CheckNode(XaNode node, ICollection<string> problems)
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
                    if ((node.Marks[m] & (1UL << i)) != 0)
                    {
                        problems.Add($"mark {m} on {(e is null ? "empty" : "sibling")} slot {i} (shift {node.Shift})");
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
                CheckChild(node, i, child, problems);
            }
            else if (e is XaInternal { IsSibling: true } sibling)
            {
                // A sibling follows its canonical slot (or another sibling of it) in the same node.
                var canonical = sibling.SiblingOffset;
                Check(problems, canonical < i && (canonical == i - 1 || ReferenceEquals(node.Slots[i - 1], e)), "sibling run broken");
                Check(problems, canonical < i && node.Slots[canonical] is { } c && c is not XaNode && c is not XaInternal { IsSibling: true }, "sibling of a node, a sibling or nothing");
            }
            else
            {
                Check(problems, !ReferenceEquals(e, XaInternal.Retry), "retry entry in a live node");
            }
        }

        if (count != node.Count)
        {
            problems.Add($"node count {node.Count} but {count} slots used");
        }

        if (values != node.NrValues)
        {
            problems.Add($"node nr_values {node.NrValues} but {values} value slots");
        }

        return [node.Marks[0] != 0, node.Marks[1] != 0, node.Marks[2] != 0];
    }

    private void CheckChild(XaNode node, int slot, XaNode child, ICollection<string> problems)
    {
        Check(problems, node.Shift > 0, "child node under a leaf");
        if (child.Parent != node || child.Offset != slot)
        {
            problems.Add($"child at slot {slot} has a wrong parent link");
        }

        if (child.Shift != node.Shift - _chunkShift)
        {
            // Descending could loop on a corrupted tree; the shift decreasing bounds the walk.
            problems.Add($"child at slot {slot} has shift {child.Shift} under shift {node.Shift}");
            return;
        }

        Check(problems, child.Count > 0, "empty node left in the tree");
        var sub = CheckNode(child, problems);
        for (var m = 0; m < 3; m++)
        {
            if (((node.Marks[m] >> slot) & 1) != (sub[m] ? 1UL : 0UL))
            {
                problems.Add($"mark {m} of slot {slot} is not the OR of its subtree");
            }
        }
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
    private static void Check(ICollection<string> problems, bool ok, string what)
    {
        if (!ok)
        {
            problems.Add(what);
        }
    }
}
