// Package instance makes sure one packet-exporter runs per network namespace.
//
// The lock is an abstract Unix socket: abstract socket names are scoped to the
// network namespace, which is exactly the set of interfaces one instance
// counts, and the kernel releases the name when the process exits, however it
// exits (SIGKILL included), so a stale lock cannot outlive its holder.
package instance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"syscall"
	"time"

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
	return in(ns, func() (*Lock, error) { return Acquire(name) })
}

// RequestHandoverIn is RequestHandover in network namespace ns, or in the
// caller's when ns is not open.
func RequestHandoverIn(ctx context.Context, ns netns.NsHandle, name string, timeout time.Duration) (*Lock, error) {
	return in(ns, func() (*Lock, error) { return RequestHandover(ctx, name, timeout) })
}

// in runs take in network namespace ns (on a thread of its own), or in the
// caller's when ns is not open.
func in(ns netns.NsHandle, take func() (*Lock, error)) (*Lock, error) {
	if !ns.IsOpen() {
		return take()
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
		lock, err = take()
	}()
	<-done
	return lock, err
}

// Handover returns a channel that receives true when another instance asks
// this one to hand over (RequestHandover), and is closed then or when the
// lock is released: the holder asked stops counting, leaving its pinned state
// for the new instance to adopt, and releases the lock. Only a holder that
// calls Handover answers such requests.
func (l *Lock) Handover() <-chan bool {
	asked := make(chan bool, 1)
	go func() {
		defer close(asked)
		conn, err := l.ln.Accept()
		if err != nil {
			return // released
		}
		conn.Close()
		asked <- true
	}()
	return asked
}

// RequestHandover asks the instance holding the lock called name to hand
// over (see Handover) and takes the lock once it is released, waiting up to
// timeout or until ctx ends.
func RequestHandover(ctx context.Context, name string, timeout time.Duration) (*Lock, error) {
	if conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: "@" + name, Net: "unix"}); err == nil {
		conn.Close()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ticker := time.NewTicker(20 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: it did not hand over within %s (persistence.handover_timeout)", ErrRunning, timeout)
		case <-ticker.C:
		}
		if lock, err := Acquire(name); !errors.Is(err, ErrRunning) {
			return lock, err
		}
	}
}
