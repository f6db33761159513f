// Package capability reads, checks and drops the process's Linux
// capabilities: what packet-exporter needs (CAP_BPF, CAP_NET_ADMIN,
// CAP_PERFMON), an error naming what is missing, and the drop to the steady
// set once the interfaces are attached. The system calls go through libcap's
// cap package, which changes all threads of the process, with or without cgo.
package capability

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
	"kernel.org/pub/linux/libs/security/libcap/cap"
)

// Capabilities that packet-exporter cares about.
const (
	SetPCAP  = cap.SETPCAP
	NetAdmin = cap.NET_ADMIN
	SysAdmin = cap.SYS_ADMIN
	Perfmon  = cap.PERFMON
	BPF      = cap.BPF
)

// Set is a set of capabilities, bit n for capability n.
type Set uint64

// Of is the set of the capabilities caps.
func Of(caps ...cap.Value) Set {
	var s Set
	for _, c := range caps {
		s |= 1 << c
	}
	return s
}

// Has reports whether capability c is in s.
func (s Set) Has(c cap.Value) bool { return s&(1<<c) != 0 }

// values lists the capabilities in s.
func (s Set) values() []cap.Value {
	var values []cap.Value
	for c := range cap.Value(64) {
		if s.Has(c) {
			values = append(values, c)
		}
	}
	return values
}

// String lists the capabilities, e.g. "CAP_NET_ADMIN,CAP_BPF", or "none".
func (s Set) String() string {
	var names []string
	for _, c := range s.values() {
		// The library writes "cap_bpf", or the number alone for one it cannot name.
		names = append(names, "CAP_"+strings.TrimPrefix(strings.ToUpper(c.String()), "CAP_"))
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// Steady are the capabilities packet-exporter keeps once the existing
// interfaces are attached: the netlink watcher attaches later interfaces, so
// it needs what start-up needs but binding a port, raising RLIMIT_MEMLOCK and
// reading root-only files:
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
	c, err := cap.GetPID(0)
	if err != nil {
		return 0, 0, fmt.Errorf("capget: %w", err)
	}
	for v := range cap.Value(64) {
		// GetFlag fails only for a value beyond the kernel's sets: not set.
		if on, _ := c.GetFlag(cap.Effective, v); on {
			effective |= Of(v)
		}
		if on, _ := c.GetFlag(cap.Permitted, v); on {
			permitted |= Of(v)
		}
	}
	return effective, permitted, nil
}

// Check returns an error naming every capability start-up needs and effective
// lacks (CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON, as in the kernel).
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

// DropResult describes what Drop did.
type DropResult struct {
	// Kept is the permitted and effective set left.
	Kept Set
	// Dropped is what was permitted before and is not any more.
	Dropped Set
	// Bounding tells whether the bounding set was reduced too (needs CAP_SETPCAP).
	Bounding bool
}

// Drop reduces every thread's capabilities to keep (within what is
// permitted; CAP_SYS_ADMIN stays where it stood in for CAP_BPF or
// CAP_PERFMON): it sets no_new_privs so that execve regains nothing, reduces
// the bounding set where CAP_SETPCAP allows, clears the ambient and
// inheritable sets and sets the permitted and effective sets to keep.
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

	if _, err := cap.Prctlw(unix.PR_SET_NO_NEW_PRIVS, 1); err != nil {
		return result, fmt.Errorf("set no_new_privs: %w", err)
	}
	if effective.Has(SetPCAP) {
		for c := range cap.MaxBits() {
			if kept.Has(c) {
				continue
			}
			if err := cap.DropBound(c); err != nil {
				return result, fmt.Errorf("drop %s from the bounding set: %w", Of(c), err)
			}
		}
		result.Bounding = true
	}
	if err := cap.ResetAmbient(); err != nil {
		return result, fmt.Errorf("clear the ambient set: %w", err)
	}
	// A new set has nothing inheritable: setting it clears the inheritable set.
	set := cap.NewSet()
	for _, flag := range []cap.Flag{cap.Permitted, cap.Effective} {
		if err := set.SetFlag(flag, true, kept.values()...); err != nil {
			return result, fmt.Errorf("capset: %w", err)
		}
	}
	if err := set.SetProc(); err != nil {
		return result, fmt.Errorf("capset: %w", err)
	}
	return result, nil
}
