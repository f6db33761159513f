// Package instance makes sure one packet-exporter runs per network namespace.
//
// The lock is an abstract Unix socket: abstract socket names are scoped to the
// network namespace, which is exactly the set of interfaces one instance
// counts, and the kernel releases the name when the process exits, however it
// exits (SIGKILL included), so a stale lock cannot outlive its holder.
package instance

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"syscall"

	"github.com/vishvananda/netns"
)

// DefaultName is the abstract socket name packet-exporter locks.
const DefaultName = "packet-exporter"

// ErrRunning reports that another instance holds the lock.
var ErrRunning = errors.New("another packet-exporter is already running in this network namespace")

// Lock is a held instance lock.
type Lock struct {
	ln *net.UnixListener
}

// Acquire takes the lock called name in the caller's network namespace. It
// fails with ErrRunning when another process holds it.
func Acquire(name string) (*Lock, error) {
	// A leading '@' selects the abstract namespace.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: "@" + name, Net: "unix"})
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%w (abstract socket @%s is taken; stop the other instance first)", ErrRunning, name)
	}
	if err != nil {
		return nil, fmt.Errorf("take instance lock @%s: %w", name, err)
	}
	return &Lock{ln: ln}, nil
}

// Release gives the lock up.
func (l *Lock) Release() error {
	return l.ln.Close()
}

// AcquireIn is Acquire in network namespace ns (the caller's when ns is not
// open): an embedder counting another namespace's interfaces locks that one.
func AcquireIn(ns netns.NsHandle, name string) (*Lock, error) {
	if !ns.IsOpen() {
		return Acquire(name)
	}
	var lock *Lock
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Never unlocked: the goroutine ends on its thread, which the runtime
		// then ends instead of reusing it in ns.
		runtime.LockOSThread()
		if err = netns.Set(ns); err != nil {
			err = fmt.Errorf("enter network namespace: %w", err)
			return
		}
		lock, err = Acquire(name)
	}()
	<-done
	return lock, err
}
