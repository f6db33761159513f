package testenv

import (
	"slices"
	"testing"
)

// TestCompareMaps: equal maps pass, a zero value of want may be absent from
// got, and every differing, missing and unexpected entry is reported.
func TestCompareMaps(t *testing.T) {
	f := &fakeTB{TB: t}
	f.run(func(tb testing.TB) {
		CompareMaps(tb, "entry", map[int]int{1: 10, 2: 20}, map[int]int{1: 10, 2: 20, 3: 0})
	})
	if len(f.errors) != 0 {
		t.Errorf("equal maps reported %q", f.errors)
	}
	f = &fakeTB{TB: t}
	f.run(func(tb testing.TB) {
		CompareMaps(tb, "entry", map[int]int{1: 11, 4: 40}, map[int]int{1: 10, 2: 20})
	})
	slices.Sort(f.errors)
	want := []string{"entry 1 = 11, want 10", "entry 2 = 0, want 20", "unexpected entry 4 = 40"}
	if !slices.Equal(f.errors, want) {
		t.Errorf("reported %q, want %q", f.errors, want)
	}
}
