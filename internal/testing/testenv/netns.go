package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Netns is a network namespace created for a test.
type Netns struct {
	// Name is the namespace's name: `ip netns exec Name ...` and `ip -n Name ...` work.
	Name string
	// Handle is an open file descriptor of the namespace, valid until the test's
	// cleanup runs. Use it with netns.Set, netlink.NewHandleAt, netlink.NsFd, etc.
	Handle netns.NsHandle

	// nl is an rtnetlink handle whose socket lives inside the namespace.
	nl *netlink.Handle
}

// NewNetns creates a named network namespace (with `ip netns add`, so
// `ip netns exec NAME` works), brings its loopback up, and registers cleanup:
// closing the handles and `ip netns del`. It fails the test on any error.
func NewNetns(tb testing.TB) *Netns {
	tb.Helper()
	sweepStaleOnce.Do(sweepStale)

	var name string
	for attempt := 0; ; attempt++ {
		name = UniqueName("pe")
		registerNetns(name)
		out, err := exec.Command("ip", "netns", "add", name).CombinedOutput()
		if err == nil {
			break
		}
		unregisterNetns(name)
		if attempt < 3 && strings.Contains(string(out), "exists") {
			continue // a foreign namespace with this name: pick another name
		}
		tb.Fatalf("testenv: ip netns add %s: %v: %s", name, err, bytesTrim(out))
	}

	n := &Netns{Name: name, Handle: netns.None()}
	tb.Cleanup(func() {
		if err := n.destroy(); err != nil {
			tb.Errorf("testenv: cleanup of namespace %s: %v", n.Name, err)
		}
	})

	h, err := netns.GetFromName(name)
	if err != nil {
		tb.Fatalf("testenv: open namespace %s: %v", name, err)
	}
	n.Handle = h

	// The rtnetlink socket is created by a thread inside the namespace (rather
	// than with netlink.NewHandleAt) so that the thread switching is done by Do,
	// which never hands a thread back to the runtime in a foreign namespace.
	err = n.Do(func() error {
		var err error
		n.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		tb.Fatalf("testenv: netlink handle in namespace %s: %v", name, err)
	}

	lo, err := n.nl.LinkByName("lo")
	if err != nil {
		tb.Fatalf("testenv: find lo in namespace %s: %v", name, err)
	}
	if err := n.nl.LinkSetUp(lo); err != nil {
		tb.Fatalf("testenv: set lo up in namespace %s: %v", name, err)
	}
	return n
}

// destroy releases the handles and deletes the namespace.
func (n *Netns) destroy() error {
	if n.nl != nil {
		n.nl.Close()
		n.nl = nil
	}
	var errs []error
	if n.Handle.IsOpen() {
		if err := n.Handle.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close handle: %w", err))
		}
		n.Handle = netns.None()
	}
	if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
		errs = append(errs, fmt.Errorf("ip netns del: %v: %s", err, bytesTrim(out)))
	} else {
		unregisterNetns(n.Name)
	}
	return errors.Join(errs...)
}

// errGoexit is returned by Do when fn ends its goroutine with runtime.Goexit.
var errGoexit = errors.New("testenv: fn called runtime.Goexit inside Netns.Do " +
	"(t.FailNow, t.Fatal and t.Skip must not be called inside Do; return an error instead)")

// Do runs fn on a goroutine locked to an OS thread that has switched into the
// namespace, waits for it, and returns fn's error. Sockets, BPF links and
// netlink handles created inside fn belong to the namespace and stay there
// after Do returns; goroutines started by fn do not run in the namespace.
//
// After fn, the thread switches back to its original namespace and is unlocked;
// if switching back fails the thread stays locked, so the runtime discards it
// instead of reusing it in a foreign namespace. A panic in fn is re-raised in
// the caller's goroutine. fn must not call t.FailNow, t.Fatal or t.Skip (they
// end only the helper goroutine); Do reports that as an error.
func (n *Netns) Do(fn func() error) error {
	if !n.Handle.IsOpen() {
		return fmt.Errorf("testenv: namespace %s is not open", n.Name)
	}
	type result struct {
		err      error
		panicked bool
		panicVal any
		stack    []byte
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("testenv: get current namespace: %w", err)}
			return
		}
		defer orig.Close()
		if err := netns.Set(n.Handle); err != nil {
			// setns failed, so the thread is still in its original namespace.
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("testenv: enter namespace %s: %w", n.Name, err)}
			return
		}

		returned := false
		res := result{}
		defer func() {
			if !returned {
				if r := recover(); r != nil {
					res = result{panicked: true, panicVal: r, stack: debug.Stack()}
				} else {
					res = result{err: errGoexit}
				}
			}
			if err := netns.Set(orig); err != nil {
				// Leave the thread locked: the runtime terminates it when this
				// goroutine exits instead of reusing it in the wrong namespace.
				if res.err == nil && !res.panicked {
					res.err = fmt.Errorf("testenv: restore namespace after Do in %s: %w", n.Name, err)
				}
			} else {
				runtime.UnlockOSThread()
			}
			done <- res
		}()
		res.err = fn()
		returned = true
	}()
	res := <-done
	if res.panicked {
		panic(fmt.Sprintf("%v\n\n[panic inside testenv.Netns.Do(%s); goroutine stack:]\n%s", res.panicVal, n.Name, res.stack))
	}
	return res.err
}

// Exec runs a command inside the namespace (`ip netns exec NAME name args...`)
// and returns its combined output. On failure the error contains the output.
func (n *Netns) Exec(name string, args ...string) ([]byte, error) {
	argv := append([]string{"netns", "exec", n.Name, name}, args...)
	out, err := exec.Command("ip", argv...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("ip netns exec %s %s: %w: %s", n.Name, strings.Join(append([]string{name}, args...), " "), err, bytesTrim(out))
	}
	return out, nil
}

// Sysctl sets a sysctl inside the namespace by writing value to
// /proc/sys/<key> from a thread inside the namespace. key uses dots as
// separators ("net.ipv6.conf.all.accept_dad"); a key that contains a slash is
// taken as a path below /proc/sys as is ("net/ipv4/conf/eth0.100/rp_filter"),
// like sysctl(8) does, for interface names that contain dots.
func (n *Netns) Sysctl(key, value string) error {
	p, err := sysctlPath(key)
	if err != nil {
		return err
	}
	err = n.Do(func() error {
		return os.WriteFile(p, []byte(value), 0o644)
	})
	if err != nil {
		return fmt.Errorf("testenv: sysctl %s=%s in namespace %s: %w", key, value, n.Name, err)
	}
	return nil
}

// readSysctl reads a sysctl inside the namespace.
func (n *Netns) readSysctl(key string) (string, error) {
	p, err := sysctlPath(key)
	if err != nil {
		return "", err
	}
	var val string
	err = n.Do(func() error {
		b, err := os.ReadFile(p)
		val = strings.TrimSpace(string(b))
		return err
	})
	return val, err
}

// sysctlPath maps a sysctl key to its file below /proc/sys.
func sysctlPath(key string) (string, error) {
	rel := key
	if !strings.Contains(key, "/") {
		rel = strings.ReplaceAll(key, ".", "/")
	}
	rel = strings.Trim(rel, "/")
	clean := filepath.Clean(rel)
	if rel == "" || clean != rel || strings.HasPrefix(clean, "..") {
		return "", fmt.Errorf("testenv: invalid sysctl key %q", key)
	}
	return "/proc/sys/" + clean, nil
}

// bytesTrim returns b as a string without surrounding white space.
func bytesTrim(b []byte) string {
	return strings.TrimSpace(string(b))
}

// MountBPFFS mounts a BPF filesystem on a new temporary directory, unmounted
// when the test ends, and returns the directory.
func MountBPFFS(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	MountBPFFSAt(tb, dir, 0o700)
	return dir
}

// MountBPFFSAt mounts a BPF filesystem whose root has permissions mode on
// the existing directory dir, unmounted when the test ends.
func MountBPFFSAt(tb testing.TB, dir string, mode os.FileMode) {
	tb.Helper()
	if err := unix.Mount("bpf", dir, "bpf", 0, fmt.Sprintf("mode=%#o", mode)); err != nil {
		tb.Fatalf("mount a BPF filesystem on %s: %v", dir, err)
	}
	tb.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			tb.Errorf("unmount the BPF filesystem on %s: %v", dir, err)
		}
	})
}
