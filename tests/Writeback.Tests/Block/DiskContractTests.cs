using System.Runtime.ExceptionServices;
using System.Threading;
using Writeback.Block;
using Writeback.Kernel;
using Writeback.Tests.Infrastructure;

namespace Writeback.Tests.Block;

/// <summary>What every <see cref="SimulatedDisk"/> must do, whatever its media: data round trips,
/// range errors, splitting, completion context and CPU, polling, and durability across power cuts.</summary>
public abstract class DiskContractTests<TDisk> : IDisposable
    where TDisk : SimulatedDisk
{
    /// <summary>Small, so that images and logs are cheap.</summary>
    protected const long Capacity = 8L << 20;

    private bool _disposed;

    /// <summary>A disk of this kind on <paramref name="layer"/>.</summary>
    protected abstract TDisk CreateDisk(BlockLayer layer, DiskOptions options);

    /// <summary>Default options for a test disk: small, fast and jitter-free.</summary>
    protected static DiskOptions Options(Func<DiskOptions, DiskOptions>? change = null)
    {
        var o = new DiskOptions { CapacityBytes = Capacity, Latency = LatencyModel.Constant(10_000) };
        return change is null ? o : change(o);
    }

    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            Dispose(true);
            GC.SuppressFinalize(this);
        }
    }

    protected virtual void Dispose(bool disposing)
    {
    }

    /// <summary>Runs <paramref name="body"/> inside a fresh deterministic machine with a block layer and a disk.</summary>
    protected void OnDisk(Action<Machine, TDisk> body, DiskOptions? options = null, int cpus = 2, ulong seed = 1)
    {
        using var m = MachineFixture.Create(seed: seed, cpus: cpus);
        var failure = MachineFixture.RunGuarded(m, () =>
        {
            var layer = BlockLayer.Create(m);
            var disk = CreateDisk(layer, options ?? Options());
            body(m, disk);
        });
        if (failure is not null)
        {
            ExceptionDispatchInfo.Capture(failure).Throw();
        }

        MachineFixture.AssertClean(m);
    }

    // ---------------- helpers ----------------

    protected static byte[] Pattern(int bytes, int seed)
    {
        var data = new byte[bytes];
        new Random(seed).NextBytes(data);
        return data;
    }

    protected static Bio NewBio(BlockDevice disk, BioOp op, ulong sector, byte[]? data = null, int segments = 1, BioOpFlags flags = BioOpFlags.None)
    {
        var bio = new Bio(disk, op, flags) { Sector = sector };
        if (data is not null)
        {
            var sectors = data.Length / BlockDevice.SectorSize;
            var at = 0;
            for (var i = 0; i < segments; i++)
            {
                var n = i == segments - 1 ? data.Length - at : Math.Max(1, sectors / segments) * BlockDevice.SectorSize;
                bio.AddVec(data.AsMemory(at, n));
                at += n;
            }
        }

        return bio;
    }

    /// <summary>Submits <paramref name="bio"/> and sleeps until its callback ran; returns its status.</summary>
    protected static BlkStatus Io(Machine m, Bio bio)
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

    protected static bool WaitFor(Machine m, Func<bool> condition, int maxMs = 2000)
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

    protected static BlkStatus Write(Machine m, BlockDevice d, ulong sector, byte[] data, BioOpFlags flags = BioOpFlags.None, int segments = 1) =>
        Io(m, NewBio(d, BioOp.Write, sector, data, segments, flags));

    protected static byte[] Read(Machine m, BlockDevice d, ulong sector, int bytes, int segments = 1)
    {
        var buffer = new byte[bytes];
        Assert.Equal(BlkStatus.Ok, Io(m, NewBio(d, BioOp.Read, sector, buffer, segments)));
        return buffer;
    }

    protected static BlkStatus Flush(Machine m, BlockDevice d) => Io(m, new Bio(d, BioOp.Flush));

    protected static byte[] Content(SimulatedDisk d, ulong sector, int bytes)
    {
        var buffer = new byte[bytes];
        d.ReadContent(sector, buffer);
        return buffer;
    }

    // ---------------- data ----------------

    [Theory]
    [InlineData(0UL, 512, 1)]
    [InlineData(1UL, 512, 1)]
    [InlineData(3UL, 4096, 1)]
    [InlineData(7UL, 4096, 3)]
    [InlineData(13UL, 65536, 5)]
    [InlineData(16377UL, 3584, 7)]
    public void WriteThenRead_ReturnsTheData(ulong sector, int bytes, int segments)
    {
        OnDisk((m, d) =>
        {
            var data = Pattern(bytes, (int)sector + bytes);
            Assert.Equal(BlkStatus.Ok, Write(m, d, sector, data, segments: segments));
            Assert.Equal(data, Read(m, d, sector, bytes, segments: Math.Max(1, segments - 1)));
            Assert.Equal(data, Content(d, sector, bytes));
        });
    }

    [Fact]
    public void NeighbouringSectors_AreNotTouchedByAWrite()
    {
        OnDisk((m, d) =>
        {
            Assert.Equal(BlkStatus.Ok, Write(m, d, 9, Pattern(1024, 1)));
            var around = Read(m, d, 8, 2048);
            Assert.All(around.AsSpan(0, 512).ToArray(), b => Assert.Equal(0, b));
            Assert.All(around.AsSpan(1536, 512).ToArray(), b => Assert.Equal(0, b));
        });
    }

    [Fact]
    public void ReadOfNeverWrittenSectors_ReturnsZeros()
    {
        OnDisk((m, d) =>
        {
            Write(m, d, 0, Pattern(512, 2));
            var data = Read(m, d, 100, 8192, segments: 2);
            Assert.DoesNotContain(data, b => b != 0);
            Assert.DoesNotContain(Read(m, d, d.CapacitySectors - 8, 4096), b => b != 0);
        });
    }

    [Theory]
    [InlineData(BioOp.Write, 0L, 1)]
    [InlineData(BioOp.Read, 0L, 1)]
    [InlineData(BioOp.Write, -1L, 2)]
    [InlineData(BioOp.Read, 1L, 1)]
    public void BioBeyondCapacity_CompletesWithIoErr(BioOp op, long fromEnd, int sectors)
    {
        OnDisk((m, d) =>
        {
            var sector = (ulong)((long)d.CapacitySectors + fromEnd);
            var bio = NewBio(d, op, sector, new byte[sectors * BlockDevice.SectorSize]);
            Assert.Equal(BlkStatus.IoErr, Io(m, bio));
        });
    }

    [Fact]
    public void BioLargerThanMaxSectors_IsSplit_AndReadsBackIntact()
    {
        var options = Options(o => o with { Limits = new QueueLimits { MaxSectors = 16, MaxSegments = 4 } });
        OnDisk((m, d) =>
        {
            var data = Pattern(100 * BlockDevice.SectorSize, 5);
            var before = d.Submitted;
            Assert.Equal(BlkStatus.Ok, Write(m, d, 3, data, segments: 3));
            Assert.True(d.Submitted - before >= 7, $"{d.Submitted - before} pieces for 100 sectors at 16 per request");
            Assert.Equal(data, Read(m, d, 3, data.Length, segments: 9));
            Assert.Equal(data, Content(d, 3, data.Length));
        }, options);
    }

    [Fact]
    public void SplitBio_WithOneFailingPiece_CompletesOnceWithTheError()
    {
        var options = Options(o => o with { Limits = new QueueLimits { MaxSectors = 8 } });
        OnDisk((m, d) =>
        {
            d.AddFault(new FaultRule { Op = BioOp.Write, FirstSector = 20, LastSector = 20, Count = 1 });
            var calls = 0;
            var bio = NewBio(d, BioOp.Write, 0, Pattern(32 * BlockDevice.SectorSize, 6));
            bio.EndIoHandler = _ => Interlocked.Increment(ref calls);
            Assert.Equal(BlkStatus.IoErr, Io(m, bio));
            m.Msleep(2);
            Assert.Equal(1, Volatile.Read(ref calls));
        }, options);
    }

    // ---------------- completion context and CPU ----------------

    [Fact]
    public void Completion_RunsInHardirq_ByDefault()
    {
        OnDisk((m, d) =>
        {
            bool? hardirq = null;
            bool? softirq = null;
            var bio = NewBio(d, BioOp.Write, 0, Pattern(512, 1));
            bio.EndIoHandler = _ =>
            {
                hardirq = Context.InHardirq;
                softirq = Context.InServingSoftirq;
            };
            Assert.Equal(BlkStatus.Ok, Io(m, bio));
            Assert.True(hardirq);
            Assert.False(softirq);
        });
    }

    [Fact]
    public void Completion_RunsInSoftirq_WithSoftirqPath()
    {
        OnDisk((m, d) =>
        {
            bool? hardirq = null;
            bool? softirq = null;
            var bio = NewBio(d, BioOp.Read, 0, new byte[512]);
            bio.EndIoHandler = _ =>
            {
                hardirq = Context.InHardirq;
                softirq = Context.InServingSoftirq;
            };
            Assert.Equal(BlkStatus.Ok, Io(m, bio));
            Assert.True(softirq);
            Assert.False(hardirq);
        }, Options(o => o with { Completion = CompletionPath.Softirq }));
    }

    [Theory]
    [InlineData(IrqAffinity.Fixed, CompletionPath.Hardirq, 1)]
    [InlineData(IrqAffinity.Fixed, CompletionPath.Softirq, 3)]
    [InlineData(IrqAffinity.Submitter, CompletionPath.Hardirq, 2)]
    [InlineData(IrqAffinity.Submitter, CompletionPath.Softirq, 2)]
    public void CompletionCpu_FollowsTheAffinity(IrqAffinity affinity, CompletionPath path, int expectedCpu)
    {
        var options = Options(o => o with { Affinity = affinity, IrqCpu = affinity == IrqAffinity.Fixed ? expectedCpu : 0, Completion = path });
        OnDisk((m, d) =>
        {
            var cpus = new List<int>();
            var task = m.Spawn("submitter", () =>
            {
                for (var i = 0; i < 4; i++)
                {
                    var bio = NewBio(d, i % 2 == 0 ? BioOp.Write : BioOp.Read, (ulong)i * 8, new byte[4096]);
                    bio.EndIoHandler = _ =>
                    {
                        lock (cpus)
                        {
                            cpus.Add(Context.RawSmpProcessorId);
                        }
                    };
                    Assert.Equal(BlkStatus.Ok, Io(m, bio));
                }
            }, cpu: 2);
            task.WaitForExit();
            Assert.Equal(4, cpus.Count);
            Assert.All(cpus, c => Assert.Equal(expectedCpu, c));
        }, options, cpus: 4);
    }

    [Fact]
    public void PolledBio_CompletesInTheSubmittingTask_WhenItPolls()
    {
        OnDisk((m, d) =>
        {
            var task = m.Spawn("poller", () =>
            {
                var data = Pattern(8192, 9);
                TaskStruct? ranIn = null;
                var inTask = false;
                var cpu = -1;
                var calls = 0;
                var write = NewBio(d, BioOp.Write, 40, data, flags: BioOpFlags.Polled);
                write.EndIoHandler = _ =>
                {
                    calls++;
                    inTask = Context.InTask;
                    cpu = Context.RawSmpProcessorId;
                    ranIn = Current.Task;
                };
                write.Submit();
                m.Msleep(2);
                Assert.Equal(0, calls); // no interrupt: nothing completes it until the poll
                write.Poll();
                Assert.Equal(1, calls);
                Assert.True(inTask);
                Assert.Equal(1, cpu);
                Assert.Same(Current.Task, ranIn);
                Assert.Equal(BlkStatus.Ok, write.Status);

                var buffer = new byte[8192];
                var read = NewBio(d, BioOp.Read, 40, buffer, flags: BioOpFlags.Polled);
                read.Submit();
                read.Poll();
                Assert.Equal(data, buffer);
            }, cpu: 1);
            task.WaitForExit();
        });
    }

    [Fact]
    public void PollingABioThatIsNotPolled_Throws()
    {
        OnDisk((m, d) =>
        {
            var bio = NewBio(d, BioOp.Write, 0, new byte[512]);
            Assert.Equal(BlkStatus.Ok, Io(m, bio));
            Assert.Throws<InvalidOperationException>(bio.Poll);
        });
    }

    // ---------------- durability ----------------

    [Fact]
    public void WriteCache_CompletedWriteWithoutFlush_IsLostByPowerCut()
    {
        OnDisk((m, d) =>
        {
            var data = Pattern(4096, 11);
            Assert.Equal(BlkStatus.Ok, Write(m, d, 8, data));
            Assert.Equal(data, Content(d, 8, 4096)); // visible before the cut
            Assert.True(d.CachedBytes >= 4096);
            d.PowerCut();
            Assert.DoesNotContain(Content(d, 8, 4096), b => b != 0);
            Assert.DoesNotContain(Read(m, d, 8, 4096), b => b != 0);
            Assert.Equal(0, d.CachedBytes);
        });
    }

    [Fact]
    public void WriteCache_FlushAfterTheWrite_MakesItDurable()
    {
        OnDisk((m, d) =>
        {
            var a = Pattern(4096, 12);
            var b = Pattern(4096, 13);
            Assert.Equal(BlkStatus.Ok, Write(m, d, 0, a));
            var flushes = d.Flushes;
            Assert.Equal(BlkStatus.Ok, Flush(m, d));
            Assert.Equal(flushes + 1, d.Flushes);
            Assert.Equal(BlkStatus.Ok, Write(m, d, 64, b)); // after the flush: not durable
            d.PowerCut();
            Assert.Equal(a, Content(d, 0, 4096));
            Assert.DoesNotContain(Content(d, 64, 4096), x => x != 0);
        });
    }

    [Fact]
    public void WriteCache_FuaWrite_IsDurableOnItsOwn()
    {
        OnDisk((m, d) =>
        {
            var a = Pattern(4096, 14);
            var b = Pattern(4096, 15);
            Assert.Equal(BlkStatus.Ok, Write(m, d, 0, b));
            Assert.Equal(BlkStatus.Ok, Write(m, d, 16, a, BioOpFlags.Fua));
            d.PowerCut();
            Assert.Equal(a, Content(d, 16, 4096));
            Assert.DoesNotContain(Content(d, 0, 4096), x => x != 0);
        });
    }

    [Fact]
    public void WriteCache_FuaOverACachedWrite_SurvivesAndTheOlderCopyDoesNotComeBack()
    {
        OnDisk((m, d) =>
        {
            var older = Pattern(4096, 16);
            var newer = Pattern(4096, 17);
            Assert.Equal(BlkStatus.Ok, Write(m, d, 0, older));
            Assert.Equal(BlkStatus.Ok, Write(m, d, 0, newer, BioOpFlags.Fua));
            Assert.Equal(newer, Content(d, 0, 4096));
            Assert.Equal(BlkStatus.Ok, Flush(m, d)); // destages the older write: it must not overwrite
            Assert.Equal(newer, Content(d, 0, 4096));
            d.PowerCut();
            Assert.Equal(newer, Content(d, 0, 4096));
        });
    }

    [Fact]
    public void WriteCache_PreflushOnALaterWrite_MakesEarlierWritesDurable()
    {
        OnDisk((m, d) =>
        {
            var a = Pattern(4096, 18);
            var b = Pattern(4096, 19);
            Assert.Equal(BlkStatus.Ok, Write(m, d, 0, a));
            Assert.Equal(BlkStatus.Ok, Write(m, d, 32, b, BioOpFlags.Preflush));
            d.PowerCut();
            Assert.Equal(a, Content(d, 0, 4096));
            Assert.DoesNotContain(Content(d, 32, 4096), x => x != 0); // the preflush is before b, not after
        });
    }

    [Fact]
    public void WriteCacheOff_EveryCompletedWriteSurvives()
    {
        OnDisk((m, d) =>
        {
            var a = Pattern(4096, 20);
            var b = Pattern(1536, 21);
            Assert.Equal(BlkStatus.Ok, Write(m, d, 0, a));
            Assert.Equal(BlkStatus.Ok, Write(m, d, 101, b, segments: 3));
            Assert.Equal(0, d.CachedBytes);
            Assert.Equal(0, d.PowerCut());
            Assert.Equal(a, Content(d, 0, 4096));
            Assert.Equal(b, Content(d, 101, 1536));
        }, Options(o => o with { WriteCache = false }));
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void TornPowerCut_AppliesWholeWrites_AndNeverOlderOverNewer(ulong seed)
    {
        const int Rounds = 24;
        OnDisk((m, d) =>
        {
            var outcomes = new HashSet<(byte Head, byte Tail)>();
            for (var round = 0; round < Rounds; round++)
            {
                var baseSector = (ulong)round * 16;

                // Write 1 fills sectors 4..11 with 1; write 2 (later) fills sectors 0..7 with 2.
                // Sectors 0..3 show whether write 2 reached the media, 8..11 whether write 1 did.
                Assert.Equal(BlkStatus.Ok, Write(m, d, baseSector + 4, Filled(8, 1)));
                Assert.Equal(BlkStatus.Ok, Write(m, d, baseSector, Filled(8, 2)));
                d.PowerCut(torn: true);
                var content = Content(d, baseSector, 12 * BlockDevice.SectorSize);
                var values = new byte[12];
                for (var s = 0; s < 12; s++)
                {
                    var sector = content.AsSpan(s * BlockDevice.SectorSize, BlockDevice.SectorSize);
                    values[s] = sector[0];
                    Assert.False(sector.ContainsAnyExcept(sector[0]), $"round {round}: sector {s} mixes data");
                }

                var label = $"round {round}: sectors {string.Join(",", values)}";
                Assert.True(values[..4].All(v => v == values[0]) && values[0] is 0 or 2, label);
                Assert.True(values[8..].All(v => v == values[8]) && values[8] is 0 or 1, label);
                Assert.True(values[4..8].All(v => v == values[4]), label);
                var newerApplied = values[0] == 2;
                var olderApplied = values[8] == 1;
                if (newerApplied)
                {
                    Assert.True(values[4] == 2, "the older write came back over the newer: " + label);
                }
                else if (olderApplied)
                {
                    Assert.True(values[4] is 0 or 1, label);
                }
                else
                {
                    Assert.True(values[4] == 0, label);
                }

                outcomes.Add((values[0], values[8]));
            }

            // Over the rounds, both writes were applied together at least once (the ordering case).
            Assert.Contains(((byte)2, (byte)1), outcomes);
        }, seed: seed);
    }

    [Fact]
    public void TornPowerCut_ReturnsHowManyCachedWritesItApplied()
    {
        OnDisk((m, d) =>
        {
            for (var i = 0; i < 16; i++)
            {
                Assert.Equal(BlkStatus.Ok, Write(m, d, (ulong)i * 8, Filled(1, (byte)(i + 1))));
            }

            var applied = d.PowerCut(torn: true);
            var present = Enumerable.Range(0, 16).Count(i => Content(d, (ulong)i * 8, 512)[0] == i + 1);
            Assert.Equal(applied, present);
            Assert.InRange(applied, 1, 15);
        });
    }

    [Fact]
    public void InFlightRequestsAtPowerCut_CompleteWithIoErr_WithoutTouchingTheMedia()
    {
        OnDisk((m, d) =>
        {
            var statuses = new BlkStatus?[4];
            var bios = new List<Bio>();
            for (var i = 0; i < 4; i++)
            {
                var id = i;
                var bio = NewBio(d, i == 3 ? BioOp.Read : BioOp.Write, (ulong)i * 8, i == 3 ? new byte[512] : Filled(1, 7), flags: i == 2 ? BioOpFlags.Fua : BioOpFlags.None);
                bio.EndIoHandler = b => statuses[id] = b.Status;
                bios.Add(bio);
                bio.Submit();
            }

            d.PowerCut();
            Assert.True(WaitFor(m, () => statuses.All(s => s is not null)));
            Assert.All(statuses, s => Assert.Equal(BlkStatus.IoErr, s));
            Assert.DoesNotContain(Content(d, 0, 32 * BlockDevice.SectorSize), b => b != 0);

            // The device works again after the cut.
            Assert.Equal(BlkStatus.Ok, Write(m, d, 0, Filled(1, 9)));
            Assert.Equal(Filled(1, 9), Read(m, d, 0, 512));
        }, Options(o => o with { Latency = LatencyModel.Constant(1_000_000) }));
    }

    [Fact]
    public void PolledBioInFlightAtPowerCut_CompletesWithIoErr()
    {
        OnDisk((m, d) =>
        {
            var bio = NewBio(d, BioOp.Write, 0, Filled(1, 3), flags: BioOpFlags.Polled);
            bio.Submit();
            d.PowerCut();
            bio.Poll();
            Assert.Equal(BlkStatus.IoErr, bio.Status);
            Assert.DoesNotContain(Content(d, 0, 512), b => b != 0);
        });
    }

    protected static byte[] Filled(int sectors, byte value)
    {
        var data = new byte[sectors * BlockDevice.SectorSize];
        data.AsSpan().Fill(value);
        return data;
    }
}

/// <summary>The concrete contract suites, one per media (nested: one top-level type per file).</summary>
public static class DiskContractTests
{
    /// <summary>The contract on a memory-backed disk.</summary>
    public sealed class MemDiskContractTests : DiskContractTests<MemDisk>
    {
        protected override MemDisk CreateDisk(BlockLayer layer, DiskOptions options) => new(layer, options);

        [Fact]
        public void DurableImage_HoldsOnlyWhatReachedTheMedia()
        {
            OnDisk((m, d) =>
            {
                var a = Pattern(4096, 30);
                Assert.Equal(BlkStatus.Ok, Write(m, d, 0, a));
                var image = new byte[4096];
                d.DurableImage().Read(0, image);
                Assert.DoesNotContain(image, b => b != 0);
                Assert.Equal(BlkStatus.Ok, Flush(m, d));
                d.DurableImage().Read(0, image);
                Assert.Equal(a, image);
            });
        }
    }

    /// <summary>The contract on a file-backed disk: a fresh image file per test.</summary>
    public sealed class FileDiskContractTests : DiskContractTests<FileDisk>
    {
        private readonly string _path = Path.Combine(Path.GetTempPath(), $"wb-disk-{Guid.NewGuid():N}.img");
        private readonly List<FileDisk> _disks = [];

        protected override FileDisk CreateDisk(BlockLayer layer, DiskOptions options)
        {
            var disk = new FileDisk(layer, _path, options);
            lock (_disks)
            {
                _disks.Add(disk);
            }

            return disk;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                foreach (var d in _disks)
                {
                    d.Dispose();
                }

                File.Delete(_path);
            }

            base.Dispose(disposing);
        }

        [Fact]
        public void NewImage_IsSizedToTheCapacity()
        {
            OnDisk((_, d) =>
            {
                Assert.Equal((ulong)Capacity / BlockDevice.SectorSize, d.CapacitySectors);
                Assert.Equal(_path, d.Path);
            });
            Assert.Equal(Capacity, new FileInfo(_path).Length);
        }

        [Fact]
        public void FlushedData_IsThereAfterReopeningThePath_AndUnflushedDataIsNot()
        {
            var flushed = Pattern(8192, 40);
            var cached = Pattern(4096, 41);
            OnDisk((m, d) =>
            {
                Assert.Equal(BlkStatus.Ok, Write(m, d, 5, flushed, segments: 2));
                Assert.Equal(BlkStatus.Ok, Flush(m, d));
                Assert.Equal(BlkStatus.Ok, Write(m, d, 200, cached));
                d.Dispose();

                var again = CreateDisk(d.Layer, Options(o => o with { Name = "again", CapacityBytes = 1L << 20 }));
                Assert.Equal((ulong)Capacity / BlockDevice.SectorSize, again.CapacitySectors); // the image's size wins
                Assert.Equal(flushed, Read(m, again, 5, flushed.Length));
                Assert.DoesNotContain(Read(m, again, 200, 4096), b => b != 0);
            });
        }

        [Fact]
        public void FuaAndWriteCacheOffWrites_AreOnTheFileWithoutAFlush()
        {
            var fua = Pattern(4096, 42);
            var direct = Pattern(4096, 43);
            OnDisk((m, d) =>
            {
                Assert.Equal(BlkStatus.Ok, Write(m, d, 0, fua, BioOpFlags.Fua));
                d.Dispose();
                var noCache = CreateDisk(d.Layer, Options(o => o with { Name = "nocache", WriteCache = false }));
                Assert.Equal(BlkStatus.Ok, Write(m, noCache, 64, direct));
                noCache.Dispose();
            });

            using var file = File.OpenRead(_path);
            var buffer = new byte[4096];
            file.ReadExactly(buffer);
            Assert.Equal(fua, buffer);
            file.Position = 64 * BlockDevice.SectorSize;
            file.ReadExactly(buffer);
            Assert.Equal(direct, buffer);
        }

        [Fact]
        public void FileWhoseLengthIsNotWholeSectors_IsRejected_NamingThePath()
        {
            File.WriteAllBytes(_path, new byte[1000]);
            using var m = MachineFixture.Create();
            Exception? thrown = null;
            m.Run(() =>
            {
                var layer = BlockLayer.Create(m);
                thrown = Record.Exception(() => new FileDisk(layer, _path, Options()));
            });
            var ex = Assert.IsType<InvalidDataException>(thrown);
            Assert.Contains(_path, ex.Message, StringComparison.Ordinal);

            // The rejected file is closed and left as it was.
            Assert.Equal(1000, new FileInfo(_path).Length);
            using var reopened = File.Open(_path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        }

        [Fact]
        public void InvalidOptions_LeaveNoFileBehindAndNoHandleOpen()
        {
            using var m = MachineFixture.Create();
            Exception? thrown = null;
            m.Run(() =>
            {
                var layer = BlockLayer.Create(m);
                thrown = Record.Exception(() => new FileDisk(layer, _path, Options(o => o with { CapacityBytes = 1000 })));
            });
            Assert.IsType<ArgumentOutOfRangeException>(thrown);

            // Expected: the path is free to open, and no 1000-byte "image" was left there.
            using (File.Open(_path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
            {
            }

            Assert.NotEqual(1000, new FileInfo(_path).Length);
        }
    }
}
