using Writeback.Kernel;
using Writeback.Lib;

namespace Writeback.Tests.Lib;

/// <summary>lib/errseq.c: the counter moves only after an error was seen; each sample learns of each error once.</summary>
public class ErrseqTests
{
    [Fact]
    public void Sample_OfANewSequenceIsZero_AndCheckSeesNothing()
    {
        var e = new Errseq();
        Assert.Equal(0u, e.Sample());
        Assert.Equal(Errno.None, e.Check(e.Sample()));
    }

    [Fact]
    public void AnErrorSetBeforeTheSample_IsStillReportedWhileUnseen()
    {
        var e = new Errseq();
        e.Set(Errno.EIO);
        var since = e.Sample();
        Assert.Equal(0u, since);
        Assert.Equal(Errno.EIO, e.CheckAndAdvance(ref since));
        Assert.Equal(Errno.None, e.CheckAndAdvance(ref since));
        Assert.NotEqual(0u, e.Value & Errseq.Seen);
    }

    [Fact]
    public void SettingAnUnseenErrorAgain_DoesNotMoveTheCounter()
    {
        var e = new Errseq();
        var a = e.Set(Errno.EIO);
        var b = e.Set(Errno.EIO);
        Assert.Equal(a, b);
        Assert.Equal(Errno.ENOSPC, (Errno)(e.Set(Errno.ENOSPC) & Errseq.ErrnoMask));
        Assert.Equal(a & ~Errseq.ErrnoMask, e.Value & ~Errseq.ErrnoMask);
    }

    [Fact]
    public void AnErrorAfterASeenOne_MovesTheCounter_SoEverySampleSeesItOnce()
    {
        var e = new Errseq();
        e.Set(Errno.EIO);
        uint first = 0;
        uint second = 0;
        Assert.Equal(Errno.EIO, e.CheckAndAdvance(ref first));
        Assert.Equal(Errno.EIO, e.CheckAndAdvance(ref second));
        var before = e.Value;
        e.Set(Errno.EIO);
        Assert.Equal(before + Errseq.CounterStep - Errseq.Seen, e.Value);
        Assert.Equal(Errno.EIO, e.CheckAndAdvance(ref first));
        Assert.Equal(Errno.EIO, e.CheckAndAdvance(ref second));
        Assert.Equal(Errno.None, e.CheckAndAdvance(ref first));
    }

    [Fact]
    public void Set_OfNoError_Throws() => Assert.Throws<ArgumentOutOfRangeException>(() => new Errseq().Set(Errno.None));
}
