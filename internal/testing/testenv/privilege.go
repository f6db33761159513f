package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/cilium/ebpf"
)

// inCI reports whether the tests run in CI, where a skipped kernel test proves
// nothing and must fail instead.
func inCI() bool {
	return os.Getenv("CI") == "true"
}

// Skip is the CI-aware skip used for any missing privilege or kernel feature:
// it calls tb.Skipf normally and tb.Fatalf when the environment variable CI is
// "true".
func Skip(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if inCI() {
		tb.Fatalf("CI=true, refusing to skip: "+format, args...)
		return
	}
	tb.Skipf(format, args...)
}

// RequireRoot skips the test unless it runs with the privileges to load eBPF
// programs and create network namespaces: the effective uid must be 0 and a
// trivial BPF map (a one-entry array) must be creatable. When the environment
// variable CI is "true" it fails the test (tb.Fatalf) instead of skipping it.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if euid := os.Geteuid(); euid != 0 {
		Skip(tb, "test needs root (effective uid is %d)", euid)
		return
	}
	if err := probeBPF(); err != nil {
		Skip(tb, "test needs the privilege to create BPF maps: %v", err)
	}
}

// probeBPF creates and closes a one-entry array map.
func probeBPF() error {
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "testenv_probe",
		Type:       ebpf.Array,
		KeySize:    4,
		ValueSize:  4,
		MaxEntries: 1,
	})
	if err != nil {
		return fmt.Errorf("create BPF array map: %w", err)
	}
	return m.Close()
}

// RequireCommand skips the test (fails it with CI=true) unless the program
// name is on the PATH.
func RequireCommand(tb testing.TB, name string) {
	tb.Helper()
	if _, err := exec.LookPath(name); err != nil {
		Skip(tb, "test needs %s: %v", name, err)
	}
}
