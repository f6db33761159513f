package harness

import (
	"testing"
	"time"
)

// PollInterval is how often WaitFor checks its condition.
const PollInterval = 50 * time.Millisecond

// WaitFor polls cond until it reports true or timeout has passed, in which
// case the test fails with what and cond's last status. It returns how long
// it waited.
func WaitFor(tb testing.TB, what string, timeout time.Duration, cond func() (ok bool, status string)) time.Duration {
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
		time.Sleep(PollInterval)
	}
}
