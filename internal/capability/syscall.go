package capability

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// CheckBPFSyscall returns an error when the bpf() system call is refused to
// this process before the kernel looks at its arguments, capabilities or
// not: by a seccomp filter (a container runtime's profile) or a security
// module. It asks for a command no kernel has: the kernel answers EINVAL,
// a filter anything else (EPERM for the runtimes' profiles).
func CheckBPFSyscall() error {
	_, _, errno := unix.Syscall(unix.SYS_BPF, probeCommand, 0, 0)
	if errno == unix.EINVAL {
		return nil
	}
	return bpfRefused(errno, seccompMode())
}

// probeCommand is a bpf() command number no kernel defines.
const probeCommand = 1 << 30

// bpfRefused is CheckBPFSyscall's error for the probe's errno, given the
// process's seccomp mode (/proc/self/status: 0 none, 1 strict, 2 filter; ""
// unknown).
func bpfRefused(errno unix.Errno, seccomp string) error {
	if seccomp == "2" {
		return fmt.Errorf("the bpf() system call is refused (%w) by this process's seccomp filter, whatever its capabilities: "+
			"the container runtime's seccomp profile allows bpf() only to CAP_SYS_ADMIN (the default profile of some runtimes, "+
			"Debian 12's podman among them); run packet-exporter with a profile that allows bpf and perf_event_open to "+
			"CAP_BPF and CAP_PERFMON (see SECURITY.md)", errno)
	}
	return fmt.Errorf("the bpf() system call is refused (%w) before the kernel reads its arguments, whatever the "+
		"process's capabilities (a security module, or a seccomp filter): packet-exporter cannot count here", errno)
}

// seccompMode returns the Seccomp field of /proc/self/status, "" if unknown.
func seccompMode() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Seccomp:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
