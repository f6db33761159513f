package testexporter

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ProcStatus returns the fields of a status file of /proc
// (/proc/PID/status, /proc/PID/task/TID/status), each value trimmed of
// surrounding white space.
func ProcStatus(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	fields := map[string]string{}
	for line := range strings.SplitSeq(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	return fields, nil
}

// Memory returns the peak and the current resident set size of process pid,
// in bytes (VmHWM and VmRSS of /proc/PID/status).
func Memory(pid int) (peak, current uint64, err error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	fields, err := ProcStatus(path)
	if err != nil {
		return 0, 0, err
	}
	for _, f := range []struct {
		name string
		to   *uint64
	}{{"VmHWM", &peak}, {"VmRSS", &current}} {
		kb, err := strconv.ParseUint(strings.TrimSuffix(fields[f.name], " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s of %s: %w", f.name, path, err)
		}
		*f.to = kb << 10
	}
	return peak, current, nil
}

// OpenFiles returns the number of open file descriptors of process pid.
func OpenFiles(pid int) (int, error) {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(entries), err
}
