package receiver

import (
	"errors"
	"os"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Reasons an attachment fails, the error.type of packet_exporter.attach.failures.
const (
	reasonNotFound          = "not_found"
	reasonUnsupported       = "unsupported"
	reasonPermission        = "permission"
	reasonHookBusy          = "hook_busy"
	reasonNoSlot            = "no_slot"
	reasonUnsupportedLink   = "unsupported_link_type"
	reasonProgramLoadFailed = "load_failed"
	reasonOther             = "other"
)

// errProgramLoad marks errors of loading a program, before any attach.
var errProgramLoad = errors.New("load program")

// failureReason classifies an attach error.
func failureReason(err error) string {
	switch {
	case errors.Is(err, os.ErrPermission), errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return reasonPermission
	case errors.Is(err, errProgramLoad):
		return reasonProgramLoadFailed
	case errors.Is(err, ebpf.ErrNotSupported), errors.Is(err, unix.EOPNOTSUPP):
		return reasonUnsupported
	case errors.Is(err, unix.EBUSY), errors.Is(err, unix.EEXIST):
		return reasonHookBusy
	case errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENXIO):
		return reasonNotFound
	default:
		return reasonOther
	}
}
