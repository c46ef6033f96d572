using System.Threading;
using Writeback.Block;
using Writeback.Kernel;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Block;

/// <summary>struct bio on its own: segments, splitting, chaining, the submit-time checks,
/// completion accounting, splitting to the queue limits and the status-to-errno map.</summary>
public class BioTests
{
    public static TheoryData<TaskCompletionVariant> Variants => new()
    {
        TaskCompletionVariant.Merged,
        TaskCompletionVariant.V4,
        TaskCompletionVariant.V5,
        TaskCompletionVariant.Cpumask,
    };

    /// <summary>Runs <paramref name="body"/> as the init task of a fresh 2-CPU deterministic
    /// machine with a block layer and a <see cref="TestDisk"/>, then checks the machine is clean.</summary>
    private static void OnDisk(
        Action<Machine, BlockLayer, TestDisk> body,
        TaskCompletionVariant variant = TaskCompletionVariant.Merged,
        ulong capacitySectors = TestDisk.DefaultCapacitySectors,
        QueueLimits? limits = null)
    {
        using var m = MachineFixture.Create(seed: 1, cpus: 2);
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m, new BlockLayerOptions { Variant = variant });
            var disk = new TestDisk(layer, capacitySectors, limits);
            body(m, layer, disk);
        });
        MachineFixture.AssertClean(m);
    }

    private static byte[] Pattern(int length, int salt = 0)
    {
        var data = new byte[length];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = (byte)((i + salt) % 251);
        }

        return data;
    }

    private static byte[] Bytes(Bio bio) => [.. bio.Vecs.SelectMany(v => v.Buffer.ToArray())];

    private static void SleepUntil(Machine m, Func<bool> condition)
    {
        for (var i = 0; !condition(); i++)
        {
            Assert.True(i < 1000, "condition not reached within 1000 ms of virtual time");
            m.Msleep(1);
        }
    }

    // ---------------- segments ----------------

    [Fact]
    public void AddVec_AppendsSegmentsInOrder_AndSizeIsTheirSum()
    {
        OnDisk((_, _, disk) =>
        {
            var bio = new Bio(disk, BioOp.Write);
            Assert.Equal(0, bio.Size);
            Assert.Empty(bio.Vecs);
            var a = new byte[4096];
            var b = new byte[512];
            var c = new byte[1024];
            bio.AddVec(a);
            bio.AddVec(b);
            bio.AddVec(c);
            Assert.Equal(4096 + 512 + 1024, bio.Size);
            Assert.Equal([4096, 512, 1024], bio.Vecs.Select(v => v.Length));
            Assert.True(bio.Vecs[1].Buffer.Span.Overlaps(b), "a segment is the caller's memory, not a copy");
        });
    }

    [Fact]
    public void AddVec_OfAnEmptyBuffer_Throws()
    {
        OnDisk((_, _, disk) =>
        {
            var bio = new Bio(disk, BioOp.Write);
            Assert.Throws<ArgumentException>(() => bio.AddVec(Memory<byte>.Empty));
            Assert.Equal(0, bio.Size);
        });
    }

    // ---------------- split and chain ----------------

    [Fact]
    public void Split_InsideASegment_FrontCoversTheFirstBytes_RestTheRemainder_SectorsAdvance()
    {
        OnDisk((_, _, disk) =>
        {
            var data = Pattern(8192);
            var bio = new Bio(disk, BioOp.Write) { Sector = 100 };
            bio.AddVec(data.AsMemory(0, 4096));
            bio.AddVec(data.AsMemory(4096, 4096));

            var front = bio.Split(3);

            Assert.Equal(100UL, front.Sector);
            Assert.Equal(3 * BlockDevice.SectorSize, front.Size);
            Assert.Equal(data[..1536], Bytes(front));
            Assert.Equal(103UL, bio.Sector);
            Assert.Equal(8192 - 1536, bio.Size);
            Assert.Equal(data[1536..], Bytes(bio));
            Assert.Equal([1536], front.Vecs.Select(v => v.Length));
            Assert.Equal([4096 - 1536, 4096], bio.Vecs.Select(v => v.Length));
            Assert.Equal(bio.Op, front.Op);
            Assert.Same(disk, front.Device);

            // Both halves still point at the caller's memory.
            Assert.True(front.Vecs[0].Buffer.Span.Overlaps(data.AsSpan(0, 1536)));
            Assert.True(bio.Vecs[0].Buffer.Span.Overlaps(data.AsSpan(1536, 1)));
        });
    }

    [Fact]
    public void Split_OnASegmentBoundary_MovesWholeSegments()
    {
        OnDisk((_, _, disk) =>
        {
            var data = Pattern(12288, salt: 7);
            var bio = new Bio(disk, BioOp.Read) { Sector = 8 };
            bio.AddVec(data.AsMemory(0, 4096));
            bio.AddVec(data.AsMemory(4096, 4096));
            bio.AddVec(data.AsMemory(8192, 4096));

            var front = bio.Split(16);

            Assert.Equal([4096, 4096], front.Vecs.Select(v => v.Length));
            Assert.Equal(data[..8192], Bytes(front));
            Assert.Equal([4096], bio.Vecs.Select(v => v.Length));
            Assert.Equal(data[8192..], Bytes(bio));
            Assert.Equal(8UL, front.Sector);
            Assert.Equal(24UL, bio.Sector);
        });
    }

    [Fact]
    public void Split_ChainsTheFrontToTheRest()
    {
        OnDisk((_, _, disk) =>
        {
            var bio = new Bio(disk, BioOp.Write);
            bio.AddVec(new byte[8192]);
            Assert.False(bio.Flagged(BioFlags.Chain));

            var front = bio.Split(8);

            Assert.Same(bio, front.Parent);
            Assert.Null(bio.Parent);
            Assert.Null(front.EndIoHandler);
            Assert.True(bio.Flagged(BioFlags.Chain));
            Assert.False(front.Flagged(BioFlags.Chain));
        });
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(16)]
    [InlineData(17)]
    public void Split_OutsideTheBio_Throws(int sectors)
    {
        OnDisk((_, _, disk) =>
        {
            var bio = new Bio(disk, BioOp.Write) { Sector = 5 };
            bio.AddVec(new byte[8192]);
            Assert.Throws<ArgumentOutOfRangeException>(() => bio.Split(sectors));
            Assert.Equal(8192, bio.Size);
            Assert.Equal(5UL, bio.Sector);
            Assert.False(bio.Flagged(BioFlags.Chain));
        });
    }

    [Fact]
    public void Chain_OfAChildThatHasAnEndIo_Throws()
    {
        OnDisk((_, _, disk) =>
        {
            var parent = new Bio(disk, BioOp.Write);
            var child = new Bio(disk, BioOp.Write) { EndIoHandler = _ => { } };
            Assert.Throws<InvalidOperationException>(() => child.Chain(parent));
            var other = new Bio(disk, BioOp.Write);
            var chained = new Bio(disk, BioOp.Write);
            chained.Chain(parent);
            Assert.Throws<InvalidOperationException>(() => chained.Chain(other));
        });
    }

    /// <summary>Order codes: 'P' completes the parent, '0'..'2' the children.</summary>
    [Theory]
    [InlineData("012P")]
    [InlineData("P012")]
    [InlineData("0P21")]
    [InlineData("21P0")]
    public void Chain_ParentCompletesOnlyAfterEveryChildAndItself(string order)
    {
        OnDisk((_, _, disk) =>
        {
            var parentRuns = 0;
            var parent = new Bio(disk, BioOp.Write) { EndIoHandler = _ => parentRuns++ };
            var children = Enumerable.Range(0, 3).Select(_ => new Bio(disk, BioOp.Write)).ToArray();
            foreach (var c in children)
            {
                c.Chain(parent);
            }

            for (var i = 0; i < order.Length; i++)
            {
                var bio = order[i] == 'P' ? parent : children[order[i] - '0'];
                bio.Endio();
                Assert.Equal(i == order.Length - 1 ? 1 : 0, parentRuns);
            }

            Assert.False(parent.Flagged(BioFlags.Chain));
        });
    }

    [Fact]
    public void Chain_FirstChildErrorBecomesTheParentStatus_LaterErrorsDoNotOverwrite()
    {
        OnDisk((_, _, disk) =>
        {
            BlkStatus? seen = null;
            var parent = new Bio(disk, BioOp.Write) { EndIoHandler = b => seen = b.Status };
            var children = Enumerable.Range(0, 3).Select(_ => new Bio(disk, BioOp.Write)).ToArray();
            foreach (var c in children)
            {
                c.Chain(parent);
            }

            disk.Complete(children[0], BlkStatus.Ok);
            disk.Complete(children[1], BlkStatus.Medium);
            Assert.Equal(BlkStatus.Medium, parent.Status);
            disk.Complete(children[2], BlkStatus.NoSpc);
            Assert.Equal(BlkStatus.Medium, parent.Status);

            // The parent's own completion keeps the status it inherited (a driver that
            // succeeded leaves bi_status alone).
            parent.Endio();
            Assert.Equal(BlkStatus.Medium, seen);
        });
    }

    [Fact]
    public void Chain_ChildErrorAfterAnOkParentCompletion_StillReachesTheParent()
    {
        OnDisk((_, _, disk) =>
        {
            BlkStatus? seen = null;
            var parent = new Bio(disk, BioOp.Write) { EndIoHandler = b => seen = b.Status };
            var child = new Bio(disk, BioOp.Write);
            child.Chain(parent);
            disk.Complete(parent, BlkStatus.Ok);
            Assert.Null(seen);
            disk.Complete(child, BlkStatus.Again);
            Assert.Equal(BlkStatus.Again, seen);
        });
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Chain_ChildCompleteInTaskFlag_HasNoEffect_ParentFlagDecides(TaskCompletionVariant variant)
    {
        // Children flagged, parent not: every piece completes in hardirq, so the parent's
        // callback runs right there, in hardirq, and nothing is deferred.
        (bool InHardirq, int Runs)? seen = null;
        BioCompletionStats? stats = null;
        OnDisk((m, layer, disk) =>
        {
            disk.CompletionCpu = 1;
            var runs = 0;
            var parent = new Bio(disk, BioOp.Write) { EndIoHandler = _ => seen = (Context.InHardirq, Interlocked.Increment(ref runs)) };
            parent.AddVec(new byte[4096]);
            var children = Enumerable.Range(0, 3).Select(i =>
            {
                var c = new Bio(disk, BioOp.Write) { Sector = 8 * (ulong)(i + 1) };
                c.AddVec(new byte[4096]);
                c.SetFlag(BioFlags.CompleteInTask);
                c.Chain(parent);
                return c;
            }).ToArray();
            foreach (var c in children)
            {
                c.Submit();
            }

            parent.Submit();
            SleepUntil(m, () => seen is not null);
            m.Msleep(10);
            stats = layer.Stats();
        }, variant);
        Assert.Equal((true, 1), seen);
        Assert.Equal(0, stats!.Deferred);
        Assert.Equal(0, stats.Inline);
    }

    // ---------------- submit-time checks ----------------

    [Theory]
    [MemberData(nameof(Variants))]
    public void Submit_OfAFlaggedBioWithNoEndIo_IsAKernelBugAtSubmit(TaskCompletionVariant variant)
    {
        OnDisk((_, _, disk) =>
        {
            var bio = new Bio(disk, BioOp.Write);
            bio.AddVec(new byte[4096]);
            bio.SetFlag(BioFlags.CompleteInTask);
            var bug = Assert.Throws<KernelBugException>(bio.Submit);
            Assert.Contains("BIO_COMPLETE_IN_TASK", bug.Message);
            Assert.Empty(disk.Seen);
        }, variant);
    }

    [Fact]
    public void Submit_OfAFlaggedChainChildWithNoEndIo_IsAccepted()
    {
        // A chain child's bi_end_io is the chain's: the check is about bios that would reach the
        // worker with nothing to call.
        OnDisk((m, _, disk) =>
        {
            var ran = false;
            var parent = new Bio(disk, BioOp.Write) { EndIoHandler = _ => ran = true };
            var child = new Bio(disk, BioOp.Write);
            child.AddVec(new byte[4096]);
            child.SetFlag(BioFlags.CompleteInTask);
            child.Chain(parent);
            child.Submit();
            parent.Endio();
            SleepUntil(m, () => ran);
        });
    }

    [Fact]
    public void Submit_OfAReadOrWriteWithNoSegments_Throws_ButAnEmptyFlushIsSubmitted()
    {
        OnDisk((m, _, disk) =>
        {
            var write = new Bio(disk, BioOp.Write) { EndIoHandler = _ => { } };
            Assert.Throws<InvalidOperationException>(write.Submit);
            Assert.Empty(disk.Seen);

            BlkStatus? flushStatus = null;
            var flush = new Bio(disk, BioOp.Flush) { EndIoHandler = b => flushStatus = b.Status };
            flush.Submit();
            SleepUntil(m, () => flushStatus is not null);
            Assert.Equal(BlkStatus.Ok, flushStatus);
            Assert.Single(disk.Seen);
        });
    }

    [Fact]
    public void Endio_ASecondTimeOnACompletedBio_IsAKernelBug()
    {
        OnDisk((_, _, disk) =>
        {
            var runs = 0;
            var bio = new Bio(disk, BioOp.Write) { EndIoHandler = _ => runs++ };
            bio.Endio();
            Assert.Equal(1, runs);
            var bug = Assert.Throws<KernelBugException>(bio.Endio);
            Assert.Contains("completed twice", bug.Message);
            Assert.Equal(1, runs);
        });
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Endio_ASecondTimeOnADeferredBio_IsAKernelBug(TaskCompletionVariant variant)
    {
        OnDisk((m, layer, disk) =>
        {
            var runs = 0;
            var bio = new Bio(disk, BioOp.Write) { EndIoHandler = _ => Interlocked.Increment(ref runs) };
            bio.SetFlag(BioFlags.CompleteInTask);
            KernelBugException? bug = null;
            Context.LocalIrqDisable();
            try
            {
                bio.Endio();
                bug = Assert.Throws<KernelBugException>(bio.Endio);
            }
            finally
            {
                Context.LocalIrqEnable();
            }

            Assert.Contains("completed twice", bug.Message);
            layer.FlushDeferred();
            Assert.Equal(1, Volatile.Read(ref runs));
        }, variant);
    }

    // ---------------- range and limits ----------------

    [Theory]
    [InlineData(993UL, 4096)] // one sector past the end
    [InlineData(1000UL, 512)] // starts at the end
    [InlineData(5000UL, 512)] // starts beyond the end
    [InlineData(0UL, 1000 * 512 + 512)] // longer than the device
    [InlineData(0UL, 700)] // not a whole number of sectors
    public void Submit_BeyondTheCapacity_CompletesAtOnceWithIoErr_WithoutReachingTheDriver(ulong sector, int bytes)
    {
        OnDisk((_, _, disk) =>
        {
            BlkStatus? seen = null;
            var inTask = false;
            var bio = new Bio(disk, BioOp.Write) { Sector = sector, EndIoHandler = b => (seen, inTask) = (b.Status, Context.InTask) };
            bio.AddVec(new byte[bytes]);
            bio.Submit();
            Assert.Equal(BlkStatus.IoErr, seen);
            Assert.True(inTask, "the range error completes in the submitter's context");
            Assert.Empty(disk.Seen);
        }, capacitySectors: 1000);
    }

    [Fact]
    public void Submit_EndingExactlyAtTheCapacity_IsServed()
    {
        OnDisk((m, _, disk) =>
        {
            BlkStatus? seen = null;
            var bio = new Bio(disk, BioOp.Write) { Sector = 992, EndIoHandler = b => seen = b.Status };
            bio.AddVec(new byte[4096]);
            bio.Submit();
            SleepUntil(m, () => seen is not null);
            Assert.Equal(BlkStatus.Ok, seen);
            Assert.Single(disk.Seen);
        }, capacitySectors: 1000);
    }

    [Fact]
    public void Submit_LargerThanMaxSectors_IsSplitIntoPiecesTheDeviceSees_ParentCallbackRunsOnceAfterAll()
    {
        // 64 sectors against max_sectors 8: eight pieces, each at most 8 sectors, in order.
        var runs = 0;
        OnDisk((m, _, disk) =>
        {
            disk.Manual = true;
            var data = Pattern(32768, salt: 3);
            var bio = new Bio(disk, BioOp.Write) { Sector = 40, EndIoHandler = _ => runs++ };
            for (var off = 0; off < data.Length; off += 4096)
            {
                bio.AddVec(data.AsMemory(off, 4096));
            }

            bio.Submit();
            var pieces = disk.Seen;
            Assert.Equal(8, pieces.Count);
            Assert.Equal(8, disk.Submitted);
            Assert.All(pieces, p => Assert.True(p.Size <= 8 * BlockDevice.SectorSize));
            Assert.Equal(Enumerable.Range(0, 8).Select(i => 40UL + (8UL * (ulong)i)), pieces.Select(p => p.Sector));
            Assert.Equal(data, pieces.SelectMany(Bytes).ToArray());
            Assert.Same(bio, pieces[^1]);

            // Complete the parent's own piece first and the rest backwards: the callback waits for the last.
            var held = disk.TakeAllHeld();
            held.Reverse();
            for (var i = 0; i < held.Count; i++)
            {
                disk.Complete(held[i]);
                Assert.Equal(i == held.Count - 1 ? 1 : 0, runs);
            }
        }, limits: new QueueLimits { MaxSectors = 8 });
        Assert.Equal(1, runs);
    }

    [Fact]
    public void Submit_WithMoreSegmentsThanMaxSegments_IsSplitOnSegmentBoundaries()
    {
        var runs = 0;
        BlkStatus? status = null;
        OnDisk((m, _, disk) =>
        {
            var data = Pattern(5 * 4096, salt: 11);
            var bio = new Bio(disk, BioOp.Read) { EndIoHandler = b => (runs, status) = (runs + 1, b.Status) };
            for (var off = 0; off < data.Length; off += 4096)
            {
                bio.AddVec(data.AsMemory(off, 4096));
            }

            bio.Submit();
            var pieces = disk.Seen;
            Assert.Equal([2, 2, 1], pieces.Select(p => p.Vecs.Count));
            Assert.Equal([0UL, 16UL, 32UL], pieces.Select(p => p.Sector));
            Assert.Equal(data, pieces.SelectMany(Bytes).ToArray());
            SleepUntil(m, () => runs > 0);
            m.Msleep(5);
            Assert.Equal(3, disk.Completions);
        }, limits: new QueueLimits { MaxSegments = 2 });
        Assert.Equal(1, runs);
        Assert.Equal(BlkStatus.Ok, status);
    }

    [Fact]
    public void Submit_SplitToLimits_OnePieceFailing_FailsTheParentOnce()
    {
        var runs = 0;
        BlkStatus? status = null;
        OnDisk((m, _, disk) =>
        {
            disk.CompletionStatusFor = b => b.Sector == 16 ? BlkStatus.Medium : BlkStatus.Ok;
            var bio = new Bio(disk, BioOp.Write) { EndIoHandler = b => (runs, status) = (runs + 1, b.Status) };
            bio.AddVec(new byte[32 * BlockDevice.SectorSize]);
            bio.Submit();
            Assert.Equal(4, disk.Seen.Count);
            SleepUntil(m, () => runs > 0);
            m.Msleep(5);
        }, limits: new QueueLimits { MaxSectors = 8 });
        Assert.Equal(1, runs);
        Assert.Equal(BlkStatus.Medium, status);
    }

    [Fact]
    public void Submit_WithinTheLimits_IsNotSplit()
    {
        OnDisk((m, _, disk) =>
        {
            var done = false;
            var bio = new Bio(disk, BioOp.Write) { EndIoHandler = _ => done = true };
            bio.AddVec(new byte[4 * BlockDevice.SectorSize]);
            bio.AddVec(new byte[4 * BlockDevice.SectorSize]);
            bio.Submit();
            Assert.Same(bio, Assert.Single(disk.Seen));
            Assert.False(bio.Flagged(BioFlags.Chain));
            SleepUntil(m, () => done);
        }, limits: new QueueLimits { MaxSectors = 8, MaxSegments = 2 });
    }

    // ---------------- status ----------------

    [Theory]
    [InlineData(BlkStatus.Ok, Errno.None)]
    [InlineData(BlkStatus.NotSupp, Errno.EOPNOTSUPP)]
    [InlineData(BlkStatus.Timeout, Errno.EIO)]
    [InlineData(BlkStatus.NoSpc, Errno.ENOSPC)]
    [InlineData(BlkStatus.Transport, Errno.EIO)]
    [InlineData(BlkStatus.Target, Errno.EIO)]
    [InlineData(BlkStatus.Medium, Errno.EIO)]
    [InlineData(BlkStatus.Resource, Errno.ENOMEM)]
    [InlineData(BlkStatus.Again, Errno.EAGAIN)]
    [InlineData(BlkStatus.IoErr, Errno.EIO)]
    public void ToErrno_MapsEachStatusAsBlkStatusToErrnoDoes(BlkStatus status, Errno expected) =>
        Assert.Equal(expected, status.ToErrno());

    [Fact]
    public void ToErrno_CoversEveryStatus()
    {
        var nonOk = Enum.GetValues<BlkStatus>().Where(s => s != BlkStatus.Ok);
        Assert.All(nonOk, s => Assert.NotEqual(Errno.None, s.ToErrno()));
    }
}
