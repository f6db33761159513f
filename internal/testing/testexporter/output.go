package testexporter

import (
	"bytes"
	"sync"
)

// output is what a process writes to its standard output and error, safe for
// the process's writes and a test's reads at the same time.
type output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

// String returns everything written so far.
func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// Tail returns the last n bytes of s, marked with a leading "…" when cut.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
