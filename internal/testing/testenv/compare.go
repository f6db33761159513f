package testenv

import (
	"strings"
	"testing"
)

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

// ErrorPrefix checks err against a table test's expectation: with prefix
// empty, err must be nil; otherwise err must start with prefix, and
// ErrorPrefix returns true, for the case to end there. A mismatch fails the
// test (tb.Fatalf).
func ErrorPrefix(tb testing.TB, err error, prefix string) bool {
	tb.Helper()
	switch {
	case prefix == "" && err != nil:
		tb.Fatal(err)
	case prefix != "" && (err == nil || !strings.HasPrefix(err.Error(), prefix)):
		tb.Fatalf("error %v, want one starting %q", err, prefix)
	}
	return prefix != ""
}
