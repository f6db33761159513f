// Package stats summarises repeated benchmark measurements the way the suite
// reports them: the median, and a spread that says how far the median may be
// off. It is shared by the benchmarks in bench/ and in receiver/.
package stats

import (
	"math"
	"slices"
)

// Samples are repeated measurements of one quantity.
type Samples []float64

// Median returns the median, or 0 without samples.
func (s Samples) Median() float64 {
	c := slices.Sorted(slices.Values(s))
	switch n := len(c); {
	case n == 0:
		return 0
	case n%2 == 1:
		return c[n/2]
	default:
		return (c[n/2-1] + c[n/2]) / 2
	}
}

// Spread returns the larger distance from the median to the ends of its
// distribution-free 95% confidence interval (the order statistics benchstat
// uses), or to the minimum and maximum when there are too few samples for
// such an interval (fewer than 9).
func (s Samples) Spread() float64 {
	c := slices.Sorted(slices.Values(s))
	n := len(c)
	if n == 0 {
		return 0
	}
	k := ciRank(n)
	m := s.Median()
	return math.Max(m-c[k-1], c[n-k]-m)
}

// Reporter is what a benchmark reports its metrics to (a *testing.B).
type Reporter interface {
	ReportMetric(n float64, unit string)
}

// Report reports the median under unit and the spread under
// "spread-"+unit, the names bench/report reads back.
func (s Samples) Report(b Reporter, unit string) {
	b.ReportMetric(s.Median(), unit)
	b.ReportMetric(s.Spread(), "spread-"+unit)
}

// ciRank returns the largest k >= 1 such that the order statistics x(k) and
// x(n-k+1) enclose the median with probability at least 95%, or 1 (the full
// range) when no pair does.
func ciRank(n int) int {
	best := 1
	for k := 2; k <= (n+1)/2; k++ {
		// P(Binomial(n, 1/2) <= k-1): the chance that the median is below x(k).
		tail := 0.0
		for i := range k {
			tail += binomial(n, i)
		}
		tail /= math.Pow(2, float64(n))
		if 1-2*tail < 0.95 {
			break
		}
		best = k
	}
	return best
}

// binomial returns n choose k.
func binomial(n, k int) float64 {
	r := 1.0
	for i := 1; i <= k; i++ {
		r = r * float64(n-k+i) / float64(i)
	}
	return r
}
