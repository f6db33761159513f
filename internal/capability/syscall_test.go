package capability

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCheckBPFSyscall: the tests run without a seccomp filter, so the probe
// reaches the kernel, which refuses the unknown command with EINVAL.
func TestCheckBPFSyscall(t *testing.T) {
	if mode := seccompMode(); mode != "0" {
		t.Skipf("this process runs with seccomp mode %q", mode)
	}
	if err := CheckBPFSyscall(); err != nil {
		t.Fatal(err)
	}
}

func TestBPFRefused(t *testing.T) {
	cases := []struct {
		errno   unix.Errno
		seccomp string
		want    string
	}{
		{unix.EPERM, "2", "seccomp filter"},
		{unix.ENOSYS, "2", "seccomp filter"},
		{unix.EPERM, "0", "security module"},
		{unix.EACCES, "", "security module"},
	}
	for _, c := range cases {
		err := bpfRefused(c.errno, c.seccomp)
		if !errors.Is(err, c.errno) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("bpfRefused(%v, %q) = %v, want an error wrapping %v that says %q", c.errno, c.seccomp, err, c.errno, c.want)
		}
	}
}
