using System.Threading;
using Writeback.Kernel;

namespace Writeback.Tests.Kernel;

/// <summary>Sleeping locks: the mutex (exclusion, owner, trylock, misuse) and the rw semaphore
/// (shared readers, exclusive writers, no writer starvation, misuse).</summary>
public class SleepingLockTests
{
    private static Machine NewMachine(int cpus = 4, ulong seed = 1, EngineKind engine = EngineKind.Deterministic, LockdepMode lockdep = LockdepMode.Fail) =>
        Machine.Create(new MachineOptions { Engine = engine, Cpus = cpus, Seed = seed, Lockdep = lockdep });

    private static void SleepUntil(Machine m, Func<bool> condition)
    {
        while (!condition())
        {
            m.Msleep(1);
        }
    }

    private static void JoinAll(IEnumerable<TaskStruct> tasks)
    {
        foreach (var t in tasks)
        {
            t.WaitForExit();
        }
    }

    // ---------------- mutex ----------------

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    public void Mutex_ExcludesUnderContention_WhileHoldersSleep(ulong seed)
    {
        using var m = NewMachine(seed: seed);
        var mutex = new Writeback.Kernel.Mutex("test_mutex_contended");
        var inside = 0;
        var max = 0;
        var total = 0;
        var wrongOwner = 0;
        m.Run(() =>
        {
            JoinAll(Enumerable.Range(0, 4).Select(i => m.Spawn($"locker{i}", () =>
            {
                for (var k = 0; k < 50; k++)
                {
                    mutex.Lock();
                    var n = Interlocked.Increment(ref inside);
                    max = Math.Max(max, n);
                    if (mutex.Owner != Current.Task || !mutex.IsLocked)
                    {
                        Interlocked.Increment(ref wrongOwner);
                    }

                    m.Msleep(1);
                    total++;
                    Interlocked.Decrement(ref inside);
                    mutex.Unlock();
                    if (k % 3 == 0)
                    {
                        m.Msleep(1);
                    }
                }
            }, i)).ToList());
        });
        Assert.Equal(1, max);
        Assert.Equal(200, total);
        Assert.Equal(0, wrongOwner);
        Assert.Empty(m.Reports);
    }

    [Fact]
    public void Mutex_TracksOwner()
    {
        using var m = NewMachine();
        var mutex = new Writeback.Kernel.Mutex("test_mutex_owner");
        m.Run(() =>
        {
            Assert.Null(mutex.Owner);
            Assert.False(mutex.IsLocked);
            mutex.Lock();
            Assert.Same(Current.Task, mutex.Owner);
            Assert.True(mutex.IsLocked);
            mutex.AssertHeld();
            var me = Current.Task;
            var other = m.Spawn("observer", () =>
            {
                Assert.Same(me, mutex.Owner);
                Assert.False(mutex.TryLock());
            }, 1);
            other.WaitForExit();
            mutex.Unlock();
            Assert.Null(mutex.Owner);
            Assert.False(mutex.IsLocked);
        });
    }

    [Fact]
    public void Mutex_TryLock_SucceedsWhenFreeAndFailsWhenHeld()
    {
        using var m = NewMachine();
        var mutex = new Writeback.Kernel.Mutex("test_mutex_trylock");
        m.Run(() =>
        {
            Assert.True(mutex.TryLock());
            Assert.Same(Current.Task, mutex.Owner);
            var gotWhileHeld = true;
            var gotAfter = false;
            var released = new Completion();
            var t = m.Spawn("trier", () =>
            {
                gotWhileHeld = mutex.TryLock();
                released.WaitForCompletion();
                gotAfter = mutex.TryLock();
                if (gotAfter)
                {
                    mutex.Unlock();
                }
            }, 2);
            m.Msleep(2);
            mutex.Unlock();
            released.Complete();
            t.WaitForExit();
            Assert.False(gotWhileHeld);
            Assert.True(gotAfter);
        });
    }

    [Fact]
    public void Mutex_WaiterSleepsUntilRelease()
    {
        using var m = NewMachine();
        var mutex = new Writeback.Kernel.Mutex("test_mutex_sleep");
        var acquired = false;
        m.Run(() =>
        {
            mutex.Lock();
            var waiter = m.Spawn("waiter", () =>
            {
                mutex.Lock();
                Volatile.Write(ref acquired, true);
                mutex.Unlock();
            }, 1);
            m.Msleep(20);
            Assert.False(Volatile.Read(ref acquired));
            mutex.Unlock();
            waiter.WaitForExit();
            Assert.True(Volatile.Read(ref acquired));
        });
    }

    [Fact]
    public void Mutex_UnlockByNonOwner_FailsTheRun()
    {
        using var m = NewMachine();
        var mutex = new Writeback.Kernel.Mutex("test_mutex_nonowner");
        var ex = Assert.Throws<MachineFailedException>(() => m.Run(() =>
        {
            mutex.Lock();
            var thief = m.Spawn("thief", mutex.Unlock, 1);
            thief.WaitForExit();
            mutex.Unlock();
        }));
        Assert.Contains("is not held by thief", ex.Message);
        Assert.Contains("seed 1", ex.Message);
        Assert.IsType<KernelBugException>(ex.InnerException);
    }

    [Fact]
    public void Mutex_UnlockWhenFree_FailsTheRun()
    {
        using var m = NewMachine();
        var mutex = new Writeback.Kernel.Mutex("test_mutex_free_unlock");
        var ex = Assert.Throws<MachineFailedException>(() => m.Run(mutex.Unlock));
        Assert.Contains("mutex_unlock", ex.Message);
    }

    [Fact]
    public void Mutex_LockWithPreemptionDisabled_ReportsSleepingInAtomic()
    {
        using var m = NewMachine(lockdep: LockdepMode.Report);
        var mutex = new Writeback.Kernel.Mutex("test_mutex_atomic");
        m.Run(() =>
        {
            Context.PreemptDisable();
            mutex.Lock();
            Context.PreemptEnable();
            mutex.Unlock();
        });
        var r = Assert.Single(m.Reports, r => r.Kind == ReportKind.SleepInAtomic);
        Assert.Contains("BUG: sleeping function called from invalid context", r.Text);
    }

    [Fact]
    public void Mutex_RecursiveLock_FailsTheRun()
    {
        using var m = NewMachine();
        var mutex = new Writeback.Kernel.Mutex("test_mutex_recursive");
        var ex = Assert.Throws<MachineFailedException>(() => m.Run(() =>
        {
            mutex.Lock();
            mutex.Lock();
        }));
        Assert.Contains("recursive locking", ex.Message);
    }

    // ---------------- rw semaphore ----------------

    [Fact]
    public void RwSem_ManyReadersHoldItAtOnce()
    {
        using var m = NewMachine();
        var sem = new RwSemaphore("test_rwsem_readers");
        var wq = new WaitQueueHead();
        var inside = 0;
        var maxReaders = 0;
        m.Run(() =>
        {
            JoinAll(Enumerable.Range(0, 3).Select(i => m.Spawn($"reader{i}", () =>
            {
                sem.DownRead();
                Interlocked.Increment(ref inside);
                wq.WakeUpAll();

                // Every reader waits, holding the semaphore, until all three hold it.
                wq.WaitEvent(() => Volatile.Read(ref inside) == 3);
                maxReaders = Math.Max(maxReaders, sem.Readers);
                Assert.Null(sem.Writer);
                m.Msleep(1);
                sem.UpRead();
            }, i + 1)).ToList());
            Assert.Equal(0, sem.Readers);
        });
        Assert.Equal(3, maxReaders);
    }

    [Fact]
    public void RwSem_WriterExcludesReadersAndWriters()
    {
        using var m = NewMachine();
        var sem = new RwSemaphore("test_rwsem_writer");
        var readersIn = 0;
        var readersDone = 0;
        m.Run(() =>
        {
            sem.DownWrite();
            Assert.Same(Current.Task, sem.Writer);
            var writerIn = false;
            var readers = Enumerable.Range(0, 2).Select(i => m.Spawn($"reader{i}", () =>
            {
                sem.DownRead();
                Interlocked.Increment(ref readersIn);
                m.Msleep(1);
                sem.UpRead();
                Interlocked.Increment(ref readersDone);
            }, i + 1)).ToList();
            var writer2 = m.Spawn("writer2", () =>
            {
                sem.DownWrite();
                Volatile.Write(ref writerIn, true);
                sem.UpWrite();
            }, 3);
            m.Msleep(20);
            Assert.Equal(0, Volatile.Read(ref readersIn));
            Assert.False(Volatile.Read(ref writerIn));
            Assert.Equal(0, sem.Readers);
            sem.UpWrite();
            JoinAll(readers);
            writer2.WaitForExit();
            Assert.True(writerIn);
            Assert.Null(sem.Writer);
        });
        Assert.Equal(2, readersDone);
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void RwSem_MixedTraffic_WriterAlwaysAlone(ulong seed)
    {
        using var m = NewMachine(seed: seed);
        var sem = new RwSemaphore("test_rwsem_mixed");
        var readers = 0;
        var writers = 0;
        var violations = 0;
        var reads = 0;
        var writes = 0;
        m.Run(() =>
        {
            JoinAll(Enumerable.Range(0, 4).Select(i => m.Spawn($"rw{i}", () =>
            {
                for (var k = 0; k < 30; k++)
                {
                    if ((k + i) % 4 == 0)
                    {
                        sem.DownWrite();
                        if (Interlocked.Increment(ref writers) != 1 || Volatile.Read(ref readers) != 0)
                        {
                            Interlocked.Increment(ref violations);
                        }

                        m.Msleep(1);
                        Interlocked.Increment(ref writes);
                        Interlocked.Decrement(ref writers);
                        sem.UpWrite();
                    }
                    else
                    {
                        sem.DownRead();
                        Interlocked.Increment(ref readers);
                        if (Volatile.Read(ref writers) != 0)
                        {
                            Interlocked.Increment(ref violations);
                        }

                        Context.Point();
                        Interlocked.Increment(ref reads);
                        Interlocked.Decrement(ref readers);
                        sem.UpRead();
                    }
                }
            }, i)).ToList());
        });
        Assert.Equal(0, violations);
        Assert.Equal(120, reads + writes);
        Assert.Equal(30, writes);
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void RwSem_WriterIsNotStarvedByOverlappingReaders(ulong seed)
    {
        using var m = NewMachine(seed: seed);
        var sem = new RwSemaphore("test_rwsem_starve");
        var writerWaiting = false;
        var writerDone = false;
        var readsWhileWriterWaited = 0;
        var readerIterations = 0;
        m.Run(() =>
        {
            // Two readers with overlapping holds: the semaphore is never free of readers.
            var readers = Enumerable.Range(0, 2).Select(i => m.Spawn($"reader{i}", () =>
            {
                for (var k = 0; k < 300 && !Volatile.Read(ref writerDone); k++)
                {
                    sem.DownRead();
                    if (Volatile.Read(ref writerWaiting) && !Volatile.Read(ref writerDone))
                    {
                        Interlocked.Increment(ref readsWhileWriterWaited);
                    }

                    Interlocked.Increment(ref readerIterations);
                    m.Msleep(1 + i);
                    sem.UpRead();
                }
            }, i + 1)).ToList();
            SleepUntil(m, () => Volatile.Read(ref readerIterations) >= 6);
            var writer = m.Spawn("writer", () =>
            {
                Volatile.Write(ref writerWaiting, true);
                sem.DownWrite();
                Assert.Equal(0, sem.Readers);
                Volatile.Write(ref writerDone, true);
                sem.UpWrite();
            }, 3);
            writer.WaitForExit();
            JoinAll(readers);
        });
        Assert.True(writerDone);

        // Once the writer waits, new readers queue behind it: at most a reader that was
        // already between the flag and its own down_read gets in.
        Assert.InRange(readsWhileWriterWaited, 0, 2);
        Assert.True(readerIterations < 100, $"readers ran {readerIterations} iterations before the writer got in");
    }

    [Fact]
    public void RwSem_UpReadWithoutReaders_FailsTheRun()
    {
        using var m = NewMachine(lockdep: LockdepMode.Off);
        var sem = new RwSemaphore("test_rwsem_upread");
        var ex = Assert.Throws<MachineFailedException>(() => m.Run(sem.UpRead));
        Assert.Contains("has no readers", ex.Message);
    }

    [Fact]
    public void RwSem_UpWriteByNonOwner_FailsTheRun()
    {
        using var m = NewMachine();
        var sem = new RwSemaphore("test_rwsem_upwrite");
        var ex = Assert.Throws<MachineFailedException>(() => m.Run(() =>
        {
            sem.DownWrite();
            m.Spawn("thief", sem.UpWrite, 1).WaitForExit();
            sem.UpWrite();
        }));
        Assert.Contains("is not held for writing by thief", ex.Message);
    }

    /// <summary>Smoke runs on both engines; real threads run in the serial collection.</summary>
    [Collection("RealEngine")]
    public class OnBothEngines
    {
        [Theory]
        [InlineData(EngineKind.Deterministic)]
        [InlineData(EngineKind.Real)]
        public void Mutex_ExcludesAcrossCpus(EngineKind engine)
        {
            using var m = NewMachine(engine: engine);
            var mutex = new Writeback.Kernel.Mutex("test_mutex_smoke");
            var inside = 0;
            var max = 0;
            var total = 0;
            m.Run(() =>
            {
                JoinAll(Enumerable.Range(0, 4).Select(i => m.Spawn($"t{i}", () =>
                {
                    for (var k = 0; k < 25; k++)
                    {
                        mutex.Lock();
                        var n = Interlocked.Increment(ref inside);
                        max = Math.Max(max, n);
                        Context.CondResched();
                        total++;
                        Interlocked.Decrement(ref inside);
                        mutex.Unlock();
                    }
                }, i)).ToList());
            });
            Assert.Equal(1, max);
            Assert.Equal(100, total);
        }

        [Theory]
        [InlineData(EngineKind.Deterministic)]
        [InlineData(EngineKind.Real)]
        public void RwSem_WriterAloneReadersShared(EngineKind engine)
        {
            using var m = NewMachine(engine: engine);
            var sem = new RwSemaphore("test_rwsem_smoke");
            var readers = 0;
            var writers = 0;
            var violations = 0;
            m.Run(() =>
            {
                JoinAll(Enumerable.Range(0, 4).Select(i => m.Spawn($"rw{i}", () =>
                {
                    for (var k = 0; k < 25; k++)
                    {
                        if (k % 5 == i % 5)
                        {
                            sem.DownWrite();
                            if (Interlocked.Increment(ref writers) != 1 || Volatile.Read(ref readers) != 0)
                            {
                                Interlocked.Increment(ref violations);
                            }

                            Context.CondResched();
                            Interlocked.Decrement(ref writers);
                            sem.UpWrite();
                        }
                        else
                        {
                            sem.DownRead();
                            Interlocked.Increment(ref readers);
                            if (Volatile.Read(ref writers) != 0)
                            {
                                Interlocked.Increment(ref violations);
                            }

                            Context.CondResched();
                            Interlocked.Decrement(ref readers);
                            sem.UpRead();
                        }
                    }
                }, i)).ToList());
            });
            Assert.Equal(0, violations);
        }
    }
}
