using CsCheck;
using Writeback.Diagnostics;
using Writeback.Lib;

namespace Writeback.Tests.Lib;

public class LatencyHistogramTests
{
    [Fact]
    public void Empty_ReportsZeroEverywhere()
    {
        var h = new LatencyHistogram();

        Assert.Equal(0, h.Count);
        Assert.Equal(0, h.Total);
        Assert.Equal(0, h.Min);
        Assert.Equal(0, h.Max);
        Assert.Equal(0.0, h.Mean);
        Assert.Equal(0, h.Percentile(50));
        Assert.Equal(0, h.Percentile(100));
        Assert.Empty(h.Buckets());
    }

    [Fact]
    public void ValuesBelowSixteen_AreKeptExactly()
    {
        var h = new LatencyHistogram();
        for (long v = 0; v < 16; v++)
        {
            h.Record(v);
        }

        Assert.Equal(16, h.Count);
        Assert.Equal(120, h.Total);
        Assert.Equal(0, h.Min);
        Assert.Equal(15, h.Max);
        Assert.Equal(7.5, h.Mean);

        // Rank ceil(p/100 * 16) over the values 0..15: the value is rank - 1, exactly.
        Assert.Equal(0, h.Percentile(0));
        Assert.Equal(7, h.Percentile(50));
        Assert.Equal(14, h.Percentile(90));
        Assert.Equal(15, h.Percentile(99));
        Assert.Equal(15, h.Percentile(100));

        var buckets = h.Buckets().ToList();
        Assert.Equal(16, buckets.Count);
        Assert.All(buckets, b => Assert.Equal(b.Low, b.High));
        Assert.All(buckets, b => Assert.Equal(1, b.Count));
    }

    [Fact]
    public void NegativeValues_CountAsZero()
    {
        var h = new LatencyHistogram();
        h.Record(-5);
        h.Record(3);

        Assert.Equal(2, h.Count);
        Assert.Equal(0, h.Min);
        Assert.Equal(3, h.Total);
        Assert.Equal(0, h.Percentile(50));
    }

    [Fact]
    public void MinMaxTotalAndMean_AreExactForLargeValues()
    {
        var h = new LatencyHistogram();
        long[] values = [1_000_003, 17, 999_999_937, 123_457];
        foreach (var v in values)
        {
            h.Record(v);
        }

        Assert.Equal(17, h.Min);
        Assert.Equal(999_999_937, h.Max);
        Assert.Equal(values.Sum(), h.Total);
        Assert.Equal(values.Sum() / 4.0, h.Mean);
        Assert.Equal(h.Max, h.Percentile(100));
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(100.1)]
    public void Percentile_OutsideZeroToHundred_Throws(double p)
    {
        var h = new LatencyHistogram();
        h.Record(10);

        Assert.Throws<ArgumentOutOfRangeException>(() => h.Percentile(p));
    }

    [Fact]
    public void Percentile_IsNeverAboveMax_AndNeverBelowTheTrueValue()
    {
        Gen.Long[0, 1L << 42].Array[1, 300].Sample(values =>
        {
            var h = new LatencyHistogram();
            foreach (var v in values)
            {
                h.Record(v);
            }

            var sorted = values.Order().ToArray();
            foreach (var p in new[] { 0.0, 1, 25, 50, 90, 99, 99.9, 100 })
            {
                var got = h.Percentile(p);
                var rank = Math.Max(1, (long)Math.Ceiling(p / 100.0 * sorted.Length));
                var exact = sorted[rank - 1];
                Assert.True(got <= h.Max, $"p{p}: {got} above max {h.Max}");
                Assert.True(got >= exact, $"p{p}: {got} below the true value {exact}");
            }
        });
    }

    [Fact]
    public void Percentile_IsWithinASixteenthOfTheTrueValue()
    {
        Gen.Long[0, 1L << 50].Array[1, 300].Sample(values =>
        {
            var h = new LatencyHistogram();
            foreach (var v in values)
            {
                h.Record(v);
            }

            var sorted = values.Order().ToArray();
            foreach (var p in new[] { 10.0, 50, 75, 90, 99, 99.9 })
            {
                var got = h.Percentile(p);
                var exact = sorted[Math.Max(1, (long)Math.Ceiling(p / 100.0 * sorted.Length)) - 1];

                // 16 linear sub-buckets per power of two: a bucket is at most 1/16 (6.25 %) of its lower bound wide.
                Assert.True(got - exact <= exact / 16, $"p{p}: {got} vs true {exact}: more than 6.25 % off");
            }
        });
    }

    [Fact]
    public void Add_GivesTheSameHistogramAsRecordingEverythingInOne()
    {
        Gen.Select(Gen.Long[0, 1L << 40].Array[0, 100], Gen.Long[0, 1L << 40].Array[0, 100]).Sample((a, b) =>
        {
            var left = new LatencyHistogram();
            var right = new LatencyHistogram();
            var all = new LatencyHistogram();
            foreach (var v in a)
            {
                left.Record(v);
                all.Record(v);
            }

            foreach (var v in b)
            {
                right.Record(v);
                all.Record(v);
            }

            left.Add(right);

            Assert.Equal(all.Count, left.Count);
            Assert.Equal(all.Total, left.Total);
            Assert.Equal(all.Min, left.Min);
            Assert.Equal(all.Max, left.Max);
            Assert.Equal(all.Buckets().ToList(), left.Buckets().ToList());
            foreach (var p in new[] { 0.0, 50, 99, 100 })
            {
                Assert.Equal(all.Percentile(p), left.Percentile(p));
            }
        });
    }

    [Fact]
    public void Add_IntoEmpty_TakesTheOthersMin_AndAddingEmptyChangesNothing()
    {
        var empty = new LatencyHistogram();
        var h = new LatencyHistogram();
        h.Record(500);
        h.Record(40);

        empty.Add(h);
        h.Add(new LatencyHistogram());

        Assert.Equal(40, empty.Min);
        Assert.Equal(500, empty.Max);
        Assert.Equal(2, empty.Count);
        Assert.Equal(40, h.Min);
        Assert.Equal(2, h.Count);
        Assert.Equal(540, h.Total);
    }

    [Fact]
    public void Clear_ForgetsEverything_AndTheHistogramIsReusable()
    {
        var h = new LatencyHistogram();
        h.Record(7);
        h.Record(7_000_000);

        h.Clear();

        Assert.Equal(0, h.Count);
        Assert.Equal(0, h.Total);
        Assert.Equal(0, h.Min);
        Assert.Equal(0, h.Max);
        Assert.Empty(h.Buckets());
        Assert.Equal(0, h.Percentile(99));

        h.Record(900);
        Assert.Equal(900, h.Min);
        Assert.Equal(900, h.Max);
        Assert.Equal(1, h.Count);
    }

    [Fact]
    public void Buckets_AreAscending_HoldTheirValues_AndCountEveryValue()
    {
        Gen.Long[0, 1L << 45].Array[1, 200].Sample(values =>
        {
            var h = new LatencyHistogram();
            foreach (var v in values)
            {
                h.Record(v);
            }

            var buckets = h.Buckets().ToList();
            Assert.Equal(values.Length, buckets.Sum(b => b.Count));
            for (var i = 1; i < buckets.Count; i++)
            {
                Assert.True(buckets[i - 1].High < buckets[i].Low, "buckets are disjoint and ascending");
            }

            foreach (var v in values)
            {
                var holding = buckets.Where(b => b.Low <= v && v <= b.High).ToList();
                Assert.Single(holding);
                Assert.True(holding[0].High - holding[0].Low <= holding[0].Low / 16, $"bucket [{holding[0].Low}, {holding[0].High}] is wider than 1/16");
            }
        });
    }

    [Fact]
    public void Buckets_OfOneLargeValue_IsOneNarrowBucketAroundIt()
    {
        var h = new LatencyHistogram();
        h.Record(1000);

        var b = Assert.Single(h.Buckets());

        // 1000 lies in [512, 1024): sub-buckets of 32, so [992, 1023].
        Assert.Equal(992, b.Low);
        Assert.Equal(1023, b.High);
        Assert.Equal(1, b.Count);
        Assert.Equal(1000, h.Percentile(50));
    }

    [Fact]
    public void Summary_OfEmptyHistogram_IsEmpty()
    {
        Assert.Equal(LatencySummary.Empty, LatencySummary.From(new LatencyHistogram()));
    }

    [Fact]
    public void Summary_CarriesCountMinPercentilesMaxAndMean()
    {
        var h = new LatencyHistogram();
        for (long v = 1; v <= 1000; v++)
        {
            h.Record(v * 1000);
        }

        var s = LatencySummary.From(h);

        Assert.Equal(1000, s.Count);
        Assert.Equal(1000, s.MinNs);
        Assert.Equal(1_000_000, s.MaxNs);
        Assert.Equal(500_500.0, s.MeanNs);
        Assert.Equal(h.Percentile(50), s.P50Ns);
        Assert.Equal(h.Percentile(90), s.P90Ns);
        Assert.Equal(h.Percentile(99), s.P99Ns);
        Assert.Equal(h.Percentile(99.9), s.P999Ns);
        Assert.True(s.P50Ns <= s.P90Ns && s.P90Ns <= s.P99Ns && s.P99Ns <= s.P999Ns && s.P999Ns <= s.MaxNs);
        Assert.InRange(s.P50Ns, 500_000, 500_000 + (500_000 / 16));
    }
}
