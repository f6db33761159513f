package receiver

import (
	"fmt"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

func TestSlotSet(t *testing.T) {
	s := newSlotSet(3)
	take := func(want int, wantOK bool) {
		t.Helper()
		got, ok := s.take()
		if got != want || ok != wantOK {
			t.Fatalf("take() = %d, %v; want %d, %v", got, ok, want, wantOK)
		}
	}
	steps := []struct {
		do      func()
		wantEnd int
	}{
		{func() {}, 0},
		{func() { take(0, true) }, 1},
		{func() { take(1, true) }, 2},
		{func() { take(2, true) }, 3},
		{func() { take(0, false) }, 3},
		{func() { s.release(1) }, 3},
		{func() { take(1, true) }, 3}, // the lowest free slot is reused
		{func() { s.release(2) }, 2},
		{func() { s.release(0) }, 2},
		{func() { s.release(1) }, 0},
	}
	for i, step := range steps {
		step.do()
		if got := s.end(); got != step.wantEnd {
			t.Fatalf("step %d: end() = %d, want %d", i, got, step.wantEnd)
		}
	}
}

func TestFailureReason(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("attach: %w", ebpf.ErrNotSupported), reasonUnsupported},
		{fmt.Errorf("native mode: %w", unix.EOPNOTSUPP), reasonUnsupported},
		{fmt.Errorf("load: %w", unix.EPERM), reasonPermission},
		{fmt.Errorf("load: %w", os.ErrPermission), reasonPermission},
		{fmt.Errorf("attach: %w", unix.EBUSY), reasonHookBusy},
		{fmt.Errorf("attach: %w", unix.EEXIST), reasonHookBusy},
		{fmt.Errorf("attach: %w", unix.ENODEV), reasonNotFound},
		{fmt.Errorf("attach: %w", unix.EINVAL), reasonOther},
		{fmt.Errorf("%w: %w", errProgramLoad, unix.EINVAL), reasonProgramLoadFailed},
		{fmt.Errorf("%w: %w", errProgramLoad, unix.EPERM), reasonPermission},
	}
	for _, tc := range cases {
		if got := failureReason(tc.err); got != tc.want {
			t.Errorf("failureReason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
