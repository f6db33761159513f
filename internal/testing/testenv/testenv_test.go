package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

func TestUniqueName(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, prefix := range []string{"", "p", "pe", "abcde", "a_b-c"} {
		for range 5000 {
			n := UniqueName(prefix)
			if !strings.HasPrefix(n, prefix) {
				t.Fatalf("UniqueName(%q) = %q: missing prefix", prefix, n)
			}
			if len(n) > 15 || len(n) != len(prefix)+8 {
				t.Fatalf("UniqueName(%q) = %q: length %d", prefix, n, len(n))
			}
			if !validName(n) {
				t.Fatalf("UniqueName(%q) = %q: not a valid interface/netns name", prefix, n)
			}
			suffix := n[len(prefix):]
			if seen[suffix] {
				t.Fatalf("UniqueName returned the suffix %q twice", suffix)
			}
			seen[suffix] = true
		}
	}
	for _, bad := range []string{"abcdef", "a/b", "a b", "a.b", "a:b"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("UniqueName(%q) did not panic", bad)
				}
			}()
			UniqueName(bad)
		}()
	}
}

func TestSysctlPath(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]string{
		"net.ipv4.ip_forward":                "/proc/sys/net/ipv4/ip_forward",
		"net.ipv6.conf.all.accept_dad":       "/proc/sys/net/ipv6/conf/all/accept_dad",
		"net/ipv4/conf/eth0.100/rp_filter":   "/proc/sys/net/ipv4/conf/eth0.100/rp_filter",
		"/net/ipv4/conf/eth0.100/rp_filter/": "/proc/sys/net/ipv4/conf/eth0.100/rp_filter",
	} {
		got, err := sysctlPath(key)
		if err != nil || got != want {
			t.Errorf("sysctlPath(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
	for _, key := range []string{"", ".", "net..ipv4", "net/../../etc/passwd", "../x"} {
		if got, err := sysctlPath(key); err == nil {
			t.Errorf("sysctlPath(%q) = %q, want an error", key, got)
		}
	}
}

func TestSkipIsFatalInCI(t *testing.T) {
	for _, tc := range []struct {
		ci        string
		wantFatal bool
	}{{"true", true}, {"", false}, {"false", false}} {
		t.Setenv("CI", tc.ci)
		f := &fakeTB{TB: t}
		f.run(func(tb testing.TB) { Skip(tb, "no %s here", "feature") })
		if tc.wantFatal && (len(f.fatals) != 1 || len(f.skips) != 0) {
			t.Errorf("CI=%q: fatals %q, skips %q; want one fatal", tc.ci, f.fatals, f.skips)
		}
		if !tc.wantFatal && (len(f.skips) != 1 || len(f.fatals) != 0) {
			t.Errorf("CI=%q: fatals %q, skips %q; want one skip", tc.ci, f.fatals, f.skips)
		}
		for _, m := range append(f.fatals, f.skips...) {
			if !strings.Contains(m, "no feature here") {
				t.Errorf("CI=%q: message %q lacks the formatted reason", tc.ci, m)
			}
		}
	}
}

func TestRequireRoot(t *testing.T) {
	RequireRoot(t)
	if os.Geteuid() != 0 {
		t.Fatal("RequireRoot let a non-root test run")
	}
}

// hostNetns returns the network namespace of the calling goroutine's thread.
func hostNetns(t *testing.T) netns.NsHandle {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestNetnsDo is not parallel: it checks that no thread of the process is left
// in a test namespace, which other tests running Do at the same time would break.
func TestNetnsDo(t *testing.T) {
	RequireRoot(t)
	host := hostNetns(t)
	n := NewNetns(t)
	if n.Handle.Equal(host) {
		t.Fatal("the new namespace is the host's")
	}

	var inside netns.NsHandle
	err := n.Do(func() error {
		var err error
		inside, err = netns.Get()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer inside.Close()
	if !inside.Equal(n.Handle) {
		t.Errorf("inside Do the thread is in %s, want %s", inside.UniqueId(), n.Handle.UniqueId())
	}
	if inside.Equal(host) {
		t.Errorf("inside Do the thread is still in the host namespace %s", host.UniqueId())
	}

	sentinel := errors.New("sentinel")
	if err := n.Do(func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("Do returned %v, want fn's error", err)
	}

	// A panic in fn reaches the caller, and the namespace is still usable.
	func() {
		defer func() {
			r := recover()
			if r == nil || !strings.Contains(fmt.Sprint(r), "boom") {
				t.Errorf("recovered %v, want the panic of fn", r)
			}
		}()
		_ = n.Do(func() error { panic("boom") })
	}()
	if err := n.Do(func() error { runtime.Goexit(); return nil }); !errors.Is(err, errGoexit) {
		t.Errorf("Do with Goexit returned %v, want errGoexit", err)
	}

	// Many concurrent Do calls; afterwards every thread of the process must be
	// back in the host namespace.
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.Do(func() error { time.Sleep(time.Millisecond); return nil }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()

	var hostStat unix.Stat_t
	if err := unix.Fstat(int(host), &hostStat); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("net:[%d]", hostStat.Ino)
	tasks, err := filepath.Glob("/proc/self/task/*/ns/net")
	if err != nil || len(tasks) == 0 {
		t.Fatalf("list threads: %v", err)
	}
	for _, p := range tasks {
		got, err := os.Readlink(p)
		if err != nil {
			continue // the thread exited
		}
		if got != want {
			t.Errorf("thread %s is in %s, want %s (host)", p, got, want)
		}
	}
	// And goroutines scheduled on any thread see the host namespace.
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			h, err := netns.Get()
			if err != nil {
				t.Error(err)
				return
			}
			defer h.Close()
			if !h.Equal(host) {
				t.Errorf("a pool thread is in %s after Do, want host %s", h.UniqueId(), host.UniqueId())
			}
		}()
	}
	wg.Wait()
}

func TestNetnsExecAndSysctl(t *testing.T) {
	RequireRoot(t)
	t.Parallel()
	a, b := NewNetns(t), NewNetns(t)

	out, err := a.Exec("ip", "-o", "link", "show")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "lo:") || !strings.Contains(string(out), "UP") {
		t.Errorf("loopback of %s is not up:\n%s", a.Name, out)
	}
	if strings.Contains(string(out), "eth0") {
		t.Errorf("Exec does not run in the namespace: it sees eth0:\n%s", out)
	}
	_, err = a.Exec("sh", "-c", "echo something-failed; exit 3")
	if err == nil || !strings.Contains(err.Error(), "something-failed") {
		t.Errorf("Exec of a failing command returned %v, want an error with its output", err)
	}

	const key = "net.ipv4.ip_default_ttl"
	hostBefore := readHostFile(t, "/proc/sys/net/ipv4/ip_default_ttl")
	t.Cleanup(func() {
		// Should Sysctl ever write to the wrong namespace, repair the host.
		if readHostFile(t, "/proc/sys/net/ipv4/ip_default_ttl") != hostBefore {
			_ = os.WriteFile("/proc/sys/net/ipv4/ip_default_ttl", []byte(hostBefore), 0o644)
		}
	})
	if err := a.Sysctl(key, "77"); err != nil {
		t.Fatal(err)
	}
	if err := b.Sysctl("net/ipv4/ip_default_ttl", "99"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ns   *Netns
		want string
	}{{a, "77"}, {b, "99"}} {
		out, err := c.ns.Exec("cat", "/proc/sys/net/ipv4/ip_default_ttl")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(out)); got != c.want {
			t.Errorf("%s in %s (seen by ip netns exec) = %s, want %s", key, c.ns.Name, got, c.want)
		}
		if got, err := c.ns.readSysctl(key); err != nil || got != c.want {
			t.Errorf("%s in %s (seen by Do) = %s, %v; want %s", key, c.ns.Name, got, err, c.want)
		}
	}
	if hostAfter := readHostFile(t, "/proc/sys/net/ipv4/ip_default_ttl"); hostAfter != hostBefore {
		t.Errorf("host %s changed from %s to %s", key, hostBefore, hostAfter)
	}
	if err := a.Sysctl("net.ipv4.no_such_sysctl", "1"); err == nil {
		t.Error("Sysctl of a missing key succeeded")
	}
}

// udpFlow sends count datagrams of size bytes from the A end to the B end of p
// over the given IP version with sockets created inside the namespaces, and
// checks that all of them arrive intact.
func udpFlow(t *testing.T, p *VethPair, ipv6 bool, count, size int) {
	t.Helper()
	network, src, dst := "udp4", p.IPv4A.Addr(), p.IPv4B.Addr()
	if ipv6 {
		network, src, dst = "udp6", p.IPv6A.Addr(), p.IPv6B.Addr()
	}
	var rx *net.UDPConn
	err := p.B.Do(func() error {
		var err error
		rx, err = net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 0)))
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", p.B.Name, err)
	}
	defer rx.Close()
	var tx *net.UDPConn
	err = p.A.Do(func() error {
		var err error
		tx, err = net.DialUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), rx.LocalAddr().(*net.UDPAddr))
		return err
	})
	if err != nil {
		t.Fatalf("dial in %s: %v", p.A.Name, err)
	}
	defer tx.Close()

	buf := make([]byte, size+1)
	for i := range count {
		msg := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		if _, err := tx.Write(msg); err != nil {
			t.Fatalf("send datagram %d over %s: %v", i, network, err)
		}
		if err := rx.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, from, err := rx.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("receive datagram %d over %s: %v", i, network, err)
		}
		if !bytes.Equal(buf[:n], msg) || from.Addr() != src {
			t.Fatalf("datagram %d over %s: got %d bytes from %v, want %d bytes from %v", i, network, n, from, size, src)
		}
	}
}

func TestQuietVethExactCounters(t *testing.T) {
	RequireRoot(t)
	t.Parallel()
	a, b := NewNetns(t), NewNetns(t)
	p := NewVethPair(t, a, b, VethOptions{Quiet: true, DisableOffloads: true})
	capA := startCapture(t, a, p.IndexA)
	capB := startCapture(t, b, p.IndexB)

	if p.IPv4A.Bits() != 30 || !netip.MustParsePrefix("10.200.0.0/16").Contains(p.IPv4A.Addr()) ||
		p.IPv4A.Masked() != p.IPv4B.Masked() || p.IPv4A.Addr() == p.IPv4B.Addr() {
		t.Errorf("bad IPv4 addresses %v %v", p.IPv4A, p.IPv4B)
	}
	if p.IPv6A.Bits() != 64 || p.IPv6A.Masked() != p.IPv6B.Masked() || p.IPv6A.Addr().As16()[0] != 0xfd {
		t.Errorf("bad IPv6 addresses %v %v", p.IPv6A, p.IPv6B)
	}

	zero := LinkStats{}
	check := func(when string, wantA, wantB LinkStats) {
		t.Helper()
		gotA, gotB := LinkStatsOf(t, a, p.NameA), LinkStatsOf(t, b, p.NameB)
		if gotA != wantA || gotB != wantB {
			t.Errorf("%s: counters A %+v B %+v, want A %+v B %+v\nframes on A: %q\nframes on B: %q",
				when, gotA, gotB, wantA, wantB, capA.drain(), capB.drain())
		}
	}
	check("right after setup", zero, zero)
	time.Sleep(3 * time.Second)
	check("3s after setup", zero, zero)
	if f := append(capA.drain(), capB.drain()...); len(f) != 0 {
		t.Errorf("frames captured while idle: %q", f)
	}

	const n4, size4, n6, size6 = 7, 100, 5, 333
	udpFlow(t, p, false, n4, size4)
	udpFlow(t, p, true, n6, size6)
	// Each frame: payload + 8 (UDP) + 20 (IPv4) or 40 (IPv6) + 14 (Ethernet).
	wantBytes := uint64(n4*(size4+8+20+14) + n6*(size6+8+40+14))
	sent := LinkStats{TxPackets: n4 + n6, TxBytes: wantBytes}
	received := LinkStats{RxPackets: n4 + n6, RxBytes: wantBytes}
	check("after the UDP traffic", sent, received)
	time.Sleep(500 * time.Millisecond)
	check("0.5s after the UDP traffic", sent, received)
	frames := append(capA.drain(), capB.drain()...)
	if len(frames) != 2*(n4+n6) {
		t.Errorf("captured %d frames, want %d: %q", len(frames), 2*(n4+n6), frames)
	}
	for _, f := range frames {
		if !strings.Contains(f, "IPv4 proto 17") && !strings.Contains(f, "IPv6 next-header 17") {
			t.Errorf("unexpected frame %s", f)
		}
	}
}

func TestVethDefaultResolvesNeighbours(t *testing.T) {
	RequireRoot(t)
	t.Parallel()
	a, b := NewNetns(t), NewNetns(t)
	p := NewVethPair(t, a, b, VethOptions{})
	udpFlow(t, p, false, 3, 64)
	udpFlow(t, p, true, 3, 64)
	st := LinkStatsOf(t, b, p.NameB)
	if st.RxPackets < 6 {
		t.Errorf("B received %d frames, want at least the 6 datagrams", st.RxPackets)
	}
	// Without Quiet the neighbours are learnt by ARP and ND.
	la, err := a.nl.LinkByName(p.NameA)
	if err != nil {
		t.Fatal(err)
	}
	if la.Attrs().RawFlags&unix.IFF_NOARP != 0 {
		t.Error("a default pair has IFF_NOARP")
	}
	neighs, err := a.nl.NeighList(p.IndexA, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	for _, nb := range neighs {
		if nb.State&netlink.NUD_PERMANENT != 0 {
			t.Errorf("a default pair has a static neighbour %v", nb.IP)
		}
	}
}

func TestVethOptions(t *testing.T) {
	RequireRoot(t)
	t.Parallel()
	a, b := NewNetns(t), NewNetns(t)
	p := NewVethPair(t, a, b, VethOptions{Queues: 4, MTU: 9000, DisableOffloads: true})
	plain := NewVethPair(t, a, b, VethOptions{})

	if p.IPv4A.Masked() == plain.IPv4A.Masked() || p.IPv6A.Masked() == plain.IPv6A.Masked() {
		t.Errorf("two pairs share a subnet: %v/%v and %v/%v", p.IPv4A, p.IPv6A, plain.IPv4A, plain.IPv6A)
	}
	for _, e := range []struct {
		ns   *Netns
		name string
		idx  int
		mac  net.HardwareAddr
	}{{a, p.NameA, p.IndexA, p.MACA}, {b, p.NameB, p.IndexB, p.MACB}} {
		l, err := e.ns.nl.LinkByName(e.name)
		if err != nil {
			t.Fatal(err)
		}
		at := l.Attrs()
		if at.Index != e.idx || !bytes.Equal(at.HardwareAddr, e.mac) {
			t.Errorf("%s: index %d MAC %v, VethPair says %d %v", e.name, at.Index, at.HardwareAddr, e.idx, e.mac)
		}
		if at.MTU != 9000 || at.NumTxQueues != 4 || at.NumRxQueues != 4 {
			t.Errorf("%s: MTU %d, %d TX and %d RX queues; want 9000, 4, 4", e.name, at.MTU, at.NumTxQueues, at.NumRxQueues)
		}
		if at.OperState != netlink.OperUp {
			t.Errorf("%s: operstate %v", e.name, at.OperState)
		}
		var feats map[string]bool
		if err := e.ns.Do(func() error {
			var err error
			feats, err = getOffloads(e.name)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		for f, on := range feats {
			if on {
				t.Errorf("%s: %s is still on", e.name, f)
			}
		}
	}
	var plainFeats map[string]bool
	if err := a.Do(func() error {
		var err error
		plainFeats, err = getOffloads(plain.NameA)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !plainFeats["tx-checksumming"] || !plainFeats["tcp-segmentation-offload"] {
		t.Errorf("offloads of a default veth: %v; expected TX checksumming and TSO on", plainFeats)
	}

	// A jumbo datagram crosses as one frame.
	before := LinkStatsOf(t, b, p.NameB)
	udpFlow(t, p, false, 1, 8000)
	after := LinkStatsOf(t, b, p.NameB)
	if after.RxBytes-before.RxBytes < 8000+8+20+14 {
		t.Errorf("B received %d bytes for an 8000-byte datagram", after.RxBytes-before.RxBytes)
	}
}

// ourLeftovers lists what is left of namespaces and links made by a test.
func ourLeftovers(t *testing.T, nsNames, linkNames []string, linksBefore []string) []string {
	t.Helper()
	var left []string
	listed := netnsNames(t)
	for _, n := range nsNames {
		if listed[n] {
			left = append(left, "netns "+n+" in ip netns list")
		}
		if _, err := os.Stat(filepath.Join("/run/netns", n)); err == nil {
			left = append(left, "/run/netns/"+n)
		}
		if _, err := os.Stat(filepath.Join(registryDir, n)); err == nil {
			left = append(left, "registry entry "+n)
		}
	}
	links := hostLinks(t)
	for _, l := range links {
		for _, n := range linkNames {
			if strings.HasSuffix(l, ":"+n) {
				left = append(left, "host link "+l)
			}
		}
	}
	if strings.Join(links, " ") != strings.Join(linksBefore, " ") {
		left = append(left, fmt.Sprintf("host links changed from %v to %v", linksBefore, links))
	}
	return left
}

// TestCleanupLeavesNothing is not parallel, so that the host's link list can
// be compared before and after.
func TestCleanupLeavesNothing(t *testing.T) {
	RequireRoot(t)
	linksBefore := hostLinks(t)
	var nsNames, linkNames []string
	t.Run("create", func(t *testing.T) {
		a, b, c := NewNetns(t), NewNetns(t), NewNetns(t)
		p1 := NewVethPair(t, a, b, VethOptions{Quiet: true})
		p2 := NewVethPair(t, b, c, VethOptions{DisableOffloads: true, Queues: 2})
		p3 := NewVethPair(t, a, a, VethOptions{})
		nsNames = []string{a.Name, b.Name, c.Name}
		linkNames = []string{p1.NameA, p1.NameB, p2.NameA, p2.NameB, p3.NameA, p3.NameB}
		listed := netnsNames(t)
		for _, n := range nsNames {
			if !listed[n] {
				t.Errorf("namespace %s missing from ip netns list", n)
			}
		}
		if got := hostLinks(t); strings.Join(got, " ") != strings.Join(linksBefore, " ") {
			t.Errorf("creating veth pairs changed the host's links from %v to %v", linksBefore, got)
		}
	})
	if left := ourLeftovers(t, nsNames, linkNames, linksBefore); len(left) > 0 {
		t.Errorf("left behind: %q", left)
	}
}

// TestCleanupAfterFailure checks that resources are released when the test, or
// a helper, fails half-way.
func TestCleanupAfterFailure(t *testing.T) {
	RequireRoot(t)
	linksBefore := hostLinks(t)

	// The test fails after creating namespaces and a pair.
	var nsNames, linkNames []string
	f := &fakeTB{TB: t}
	f.run(func(tb testing.TB) {
		a, b := NewNetns(tb), NewNetns(tb)
		p := NewVethPair(tb, a, b, VethOptions{Quiet: true, DisableOffloads: true})
		nsNames, linkNames = []string{a.Name, b.Name}, []string{p.NameA, p.NameB}
		tb.Fatalf("simulated failure")
	})
	if len(f.fatals) != 1 || len(f.errors) != 0 {
		t.Errorf("fatals %q errors %q; want only the simulated failure", f.fatals, f.errors)
	}
	if left := ourLeftovers(t, nsNames, linkNames, linksBefore); len(left) > 0 {
		t.Errorf("left behind after a failing test: %q", left)
	}

	// NewVethPair fails (the MTU is beyond what veth accepts).
	nsNames = nil
	f = &fakeTB{TB: t}
	f.run(func(tb testing.TB) {
		a, b := NewNetns(tb), NewNetns(tb)
		nsNames = []string{a.Name, b.Name}
		NewVethPair(tb, a, b, VethOptions{MTU: 1 << 20})
		t.Error("NewVethPair with an impossible MTU returned")
	})
	if len(f.fatals) != 1 || !strings.Contains(f.fatals[0], "create veth") || len(f.errors) != 0 {
		t.Errorf("fatals %q errors %q; want one failure to create the veth", f.fatals, f.errors)
	}
	if left := ourLeftovers(t, nsNames, nil, linksBefore); len(left) > 0 {
		t.Errorf("left behind after a failing helper: %q", left)
	}
}

// TestSweepStale checks that a namespace registered by a process that no
// longer runs is deleted.
func TestSweepStale(t *testing.T) {
	RequireRoot(t)
	t.Parallel()
	name := UniqueName("pe")
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", name).Run()
		unregisterNetns(name)
	})
	// A pid of a process that has exited.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(registryDir, 0o755); err != nil {
		t.Fatal(err)
	}
	entry := fmt.Sprintf("%d 1\n", cmd.Process.Pid)
	if err := os.WriteFile(filepath.Join(registryDir, name), []byte(entry), 0o644); err != nil {
		t.Fatal(err)
	}
	sweepStale()
	if netnsNames(t)[name] {
		t.Errorf("stale namespace %s survived the sweep", name)
	}
	if _, err := os.Stat(filepath.Join(registryDir, name)); err == nil {
		t.Errorf("registry entry of %s survived the sweep", name)
	}
	// Namespaces of live processes (this one) are kept.
	n := NewNetns(t)
	sweepStale()
	if !netnsNames(t)[n.Name] {
		t.Errorf("the sweep deleted %s, which belongs to a running test", n.Name)
	}
}

// TestForward reaches a server on the loopback address of a test namespace
// from the test's own namespace, and the cleanup ends relayed connections.
func TestForward(t *testing.T) {
	RequireRoot(t)
	ns := NewNetns(t)
	var ln net.Listener
	if err := ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, r.Body)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatalf("%s reachable from the test's namespace without forwarding: the test proves nothing", ln.Addr())
	}
	local := ns.Forward(t, ln.Addr().String())
	resp, err := http.Post("http://"+local+"/", "text/plain", strings.NewReader("through the namespace"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "through the namespace" {
		t.Errorf("%q %v", body, err)
	}
}
