package testexporter

import (
	"testing"
	"time"
)

// PollInterval is how often WaitFor checks its condition.
const PollInterval = 50 * time.Millisecond

// Poll calls cond every interval until it reports true, and returns how long
// that took. Once timeout has passed it fails the test with what and cond's
// last status. cond may fail the test itself.
func Poll(tb testing.TB, what string, timeout, interval time.Duration, cond func() (ok bool, status string)) time.Duration {
	tb.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		ok, status := cond()
		if ok {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s; last status: %s", timeout, what, status)
		}
		time.Sleep(interval)
	}
}

// WaitFor is Poll every PollInterval.
func WaitFor(tb testing.TB, what string, timeout time.Duration, cond func() (ok bool, status string)) time.Duration {
	tb.Helper()
	return Poll(tb, what, timeout, PollInterval, cond)
}
