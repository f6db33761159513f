package testenv

import "testing"

// CompareMaps fails the test unless got holds exactly the entries of want:
// it reports (tb.Errorf) each key of want whose value in got differs and each
// key of got that want lacks, so that a failure names every difference. A
// key of want whose value is the zero value may be absent from got. what
// names the keys in the messages ("entry", "series").
func CompareMaps[K, V comparable](tb testing.TB, what string, got, want map[K]V) {
	tb.Helper()
	for k, w := range want {
		if g := got[k]; g != w {
			tb.Errorf("%s %v = %+v, want %+v", what, k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			tb.Errorf("unexpected %s %v = %+v", what, k, g)
		}
	}
}
