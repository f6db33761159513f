package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// registryDir records, for every namespace created by this package, which
// process created it, so that namespaces left behind by a killed test binary
// (whose t.Cleanup never ran) can be removed by a later one.
const registryDir = "/run/packet-exporter-testenv/netns"

var sweepStaleOnce sync.Once

// processStart returns the start time of a process (field 22 of
// /proc/PID/stat), which together with the pid identifies the process even if
// the pid is reused.
func processStart(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	// After the command name, the fields start with field 3 (state).
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return f[19], nil
}

// registerNetns records that this process owns the namespace name. It is best
// effort: without the registry only the crash clean-up is lost.
func registerNetns(name string) {
	start, err := processStart(os.Getpid())
	if err != nil {
		return
	}
	if err := os.MkdirAll(registryDir, 0o755); err != nil {
		return
	}
	_ = os.WriteFile(filepath.Join(registryDir, name), fmt.Appendf(nil, "%d %s\n", os.Getpid(), start), 0o644)
}

// unregisterNetns forgets the namespace name.
func unregisterNetns(name string) {
	_ = os.Remove(filepath.Join(registryDir, name))
}

// sweepStale deletes the namespaces whose creating process no longer runs.
func sweepStale() {
	entries, err := os.ReadDir(registryDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !validName(name) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(registryDir, name))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) != 2 {
			continue
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		if start, err := processStart(pid); err == nil && start == f[1] {
			continue // the owner still runs
		}
		if _, err := os.Stat(filepath.Join("/run/netns", name)); err == nil {
			if err := exec.Command("ip", "netns", "del", name).Run(); err != nil {
				continue
			}
		}
		unregisterNetns(name)
	}
}

// validName reports whether name could have been made by UniqueName.
func validName(name string) bool {
	if name == "" || len(name) > 15 {
		return false
	}
	for _, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}
