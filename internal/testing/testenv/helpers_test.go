package testenv

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// fakeTB records what a helper does with its testing.TB, so that tests can
// check the behaviour of helpers that fail. Fatal and skip calls end the
// goroutine like the real ones; run then executes the registered cleanups.
type fakeTB struct {
	testing.TB // only to satisfy the interface; every method used is overridden

	mu       sync.Mutex
	cleanups []func()
	fatals   []string
	errors   []string
	skips    []string
	logs     []string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Skipf(format string, args ...any) {
	f.mu.Lock()
	f.skips = append(f.skips, fmt.Sprintf(format, args...))
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Logf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

// run calls fn(f) on its own goroutine and then runs the registered cleanups
// in reverse order, as the testing package does.
func (f *fakeTB) run(fn func(tb testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			for i := len(f.cleanups) - 1; i >= 0; i-- {
				f.cleanups[i]()
			}
		}()
		fn(f)
	}()
	<-done
}

// netnsNames returns the names listed by `ip netns list`.
func netnsNames(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	names := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names[f[0]] = true
		}
	}
	return names
}

// hostLinks returns "index:name" of every link of the namespace the test
// process runs in (the host's), sorted.
func hostLinks(t *testing.T) []string {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatalf("list host links: %v", err)
	}
	var res []string
	for _, l := range links {
		res = append(res, fmt.Sprintf("%d:%s", l.Attrs().Index, l.Attrs().Name))
	}
	sort.Strings(res)
	return res
}

// packetCapture is an AF_PACKET socket bound to one interface of a test
// namespace; it sees the frames the interface sends and receives.
type packetCapture struct {
	fd int
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func startCapture(t *testing.T, ns *Netns, ifindex int) *packetCapture {
	t.Helper()
	c := &packetCapture{fd: -1}
	err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
			unix.Close(fd)
			return err
		}
		c.fd = fd
		return nil
	})
	if err != nil {
		t.Fatalf("packet socket in %s: %v", ns.Name, err)
	}
	t.Cleanup(func() { unix.Close(c.fd) })
	return c
}

// drain returns a description of every frame captured so far.
func (c *packetCapture) drain() []string {
	var res []string
	buf := make([]byte, 65536)
	for {
		n, from, err := unix.Recvfrom(c.fd, buf, unix.MSG_DONTWAIT)
		if err != nil {
			return res
		}
		dir := "?"
		if sll, ok := from.(*unix.SockaddrLinklayer); ok {
			switch sll.Pkttype {
			case unix.PACKET_OUTGOING:
				dir = "out"
			default:
				dir = "in"
			}
		}
		res = append(res, dir+" "+describeFrame(buf[:n]))
	}
}

// describeFrame names the kind of an Ethernet frame, for error messages.
func describeFrame(f []byte) string {
	if len(f) < 14 {
		return fmt.Sprintf("runt % x", f)
	}
	et := binary.BigEndian.Uint16(f[12:14])
	kind := fmt.Sprintf("ethertype %#04x", et)
	switch et {
	case unix.ETH_P_ARP:
		kind = "ARP"
	case unix.ETH_P_IP:
		kind = "IPv4"
		if len(f) >= 24 {
			kind = fmt.Sprintf("IPv4 proto %d", f[23])
		}
	case unix.ETH_P_IPV6:
		kind = "IPv6"
		if len(f) >= 55 {
			nh := f[20]
			off := 54
			if nh == 0 && len(f) >= 63 { // hop-by-hop options (MLD)
				nh = f[54]
				off = 62
			}
			kind = fmt.Sprintf("IPv6 next-header %d", nh)
			if nh == 58 && len(f) > off {
				names := map[byte]string{133: "router solicitation", 135: "neighbour solicitation",
					136: "neighbour advertisement", 143: "MLDv2 report", 131: "MLDv1 report"}
				kind = fmt.Sprintf("ICMPv6 type %d (%s)", f[off], names[f[off]])
			}
		}
	}
	return fmt.Sprintf("%s, %d bytes, dst %x", kind, len(f), f[0:6])
}

// readHostFile returns the trimmed content of a file of the host namespace.
func readHostFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
