package stats

import "testing"

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		s    Samples
		want float64
	}{
		{nil, 0},
		{Samples{3}, 3},
		{Samples{3, 1, 2}, 2},
		{Samples{4, 1, 3, 2}, 2.5},
	} {
		if got := tc.s.Median(); got != tc.want {
			t.Errorf("%v.Median() = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestSpread(t *testing.T) {
	// Fewer than 9 samples: the whole range.
	if got := (Samples{10, 12, 11, 30, 9}).Spread(); got != 19 {
		t.Errorf("spread of 5 samples = %v, want 19 (max - median)", got)
	}
	// 10 samples: x(2)..x(9) is the 97.9% interval; the outliers drop out.
	s := Samples{100, 1, 10, 11, 12, 13, 14, 15, 16, 17}
	if got := s.Spread(); got != 3.5 {
		t.Errorf("spread of 10 samples = %v, want 3.5 (median 13.5, interval 10..16)", got)
	}
	if got := (Samples{}).Spread(); got != 0 {
		t.Errorf("spread of no samples = %v", got)
	}
}

func TestCIRank(t *testing.T) {
	// Known ranks of the distribution-free 95% interval of the median.
	for n, want := range map[int]int{1: 1, 5: 1, 8: 1, 9: 2, 10: 2, 12: 3, 20: 6} {
		if got := ciRank(n); got != want {
			t.Errorf("ciRank(%d) = %d, want %d", n, got, want)
		}
	}
}
