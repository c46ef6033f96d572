using System.Runtime.ExceptionServices;
using System.Threading;
using Writeback.Block;
using Writeback.Kernel;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Block;

/// <summary>The simulated hardware itself: queue depth, the write log, fault injection, the
/// latency model and option validation.</summary>
public class SimulatedDiskTests
{
    private const long Capacity = 8L << 20;
    private const int Sector = BlockDevice.SectorSize;

    private static DiskOptions Options(Func<DiskOptions, DiskOptions>? change = null)
    {
        var o = new DiskOptions { CapacityBytes = Capacity, Latency = LatencyModel.Constant(10_000) };
        return change is null ? o : change(o);
    }

    private static void OnDisk(Action<Machine, MemDisk> body, DiskOptions? options = null, int cpus = 2, ulong seed = 1)
    {
        using var m = MachineFixture.Create(seed: seed, cpus: cpus);
        var failure = MachineFixture.RunGuarded(m, () =>
        {
            var layer = BlockLayer.Create(m);
            body(m, new MemDisk(layer, options ?? Options()));
        });
        if (failure is not null)
        {
            ExceptionDispatchInfo.Capture(failure).Throw();
        }

        MachineFixture.AssertClean(m);
    }

    private static byte[] Filled(int sectors, byte value)
    {
        var data = new byte[sectors * Sector];
        data.AsSpan().Fill(value);
        return data;
    }

    private static Bio NewBio(BlockDevice d, BioOp op, ulong sector, byte[]? data, BioOpFlags flags = BioOpFlags.None)
    {
        var bio = new Bio(d, op, flags) { Sector = sector };
        if (data is not null)
        {
            bio.AddVec(data);
        }

        return bio;
    }

    private static bool WaitFor(Machine m, Func<bool> condition, int maxMs = 2000)
    {
        for (var i = 0; !condition(); i++)
        {
            if (i >= maxMs)
            {
                return false;
            }

            m.Msleep(1);
        }

        return true;
    }

    private static BlkStatus Io(Machine m, Bio bio)
    {
        var done = 0;
        var previous = bio.EndIoHandler;
        bio.EndIoHandler = b =>
        {
            previous?.Invoke(b);
            Volatile.Write(ref done, 1);
        };
        bio.Submit();
        Assert.True(WaitFor(m, () => Volatile.Read(ref done) == 1), "the bio never completed");
        return bio.Status;
    }

    private static BlkStatus Write(Machine m, BlockDevice d, ulong sector, byte[] data, BioOpFlags flags = BioOpFlags.None) =>
        Io(m, NewBio(d, BioOp.Write, sector, data, flags));

    private static byte[] Content(SimulatedDisk d, ulong sector, int bytes)
    {
        var buffer = new byte[bytes];
        d.ReadContent(sector, buffer);
        return buffer;
    }

    private static byte[] Image(DiskImage image, ulong sector, int bytes)
    {
        var buffer = new byte[bytes];
        image.Read(sector, buffer);
        return buffer;
    }

    // ---------------- queue depth ----------------

    [Fact]
    public void QueueDepth2_EightConcurrentBiosFromOneTask_NeverMoreThanTwoInFlight_AndAllComplete()
    {
        const long L = 50_000;
        const int N = 8;
        OnDisk((m, d) =>
        {
            var completedAt = new List<long>();
            var inFlight = 0;
            var maxInFlight = 0;
            var start = m.NowNs;
            for (var i = 0; i < N; i++)
            {
                var bio = NewBio(d, BioOp.Write, (ulong)i * 8, Filled(8, (byte)(i + 1)));
                bio.EndIoHandler = _ =>
                {
                    lock (completedAt)
                    {
                        completedAt.Add(m.NowNs);
                        inFlight--;
                    }
                };
                lock (completedAt)
                {
                    // Counted once the submit returned: the bio then holds a tag.
                    inFlight++;
                }

                bio.Submit();
                lock (completedAt)
                {
                    maxInFlight = Math.Max(maxInFlight, inFlight);
                }
            }

            Assert.True(WaitFor(m, () => { lock (completedAt) { return completedAt.Count == N; } }));
            Assert.InRange(maxInFlight, 1, 2);

            // With a constant service time L, each request was in service during [done - L, done):
            // at no instant may more than two of those intervals overlap.
            var times = completedAt.Order().ToList();
            for (var i = 0; i < N; i++)
            {
                var t = times[i] - L;
                var overlapping = times.Count(c => c - L <= t && t < c);
                Assert.True(overlapping <= 2, $"{overlapping} requests in service at {t} ns: {string.Join(", ", times)}");
            }

            Assert.True(times[^1] - start >= 4 * L, $"8 requests of {L} ns at depth 2 took {times[^1] - start} ns");
            Assert.Equal(N, d.Completed);
            for (var i = 0; i < N; i++)
            {
                Assert.Equal(Filled(8, (byte)(i + 1)), Content(d, (ulong)i * 8, 8 * Sector));
            }
        }, Options(o => o with { QueueDepth = 2, HardwareQueues = 1, Latency = LatencyModel.Constant(L) }), cpus: 1);
    }

    [Fact]
    public void QueueDepth1_FromAtomicContext_BacklogsAndCompletesEverything()
    {
        const int N = 6;
        OnDisk((m, d) =>
        {
            var done = 0;
            Context.LocalIrqDisable();
            for (var i = 0; i < N; i++)
            {
                var bio = NewBio(d, BioOp.Write, (ulong)i, Filled(1, (byte)(i + 1)));
                bio.EndIoHandler = _ => Interlocked.Increment(ref done);
                bio.Submit();
            }

            Context.LocalIrqEnable();

            Assert.True(WaitFor(m, () => Volatile.Read(ref done) == N));
            for (var i = 0; i < N; i++)
            {
                Assert.Equal((byte)(i + 1), Content(d, (ulong)i, Sector)[0]);
            }
        }, Options(o => o with { QueueDepth = 1, HardwareQueues = 1 }), cpus: 1);
    }

    // ---------------- write log ----------------

    [Fact]
    public void WriteLog_RecordsInCompletionOrder_AndRebuildReproducesEachPoint()
    {
        const int Region = 64 * Sector;
        OnDisk((m, d) =>
        {
            Assert.Equal(BlkStatus.Ok, Write(m, d, 2, Filled(2, 9))); // before the log: part of its start
            var log = d.StartWriteLog();
            Assert.Same(log, d.Log);
            var snapshots = new List<byte[]> { Content(d, 0, Region) };

            Assert.Equal(BlkStatus.Ok, Write(m, d, 0, Filled(4, 1)));
            snapshots.Add(Content(d, 0, Region));
            log.Mark("one");
            snapshots.Add(Content(d, 0, Region));
            Assert.Equal(BlkStatus.Ok, Write(m, d, 3, Filled(8, 2)));
            snapshots.Add(Content(d, 0, Region));
            Assert.Equal(BlkStatus.Ok, Io(m, new Bio(d, BioOp.Flush)));
            snapshots.Add(Content(d, 0, Region));
            Assert.Equal(BlkStatus.Ok, Write(m, d, 40, Filled(1, 3), BioOpFlags.Fua));
            snapshots.Add(Content(d, 0, Region));
            log.Mark("two");
            snapshots.Add(Content(d, 0, Region));

            var entries = log.Entries;
            Assert.Equal(
                [WriteLogEntryKind.Write, WriteLogEntryKind.Mark, WriteLogEntryKind.Write, WriteLogEntryKind.Flush, WriteLogEntryKind.Write, WriteLogEntryKind.Mark],
                entries.Select(e => e.Kind));
            Assert.Equal(Enumerable.Range(0, 6), entries.Select(e => e.Index));
            Assert.Equal(0UL, entries[0].Sector);
            Assert.Equal(3UL, entries[2].Sector);
            Assert.Equal(BioOpFlags.Fua, entries[4].Flags & BioOpFlags.Fua);
            Assert.Equal("one", entries[1].Name);
            Assert.Equal([3], log.FlushIndexes);

            for (var n = 0; n <= entries.Count; n++)
            {
                Assert.Equal(snapshots[n], Image(log.Rebuild(n), 0, Region));
            }

            Assert.Equal(snapshots[1], Image(log.RebuildAtMark("one"), 0, Region));
            Assert.Equal(snapshots[5], Image(log.RebuildAtMark("two"), 0, Region));
            Assert.Throws<KeyNotFoundException>(() => log.RebuildAtMark("three"));
            Assert.Throws<ArgumentOutOfRangeException>(() => log.Rebuild(entries.Count + 1));
        });
    }

    [Fact]
    public void WriteLog_ConcurrentWrites_AreLoggedInCompletionOrder()
    {
        OnDisk((m, d) =>
        {
            var log = d.StartWriteLog();
            var order = new List<ulong>();
            var bios = new List<Bio>();
            foreach (var (sector, latency) in new[] { (0UL, 300_000L), (8UL, 100_000L), (16UL, 200_000L) })
            {
                d.AddFault(new FaultRule { Op = BioOp.Write, FirstSector = sector, LastSector = sector, Action = FaultAction.Delay, DelayNs = latency, Count = 1 });
            }

            for (var i = 0; i < 3; i++)
            {
                var bio = NewBio(d, BioOp.Write, (ulong)i * 8, Filled(1, (byte)(i + 1)));
                bio.EndIoHandler = b =>
                {
                    lock (order)
                    {
                        order.Add(b.Sector);
                    }
                };
                bio.Submit();
            }

            Assert.True(WaitFor(m, () => { lock (order) { return order.Count == 3; } }));
            Assert.Equal([8UL, 16UL, 0UL], order);
            Assert.Equal(order, log.Entries.Select(e => e.Sector));
        });
    }

    [Fact]
    public void WriteLog_InvalidMarkName_Throws()
    {
        OnDisk((_, d) =>
        {
            var log = d.StartWriteLog();
            Assert.ThrowsAny<ArgumentException>(() => log.Mark(" "));
            Assert.Throws<ArgumentOutOfRangeException>(() => log.Rebuild(-1));
        });
    }

    // ---------------- fault injection ----------------

    [Fact]
    public void FailRule_WithCount1_FailsExactlyOneMatchingBio_AndLeavesTheMediaUntouched()
    {
        OnDisk((m, d) =>
        {
            d.AddFault(new FaultRule { Op = BioOp.Write, FirstSector = 100, LastSector = 107, Count = 1, Status = BlkStatus.Medium });
            Assert.Equal(BlkStatus.Ok, Write(m, d, 0, Filled(8, 1)));                  // outside the range
            Assert.Equal(BlkStatus.Ok, Io(m, NewBio(d, BioOp.Read, 100, new byte[Sector]))); // not a write
            Assert.Equal(BlkStatus.Medium, Write(m, d, 96, Filled(8, 2)));             // overlaps 100..103
            Assert.DoesNotContain(Content(d, 96, 8 * Sector), b => b != 0);
            Assert.Equal(1, d.Failed);
            Assert.Equal(BlkStatus.Ok, Write(m, d, 100, Filled(8, 3)));                // the rule is used up
            Assert.Equal(Filled(8, 3), Content(d, 100, 8 * Sector));
            Assert.Equal(1, d.Failed);
        });
    }

    [Fact]
    public void FailRule_Unlimited_HitsEveryMatchingBio_UntilCleared()
    {
        OnDisk((m, d) =>
        {
            d.AddFault(new FaultRule { Op = BioOp.Read });
            for (var i = 0; i < 3; i++)
            {
                Assert.Equal(BlkStatus.IoErr, Io(m, NewBio(d, BioOp.Read, (ulong)i, new byte[Sector])));
            }

            d.ClearFaults();
            Assert.Equal(BlkStatus.Ok, Io(m, NewBio(d, BioOp.Read, 0, new byte[Sector])));
            Assert.Equal(3, d.Failed);
        });
    }

    [Fact]
    public void FirstMatchingRuleApplies()
    {
        OnDisk((m, d) =>
        {
            d.AddFault(new FaultRule { Op = BioOp.Write, Status = BlkStatus.NoSpc, Count = 1 });
            d.AddFault(new FaultRule { Op = BioOp.Write, Status = BlkStatus.Medium });
            Assert.Equal(BlkStatus.NoSpc, Write(m, d, 0, Filled(1, 1)));
            Assert.Equal(BlkStatus.Medium, Write(m, d, 0, Filled(1, 1)));
        });
    }

    [Fact]
    public void Probability0_NeverHits()
    {
        OnDisk((m, d) =>
        {
            d.AddFault(new FaultRule { Probability = 0 });
            for (var i = 0; i < 50; i++)
            {
                Assert.Equal(BlkStatus.Ok, Write(m, d, (ulong)i, Filled(1, 1)));
            }

            Assert.Equal(0, d.Failed);
        }, Options(o => o with { Latency = LatencyModel.Constant(0) }));
    }

    [Fact]
    public void ProbabilityHalf_HitsSomeButNotAll()
    {
        OnDisk((m, d) =>
        {
            d.AddFault(new FaultRule { Probability = 0.5 });
            var failed = 0;
            for (var i = 0; i < 60; i++)
            {
                if (Write(m, d, (ulong)i, Filled(1, 1)) != BlkStatus.Ok)
                {
                    failed++;
                }
            }

            Assert.InRange(failed, 10, 50);
        }, Options(o => o with { Latency = LatencyModel.Constant(0) }));
    }

    [Fact]
    public void DelayRule_AddsTheDelay_InVirtualTime()
    {
        const long Base = 20_000;
        const long Delay = 3_000_000;
        OnDisk((m, d) =>
        {
            d.AddFault(new FaultRule { Op = BioOp.Write, Action = FaultAction.Delay, DelayNs = Delay, Count = 1 });
            long Elapsed(Bio bio)
            {
                var submitted = m.NowNs;
                long completed = 0;
                bio.EndIoHandler = _ => completed = m.NowNs;
                Assert.Equal(BlkStatus.Ok, Io(m, bio));
                return completed - submitted;
            }

            var delayed = Elapsed(NewBio(d, BioOp.Write, 0, Filled(1, 1)));
            var plain = Elapsed(NewBio(d, BioOp.Write, 0, Filled(1, 2)));
            Assert.InRange(delayed, Base + Delay, Base + Delay + 100_000);
            Assert.InRange(plain, Base, Base + 100_000);
            Assert.Equal(Filled(1, 2), Content(d, 0, Sector));
        }, Options(o => o with { Latency = LatencyModel.Constant(Base) }));
    }

    [Fact]
    public void DropWriteRule_CompletesOk_ButTheDataIsNotWritten()
    {
        OnDisk((m, d) =>
        {
            var log = d.StartWriteLog();
            d.AddFault(new FaultRule { Op = BioOp.Write, FirstSector = 8, LastSector = 8, Action = FaultAction.DropWrite });
            Assert.Equal(BlkStatus.Ok, Write(m, d, 8, Filled(1, 5), BioOpFlags.Fua));
            Assert.Equal(BlkStatus.Ok, Write(m, d, 9, Filled(1, 6)));
            Assert.DoesNotContain(Content(d, 8, Sector), b => b != 0);
            Assert.Equal(Filled(1, 6), Content(d, 9, Sector));
            Assert.Equal(0, d.Failed);
            Assert.Single(log.Entries); // the dropped write is not in the log either
        });
    }

    [Fact]
    public void MetadataFilter_True_HitsOnlyReqMetaBios_False_OnlyTheOthers_Null_Both()
    {
        OnDisk((m, d) =>
        {
            d.AddFault(new FaultRule { Op = BioOp.Write, FirstSector = 0, LastSector = 7, Metadata = true, Status = BlkStatus.Medium });
            d.AddFault(new FaultRule { Op = BioOp.Write, FirstSector = 8, LastSector = 15, Metadata = false, Status = BlkStatus.NoSpc });
            d.AddFault(new FaultRule { Op = BioOp.Write, FirstSector = 16, LastSector = 23, Status = BlkStatus.IoErr });

            Assert.Equal(BlkStatus.Medium, Write(m, d, 0, Filled(1, 1), BioOpFlags.Meta));
            Assert.Equal(BlkStatus.Medium, Write(m, d, 1, Filled(1, 1), BioOpFlags.Meta | BioOpFlags.Fua));
            Assert.Equal(BlkStatus.Ok, Write(m, d, 2, Filled(1, 2)));
            Assert.Equal(BlkStatus.Ok, Write(m, d, 8, Filled(1, 3), BioOpFlags.Meta));
            Assert.Equal(BlkStatus.NoSpc, Write(m, d, 9, Filled(1, 4)));
            Assert.Equal(BlkStatus.IoErr, Write(m, d, 16, Filled(1, 5), BioOpFlags.Meta));
            Assert.Equal(BlkStatus.IoErr, Write(m, d, 17, Filled(1, 6)));

            Assert.Equal(Filled(1, 2), Content(d, 2, Sector));
            Assert.Equal(Filled(1, 3), Content(d, 8, Sector));
            Assert.Equal(5, d.Failed);
            Assert.Equal(5, d.FaultsInjected);
        });
    }

    [Fact]
    public void FaultsInjected_CountsEveryBioARuleHit_WhateverItsAction_AndNoMisses()
    {
        OnDisk((m, d) =>
        {
            Assert.Equal(0, d.FaultsInjected);
            d.AddFault(new FaultRule { Op = BioOp.Write, FirstSector = 0, LastSector = 0, Count = 2 });
            d.AddFault(new FaultRule { Op = BioOp.Write, FirstSector = 1, LastSector = 1, Action = FaultAction.DropWrite });
            d.AddFault(new FaultRule { Op = BioOp.Write, FirstSector = 2, LastSector = 2, Action = FaultAction.Delay, DelayNs = 1000, Count = 1 });
            d.AddFault(new FaultRule { Op = BioOp.Read, Probability = 0 });

            for (var i = 0; i < 3; i++)
            {
                Write(m, d, 0, Filled(1, 1)); // two hits, then the rule is used up
            }

            Assert.Equal(2, d.FaultsInjected);
            Write(m, d, 1, Filled(1, 2));
            Write(m, d, 1, Filled(1, 2));
            Assert.Equal(4, d.FaultsInjected);
            Write(m, d, 2, Filled(1, 3));
            Write(m, d, 2, Filled(1, 3));
            Assert.Equal(5, d.FaultsInjected);
            Assert.Equal(BlkStatus.Ok, Io(m, NewBio(d, BioOp.Read, 0, new byte[Sector])));
            Write(m, d, 3, Filled(1, 4));
            Assert.Equal(5, d.FaultsInjected);

            // Readable at any time, and clearing the rules does not reset it.
            d.ClearFaults();
            Assert.Equal(5, d.FaultsInjected);
            Assert.Equal(2, d.Failed);
        });
    }

    public static TheoryData<string> InvalidRules => new() { "FailWithOk", "FirstAfterLast", "Probability2", "NegativeCount", "NegativeDelay" };

    [Theory]
    [MemberData(nameof(InvalidRules))]
    public void InvalidRule_ThrowsOnAddFault(string which)
    {
        var rule = which switch
        {
            "FailWithOk" => new FaultRule { Action = FaultAction.Fail, Status = BlkStatus.Ok },
            "FirstAfterLast" => new FaultRule { FirstSector = 10, LastSector = 9 },
            "Probability2" => new FaultRule { Probability = 2 },
            "NegativeCount" => new FaultRule { Count = -1 },
            _ => new FaultRule { Action = FaultAction.Delay, DelayNs = -1 },
        };
        OnDisk((m, d) =>
        {
            Assert.ThrowsAny<ArgumentException>(() => d.AddFault(rule));
            Assert.Equal(BlkStatus.Ok, Write(m, d, 0, Filled(1, 1))); // nothing was added
        });
    }

    // ---------------- latency ----------------

    [Theory]
    [InlineData(512)]
    [InlineData(65536)]
    public void Latency_IsFixedPlusPerByte_PlusBoundedJitter_InVirtualTime(int bytes)
    {
        var latency = new LatencyModel { FixedNs = 40_000, NsPerByte = 2, JitterNs = 5_000, FlushNs = 70_000 };
        OnDisk((m, d) =>
        {
            var expected = 40_000 + (bytes * 2L);
            var samples = new List<long>();
            for (var i = 0; i < 8; i++)
            {
                var bio = NewBio(d, i % 2 == 0 ? BioOp.Write : BioOp.Read, 0, new byte[bytes]);
                long completed = 0;
                bio.EndIoHandler = _ => completed = m.NowNs;
                var submitted = m.NowNs;
                Assert.Equal(BlkStatus.Ok, Io(m, bio));
                samples.Add(completed - submitted);
            }

            Assert.All(samples, s => Assert.InRange(s, expected, expected + 5_000 + 2_000));
            Assert.True(samples.Distinct().Count() > 1, "jitter never varied: " + string.Join(", ", samples));

            var flush = new Bio(d, BioOp.Flush);
            long flushDone = 0;
            flush.EndIoHandler = _ => flushDone = m.NowNs;
            var flushStart = m.NowNs;
            Assert.Equal(BlkStatus.Ok, Io(m, flush));
            Assert.InRange(flushDone - flushStart, 70_000, 70_000 + 5_000 + 2_000);
        }, Options(o => o with { Latency = latency }));
    }

    [Fact]
    public void LatencyModel_Sample_IsWithinItsBounds()
    {
        var model = new LatencyModel { FixedNs = 1_000, NsPerByte = 0.5, JitterNs = 100 };
        var random = new Prandom(7);
        for (var i = 0; i < 200; i++)
        {
            Assert.InRange(model.Sample(BioOp.Write, 4096, random), 1_000 + 2_048, 1_000 + 2_048 + 100);
        }

        Assert.Equal(5_000, LatencyModel.Constant(5_000).Sample(BioOp.Flush, 0, random));
        Assert.Equal(5_000, LatencyModel.Constant(5_000).Sample(BioOp.Read, 1 << 20, random));
    }

    // ---------------- options ----------------

    [Theory]
    [InlineData(1000L)]
    [InlineData(0L)]
    [InlineData(-512L)]
    public void Validate_RejectsACapacityNotAPositiveMultipleOf512(long capacity)
    {
        var options = new DiskOptions { CapacityBytes = capacity };
        var ex = Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
        Assert.Equal(nameof(DiskOptions.CapacityBytes), ex.ParamName);
        OnDisk((_, _) => { });
        using var m = MachineFixture.Create();
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m);
            Assert.Throws<ArgumentOutOfRangeException>(() => new MemDisk(layer, options));
        });
    }

    [Theory]
    [InlineData(2)]
    [InlineData(5)]
    public void FixedIrqCpu_BeyondTheMachinesCpus_IsRejected(int irqCpu)
    {
        using var m = MachineFixture.Create(cpus: 2);
        m.Run(() =>
        {
            var layer = BlockLayer.Create(m);
            Assert.Throws<ArgumentOutOfRangeException>(() => new MemDisk(layer, Options(o => o with { Affinity = IrqAffinity.Fixed, IrqCpu = irqCpu })));
            Assert.Throws<ArgumentOutOfRangeException>(() => new MemDisk(layer, Options(o => o with { IrqCpu = -1 })));
            _ = new MemDisk(layer, Options(o => o with { Affinity = IrqAffinity.Fixed, IrqCpu = 1 }));
        });
    }

    [Fact]
    public void Validate_RejectsOtherBadOptions()
    {
        Assert.Throws<ArgumentOutOfRangeException>(new DiskOptions { QueueDepth = 0 }.Validate);
        Assert.Throws<ArgumentOutOfRangeException>(new DiskOptions { HardwareQueues = -1 }.Validate);
        Assert.Throws<ArgumentOutOfRangeException>(new DiskOptions { Limits = new QueueLimits { MaxSectors = 4 } }.Validate);
        Assert.Throws<ArgumentOutOfRangeException>(new DiskOptions { Latency = new LatencyModel { OutlierProbability = 1.5 } }.Validate);
        Assert.ThrowsAny<ArgumentException>(new DiskOptions { Name = "" }.Validate);
        new DiskOptions().Validate();
    }

    [Fact]
    public void MemDisk_FromAnImage_CopiesIt_AndTakesItsSize()
    {
        var image = new DiskImage(1L << 20);
        image.Write(3, Filled(1, 4));
        OnDisk((m, _) =>
        {
            var d = new MemDisk(_.Layer, Options(o => o with { Name = "fromimage" }), image);
            Assert.Equal((ulong)(1L << 20) / Sector, d.CapacitySectors);
            Assert.Equal(Filled(1, 4), Content(d, 3, Sector));
            Assert.Equal(BlkStatus.Ok, Write(m, d, 3, Filled(1, 5), BioOpFlags.Fua));
        });
        Assert.Equal(Filled(1, 4), Image(image, 3, Sector)); // the original is not touched
    }
}
