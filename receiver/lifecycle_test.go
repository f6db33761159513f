package receiver_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
	"github.com/packet-exporter/packet-exporter/receiver"
)

// startIn starts a receiver counting every interface but lo of namespace ns.
func startIn(t *testing.T, ns *testenv.Netns, mutate func(*config.Config), opts ...receiver.Option) *receiver.Receiver {
	t.Helper()
	cfg := config.Default()
	if mutate != nil {
		mutate(&cfg)
	}
	recv, err := receiver.New(cfg, zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)), append(opts, receiver.WithNetns(ns.Handle))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { recv.Close() })
	if err := recv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return recv
}

// waitFor polls cond every 10ms until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func attached(recv *receiver.Receiver, name string) bool {
	return slices.Contains(recv.Attached(), name)
}

// startCounting starts a receiver in ns that counts interface name only,
// with mutate (if not nil) applied to its configuration after that, and
// waits until it has attached to name.
func startCounting(t *testing.T, ns *testenv.Netns, name string, mutate func(*config.Config)) *receiver.Receiver {
	t.Helper()
	recv := startIn(t, ns, func(c *config.Config) {
		c.Interfaces.Include = []string{name}
		if mutate != nil {
			mutate(c)
		}
	})
	waitFor(t, 5*time.Second, "attached", func() bool { return attached(recv, name) })
	return recv
}

// veth is a veth pair created by name, with the IPv4 addresses 10.201.K.1/30
// and .2/30 on its ends.
type veth struct {
	a, b         *testenv.Netns
	nameA, nameB string
	ipA, ipB     netip.Addr
}

func newVeth(t *testing.T, a, b *testenv.Netns, nameA, nameB string, k int) *veth {
	t.Helper()
	v := &veth{a: a, b: b, nameA: nameA, nameB: nameB,
		ipA: netip.AddrFrom4([4]byte{10, 201, byte(k), 1}), ipB: netip.AddrFrom4([4]byte{10, 201, byte(k), 2})}
	err := a.Do(func() error {
		if err := addVeth(nameA, nameB, b); err != nil {
			return fmt.Errorf("add veth %s: %w", nameA, err)
		}
		return setUp(nameA, v.ipA)
	})
	if err == nil {
		err = b.Do(func() error { return setUp(nameB, v.ipB) })
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func setUp(name string, ip netip.Addr) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	addr, _ := netlink.ParseAddr(netip.PrefixFrom(ip, 30).String())
	if err := netlink.AddrAdd(l, addr); err != nil {
		return err
	}
	return netlink.LinkSetUp(l)
}

func (v *veth) del(t *testing.T) {
	t.Helper()
	if err := v.a.Do(func() error { return delLink(v.nameA) }); err != nil {
		t.Fatal(err)
	}
}

// addVeth creates a veth pair from the calling thread's namespace: end name
// there, end peerName in peer, both down.
func addVeth(name, peerName string, peer *testenv.Netns) error {
	return netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: peerName, PeerNamespace: netlink.NsFd(int(peer.Handle))})
}

// delLink deletes interface name of the calling thread's namespace.
func delLink(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	return netlink.LinkDel(l)
}

// udpReceived returns the receive/ipv4/udp packet count of iface in one
// collection, and whether the series exists.
func udpReceived(t *testing.T, recv *receiver.Receiver, iface string) (int64, bool) {
	t.Helper()
	series := attrString(attribute.NewSet(metricdef.NetworkInterfaceName.String(iface), metricdef.NetworkIODirection.String("receive"),
		metricdef.NetworkType.String("ipv4"), metricdef.NetworkTransport.String("udp")), allKeys)
	n, ok := collectKeys(t, recv, allKeys)[metricdef.NetworkPackets.Name][series]
	return n, ok
}

// TestInterfaceLifecycle creates an interface after the receiver started,
// deletes it and recreates it under the same name: it is attached within a
// second, its series go with it, and the new one counts from zero.
func TestInterfaceLifecycle(t *testing.T) {
	testenv.RequireRoot(t)
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	recv := startIn(t, a, nil)
	if n := len(recv.Attached()); n != 0 {
		t.Fatalf("attached %v before any interface exists", recv.Attached())
	}
	nameA, nameB := testenv.UniqueName("lc"), testenv.UniqueName("lc")

	v := newVeth(t, a, b, nameA, nameB, 1)
	start := time.Now()
	waitFor(t, time.Second, "new interface attached", func() bool { return attached(recv, nameA) })
	t.Logf("attached %v after creation", time.Since(start))
	if !recv.Ready() {
		t.Error("not ready with every interface attached")
	}
	sink := testtraffic.ListenUDP(t, a, v.ipA)
	testtraffic.SendUDP(t, b, v.ipB, sink.Addr, 10, 20)
	waitFor(t, 2*time.Second, "10 datagrams counted", func() bool { n, _ := udpReceived(t, recv, nameA); return n == 10 })

	v.del(t)
	waitFor(t, time.Second, "deleted interface detached", func() bool { return !attached(recv, nameA) })
	if _, ok := udpReceived(t, recv, nameA); ok {
		t.Error("series of the deleted interface still reported")
	}

	v = newVeth(t, a, b, nameA, nameB, 1)
	waitFor(t, time.Second, "recreated interface attached", func() bool { return attached(recv, nameA) })
	sink = testtraffic.ListenUDP(t, a, v.ipA)
	testtraffic.SendUDP(t, b, v.ipB, sink.Addr, 3, 20)
	waitFor(t, 2*time.Second, "3 datagrams counted", func() bool { n, _ := udpReceived(t, recv, nameA); return n == 3 })
	time.Sleep(100 * time.Millisecond)
	if n, _ := udpReceived(t, recv, nameA); n != 3 {
		t.Errorf("recreated interface counts %d datagrams, want 3 (no inheritance)", n)
	}
}

// foreignXDP attaches a trivial XDP_PASS program to name in ns the way
// another tool would, and returns its program ID.
func foreignXDP(t *testing.T, ns *testenv.Netns, name string) ebpf.ProgramID {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	var l link.Link
	if err := ns.Do(func() error {
		iface, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: iface.Attrs().Index, Flags: link.XDPDriverMode})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	info, err := prog.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	return id
}

func xdpProgID(t *testing.T, ns *testenv.Netns, name string) uint32 {
	t.Helper()
	var id uint32
	if err := ns.Do(func() error {
		l, err := netlink.LinkByName(name)
		if err == nil && l.Attrs().Xdp != nil {
			id = l.Attrs().Xdp.ProgId
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestForeignXDPProgram attaches another program to the XDP hook first: the
// receiver leaves it in place and, with ingress.hook auto, counts through tcx
// ingress as always; with ingress.hook xdp it skips the interface and says why.
func TestForeignXDPProgram(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tc := range []struct {
		policy      string
		wantCounted bool
	}{{config.HookAuto, true}, {config.HookXDP, false}} {
		t.Run(tc.policy, func(t *testing.T) {
			a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Queues: 2, Quiet: true})
			foreign := foreignXDP(t, a, pair.NameA)
			recv := startIn(t, a, func(c *config.Config) { c.Ingress.Hook = tc.policy })
			if got := xdpProgID(t, a, pair.NameA); got != uint32(foreign) {
				t.Fatalf("XDP hook holds program %d, want the foreign %d left in place", got, foreign)
			}
			points := collect(t, recv)
			wantHook := fmt.Sprintf("hook=%s,network.interface.name=%s,network.io.direction=receive", tcHook(), pair.NameA)
			if _, ok := points[metricdef.InterfaceAttached.Name][wantHook]; ok != tc.wantCounted {
				t.Errorf("tcx ingress attached = %v, want %v (%v)", ok, tc.wantCounted, points[metricdef.InterfaceAttached.Name])
			}
			if !tc.wantCounted {
				skip := fmt.Sprintf("error.type=hook_busy,network.interface.name=%s", pair.NameA)
				if points[metricdef.InterfaceSkipped.Name][skip] != 1 {
					t.Errorf("skipped: %v, want %s", points[metricdef.InterfaceSkipped.Name], skip)
				}
				if recv.Ready() {
					t.Error("ready with a selected interface not counted")
				}
				return
			}
			sink := testtraffic.ListenUDP(t, a, pair.IPv4A.Addr())
			testtraffic.SendUDP(t, b, pair.IPv4B.Addr(), sink.Addr, 7, 20)
			waitFor(t, 2*time.Second, "7 datagrams counted through tcx", func() bool {
				n, _ := udpReceived(t, recv, pair.NameA)
				return n == 7
			})
		})
	}
}

// TestChurn brings 200 veth pairs up and down under a running receiver and
// checks that every one is attached and then forgotten, and that goroutines,
// file descriptors and heap return to their baseline.
func TestChurn(t *testing.T) {
	testenv.RequireRoot(t)
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	recv := startIn(t, a, nil)
	// The baseline once the drop counter, which starts beside the
	// interfaces, holds its program, maps and link.
	waitFor(t, 10*time.Second, "the drop counter counting", func() bool {
		return collect(t, recv)[metricdef.KernelFeatures.Name]["feature=drop_reasons"] == 1
	})
	baseGoroutines, baseFDs, baseHeap := usage(t)

	const pairs = 200
	for round := range 2 {
		names := make([]string, pairs)
		for i := range pairs {
			names[i] = testenv.UniqueName("ch")
			if err := a.Do(func() error { return addVeth(names[i], names[i]+"p", b) }); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, 60*time.Second, fmt.Sprintf("round %d: %d interfaces attached", round, pairs), func() bool { return len(recv.Attached()) == pairs })
		if points := collect(t, recv)[metricdef.InterfaceAttached.Name]; len(points) != 2*pairs {
			t.Fatalf("round %d: %d attachment series, want %d", round, len(points), 2*pairs)
		}
		for _, name := range names {
			if err := a.Do(func() error { return delLink(name) }); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, 30*time.Second, fmt.Sprintf("round %d: every interface forgotten", round), func() bool { return len(recv.Attached()) == 0 })
	}
	// A burst of interfaces deleted right after they appear: attaching to them
	// fails or is undone, and nothing of them may stay behind.
	for range 50 {
		name := testenv.UniqueName("cb")
		if err := a.Do(func() error {
			if err := addVeth(name, name+"p", b); err != nil {
				return err
			}
			return delLink(name)
		}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 15*time.Second, "no series of vanished interfaces", func() bool {
		points := collect(t, recv)
		return len(recv.Attached()) == 0 && len(points[metricdef.InterfaceAttached.Name]) == 0 &&
			len(points[metricdef.AttachFailures.Name]) == 0 && len(points[metricdef.InterfaceSkipped.Name]) == 0
	})
	var goroutines, fds int
	var heap uint64
	waitFor(t, 10*time.Second, "goroutines and file descriptors back to baseline", func() bool {
		goroutines, fds, heap = usage(t)
		return goroutines <= baseGoroutines+2 && fds <= baseFDs
	})
	t.Logf("baseline %d goroutines, %d fds, %d KiB heap; after churn %d, %d, %d KiB", baseGoroutines, baseFDs, baseHeap>>10, goroutines, fds, heap>>10)
	if heap > baseHeap+8<<20 {
		t.Errorf("heap grew from %d KiB to %d KiB", baseHeap>>10, heap>>10)
	}
}

func usage(t *testing.T) (goroutines, fds int, heap uint64) {
	t.Helper()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return runtime.NumGoroutine(), len(entries), m.HeapAlloc
}

// TestLostNetlinkMessages gives the netlink subscription the smallest buffer
// the kernel allows and creates interfaces faster than they are attached:
// messages are lost (ENOBUFS), and the receiver must notice, list again and
// end up with every interface attached. Whether a batch overflows the
// buffer depends on the machine's load, so batches come until one did (a
// resync is counted), five at most.
func TestLostNetlinkMessages(t *testing.T) {
	testenv.RequireRoot(t)
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	recv := startIn(t, a, nil, receiver.WithNetlinkBuffer(1))
	const batch, batches = 40, 5
	names := map[string]bool{}
	resyncs := int64(0)
	for round := 0; round < batches && resyncs == 0; round++ {
		for range batch {
			name := testenv.UniqueName("ls")
			names[name] = true
			if err := a.Do(func() error { return addVeth(name, name+"p", b) }); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, 30*time.Second, "every interface attached", func() bool { return len(recv.Attached()) == len(names) })
		resyncs = collect(t, recv)[metricdef.NetlinkResyncs.Name][""]
		t.Logf("after %d interfaces: %d resyncs", len(names), resyncs)
	}
	for _, name := range recv.Attached() {
		if !names[name] {
			t.Errorf("attached unexpected %s", name)
		}
	}
	if resyncs == 0 {
		t.Errorf("no resync counted after %d interfaces: the test did not make netlink lose messages", len(names))
	}
}

// TestProgramStats enables the kernel's BPF run statistics and checks that
// the programs' run counts are exported and equal the frames they counted.
func TestProgramStats(t *testing.T) {
	testenv.RequireRoot(t)
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		testenv.Skip(t, "kernel BPF statistics: %v", err)
	}
	defer stats.Close()
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Queues: 2, DisableOffloads: true, Quiet: true})
	recv := startIn(t, a, nil)
	sink := testtraffic.ListenUDP(t, a, pair.IPv4A.Addr())
	const datagrams = 33
	testtraffic.SendUDP(t, b, pair.IPv4B.Addr(), sink.Addr, datagrams, 10)
	waitFor(t, 2*time.Second, "datagrams counted", func() bool { n, _ := udpReceived(t, recv, pair.NameA); return n == datagrams })

	points := collect(t, recv)
	runs := points[metricdef.ProgramRuns.Name]
	rx := fmt.Sprintf("hook=%s,network.interface.name=%s,network.io.direction=receive", tcHook(), pair.NameA)
	tx := fmt.Sprintf("hook=%s,network.interface.name=%s,network.io.direction=transmit", tcHook(), pair.NameA)
	if runs[rx] != datagrams || runs[tx] != 0 {
		t.Errorf("program runs %v, want %d for %s and 0 for %s", runs, datagrams, rx, tx)
	}
	// The collection saw the kernel count runs, and the receiver attached
	// the timed variant of the programs in place of the others: their runs
	// are timed from then on, and still counted exactly.
	sent := int64(datagrams)
	waitFor(t, 5*time.Second, "program runs timed", func() bool {
		testtraffic.SendUDP(t, b, pair.IPv4B.Addr(), sink.Addr, 1, 10)
		sent++
		return collect(t, recv)[metricdef.ProgramRunTime.Name][rx] > 0
	})
	waitFor(t, 2*time.Second, "datagrams counted", func() bool { n, _ := udpReceived(t, recv, pair.NameA); return n == sent })
	points = collect(t, recv)
	if got := points[metricdef.ProgramRuns.Name][rx]; got != sent {
		t.Errorf("program runs %d, want %d", got, sent)
	}
	if ns := points[metricdef.ProgramRunTime.Name][rx]; ns > sent*int64(time.Millisecond) {
		t.Errorf("program run time %d ns for at most %d timed runs", ns, sent)
	}
}

// TestForeignTCXVerdictKept attaches another tcx ingress program that drops
// everything: counting through tcx ingress before it must not turn its drop
// into a pass.
func TestForeignTCXVerdictKept(t *testing.T) {
	testenv.RequireRoot(t)
	requireTCX(t)
	a, _, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Queues: 2, DisableOffloads: true, Quiet: true})
	drop, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SchedCLS, License: "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2 /* TCX_DROP */), asm.Return()}})
	if err != nil {
		t.Fatal(err)
	}
	defer drop.Close()
	var l link.Link
	if err := a.Do(func() error {
		var err error
		l, err = link.AttachTCX(link.TCXOptions{Interface: pair.IndexA, Program: drop, Attach: ebpf.AttachTCXIngress})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	recv := startIn(t, a, func(c *config.Config) { c.Ingress.Hook = config.HookTCX })
	assertCountedButDropped(t, recv, pair)
}

// assertCountedButDropped sends 5 datagrams from the pair's end B to a socket
// on end A, whose ingress recv counts and a foreign program then drops: all 5
// must be counted, none may reach the socket.
func assertCountedButDropped(t *testing.T, recv *receiver.Receiver, pair *testenv.VethPair) {
	t.Helper()
	var conn *net.UDPConn
	if err := pair.A.Do(func() error {
		var err error
		conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(pair.IPv4A.Addr(), 0)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	testtraffic.SendUDP(t, pair.B, pair.IPv4B.Addr(), conn.LocalAddr().(*net.UDPAddr).AddrPort(), 5, 10)
	waitFor(t, 2*time.Second, "5 datagrams counted", func() bool { n, _ := udpReceived(t, recv, pair.NameA); return n == 5 })
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := conn.Read(make([]byte, 100)); err == nil {
		t.Errorf("a datagram of %d bytes got through the foreign program's drop", n)
	}
}
