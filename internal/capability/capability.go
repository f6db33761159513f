// Package capability reads, checks and drops the process's Linux
// capabilities: what packet-exporter needs (CAP_BPF, CAP_NET_ADMIN,
// CAP_PERFMON), a clear error naming what is missing, and the drop to the
// steady set once the interfaces are attached.
package capability

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Capability numbers (linux/capability.h) that packet-exporter cares about.
const (
	SetPCAP  = 8
	NetAdmin = 12
	SysAdmin = 21
	Perfmon  = 38
	BPF      = 39
)

// capNames names every capability Linux 6.x defines, by number.
var capNames = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// Set is a set of capabilities, bit n for capability n.
type Set uint64

// Of is the set of the capabilities caps.
func Of(caps ...int) Set {
	var s Set
	for _, c := range caps {
		s |= 1 << c
	}
	return s
}

// Has reports whether capability c is in s.
func (s Set) Has(c int) bool { return s&(1<<c) != 0 }

// String lists the capabilities, e.g. "CAP_NET_ADMIN,CAP_BPF", or "none".
func (s Set) String() string {
	var names []string
	for c := range 64 {
		if !s.Has(c) {
			continue
		}
		if c < len(capNames) {
			names = append(names, capNames[c])
		} else {
			names = append(names, "CAP_"+strconv.Itoa(c))
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// Steady are the capabilities packet-exporter keeps once the existing
// interfaces are attached. The netlink watcher attaches interfaces that
// appear later and so needs what start-up needs, minus what only start-up
// does (binding a port, raising RLIMIT_MEMLOCK, reading root-only files):
//   - CAP_BPF: load an XDP or tc program instance for the new interface;
//   - CAP_NET_ADMIN: load programs of the networking types, create XDP and
//     tcx links, and force the size of the netlink socket's receive buffer
//     when it subscribes again after lost messages (SO_RCVBUFFORCE);
//   - CAP_PERFMON: the verifier accepts the counting programs only from a
//     process that has it (without it, they are refused as unprivileged
//     pointer arithmetic).
//
// Reading the counters, the program statistics and the link state works on
// file descriptors already held and needs no capability (Linux 6.5+).
var Steady = Of(BPF, NetAdmin, Perfmon)

// Current returns the calling thread's effective and permitted capability sets.
func Current() (effective, permitted Set, err error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, 0, fmt.Errorf("capget: %w", err)
	}
	join := func(lo, hi uint32) Set { return Set(hi)<<32 | Set(lo) }
	return join(data[0].Effective, data[1].Effective), join(data[0].Permitted, data[1].Permitted), nil
}

// Check returns a clear error naming every capability that
// start-up needs and effective lacks. CAP_SYS_ADMIN stands in for CAP_BPF
// and CAP_PERFMON, as in the kernel.
func Check(effective Set) error {
	var missing []string
	if !effective.Has(BPF) && !effective.Has(SysAdmin) {
		missing = append(missing, "CAP_BPF (to create the counter maps and load the programs)")
	}
	if !effective.Has(NetAdmin) {
		missing = append(missing, "CAP_NET_ADMIN (to attach XDP and tcx programs and watch interfaces)")
	}
	if !effective.Has(Perfmon) && !effective.Has(SysAdmin) {
		missing = append(missing, "CAP_PERFMON (the kernel verifier accepts the counting programs only with it)")
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("missing capabilities: %s; packet-exporter needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON: "+
		"run it as root or grant exactly these three (see SECURITY.md)", strings.Join(missing, ", "))
}

// CheckCurrent is Check on the calling thread's effective set.
func CheckCurrent() error {
	effective, _, err := Current()
	if err != nil {
		return err
	}
	return Check(effective)
}

// ErrCgo is returned by Drop in a binary built with cgo, where
// the Go runtime cannot change every thread's credentials.
var ErrCgo = errors.New("this binary is built with cgo, which cannot change the capabilities of every thread; build it with CGO_ENABLED=0 (make build does)")

// DropResult describes what Drop did.
type DropResult struct {
	// Kept is the permitted and effective set left.
	Kept Set
	// Dropped is what was permitted before and is not any more.
	Dropped Set
	// Bounding tells whether the bounding set could be reduced too (that
	// needs CAP_SETPCAP).
	Bounding bool
}

// Drop reduces the capabilities of every thread of the process
// to keep (intersected with what is permitted; CAP_SYS_ADMIN is kept in
// place of CAP_BPF or CAP_PERFMON where it was standing in for them):
// no_new_privs is set so that nothing can be regained through execve, the
// bounding set is reduced where CAP_SETPCAP allows, the ambient and
// inheritable sets are cleared and the permitted and effective sets become
// keep.
func Drop(keep Set) (DropResult, error) {
	effective, permitted, err := Current()
	if err != nil {
		return DropResult{}, err
	}
	kept := permitted & keep
	if permitted.Has(SysAdmin) && ((keep.Has(BPF) && !permitted.Has(BPF)) || (keep.Has(Perfmon) && !permitted.Has(Perfmon))) {
		kept |= Of(SysAdmin)
	}
	result := DropResult{Kept: kept, Dropped: permitted &^ kept}

	if err := allThreads(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); err != nil {
		return result, fmt.Errorf("set no_new_privs: %w", err)
	}
	if effective.Has(SetPCAP) {
		last, err := lastCap()
		if err != nil {
			return result, err
		}
		for c := 0; c <= last; c++ {
			if kept.Has(c) {
				continue
			}
			if err := allThreads(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0); err != nil && !errors.Is(err, unix.EINVAL) {
				return result, fmt.Errorf("drop %s from the bounding set: %w", Set(1<<c), err)
			}
		}
		result.Bounding = true
	}
	if err := allThreads(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return result, fmt.Errorf("clear the ambient set: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(kept), Permitted: uint32(kept)},
		{Effective: uint32(kept >> 32), Permitted: uint32(kept >> 32)},
	}
	if err := allThreads(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); err != nil {
		return result, fmt.Errorf("capset: %w", err)
	}
	return result, nil
}

// allThreads makes a system call on every thread of the process.
func allThreads(trap, a1, a2, a3 uintptr) error {
	_, _, errno := syscall.AllThreadsSyscall(trap, a1, a2, a3)
	switch {
	case errno == syscall.ENOTSUP:
		return ErrCgo
	case errno != 0:
		return errno
	}
	return nil
}

// lastCap returns the highest capability number the kernel knows.
func lastCap() (int, error) {
	data, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("read the last capability: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || n < 0 || n > 63 {
		return 0, fmt.Errorf("read the last capability: unexpected %q", data)
	}
	return n, nil
}
