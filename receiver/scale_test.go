package receiver_test

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	tf "github.com/packet-exporter/packet-exporter/internal/testing/testframe"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
	"github.com/packet-exporter/packet-exporter/receiver"
)

var interfaceAttr = regexp.MustCompile(`network\.interface\.name=([^,]+)`)

// receivedByInterface returns, from one collection, the packets counted per
// interface and direction ("name/receive"), summed over classes.
func receivedByInterface(t *testing.T, recv *receiver.Receiver) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for key, v := range collect(t, recv)[metricdef.NetworkPackets.Name] {
		m := interfaceAttr.FindStringSubmatch(key)
		if m == nil {
			t.Fatalf("series without an interface: %s", key)
		}
		dir := "transmit"
		if strings.Contains(key, "network.io.direction=receive") {
			dir = "receive"
		}
		out[m[1]+"/"+dir] += v
	}
	return out
}

// attachedPrograms returns the IDs of the programs attached to interface
// index of ns at ingress and egress: through tcx, or as legacy tc filters
// where the kernel has no tcx.
func attachedPrograms(t *testing.T, ns *testenv.Netns, index int) (ingress, egress []ebpf.ProgramID) {
	t.Helper()
	if tcHook() == config.HookTC {
		for _, f := range testenv.BPFFilters(t, ns, index, netlink.HANDLE_MIN_INGRESS) {
			ingress = append(ingress, ebpf.ProgramID(f.Id))
		}
		for _, f := range testenv.BPFFilters(t, ns, index, netlink.HANDLE_MIN_EGRESS) {
			egress = append(egress, ebpf.ProgramID(f.Id))
		}
		return ingress, egress
	}
	err := ns.Do(func() error {
		for _, q := range []struct {
			attach ebpf.AttachType
			out    *[]ebpf.ProgramID
		}{{ebpf.AttachTCXIngress, &ingress}, {ebpf.AttachTCXEgress, &egress}} {
			res, err := link.QueryPrograms(link.QueryOptions{Target: index, Attach: q.attach})
			if err != nil {
				return err
			}
			for _, p := range res.Programs {
				*q.out = append(*q.out, p.ID)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ingress, egress
}

// TestThousandInterfaces counts 1000 veth ends in one namespace: every one is
// attached, all share one program per hook, traffic sent on a sample of them
// is counted exactly on each, and nothing is counted anywhere else.
func TestThousandInterfaces(t *testing.T) {
	testenv.RequireRoot(t)
	const n, every = 1000, 50
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	testenv.AddVeths(t, a, b, n, "s%04d", "p%04d")
	start := time.Now()
	recv := startIn(t, a, func(c *config.Config) { c.Interfaces.Include = []string{"s*"} })
	waitFor(t, 2*time.Minute, fmt.Sprintf("%d interfaces attached", n), func() bool { return len(recv.Attached()) == n })
	t.Logf("%d interfaces attached %v after start", n, time.Since(start).Round(time.Millisecond))
	if !recv.Ready() {
		t.Error("not ready with every interface attached")
	}

	programs := map[string]map[ebpf.ProgramID]int{"ingress": {}, "egress": {}}
	for i := range n {
		name := fmt.Sprintf("s%04d", i)
		ingress, egress := attachedPrograms(t, a, linkIndex(t, a, name))
		if len(ingress) != 1 || len(egress) != 1 {
			t.Fatalf("%s: programs %v at ingress, %v at egress, want one each", name, ingress, egress)
		}
		programs["ingress"][ingress[0]]++
		programs["egress"][egress[0]]++
	}
	for hook, ids := range programs {
		if len(ids) != 1 {
			t.Errorf("%s: %d distinct programs attached (%v), want one for every interface", hook, len(ids), ids)
		}
	}

	// Frames of a known number into a sample of interfaces, from their peers.
	frame := tf.MustBuild(tf.Frame{Dst: [6]byte{0x02, 0, 0, 0, 0, 0x99}, IPv4: &tf.IPv4{}, UDP: &tf.UDP{SrcPort: 9, DstPort: 9}})
	want := map[string]int64{}
	for i := 0; i < n; i += every {
		peer := fmt.Sprintf("p%04d", i)
		var index int
		if err := b.Do(func() error {
			l, err := netlink.LinkByName(peer)
			if err == nil {
				index = l.Attrs().Index
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		count := 1 + i/every%7
		frames := make([][]byte, count)
		for k := range frames {
			frames[k] = frame
		}
		testtraffic.SendFrames(t, b, index, frames...)
		want[fmt.Sprintf("s%04d/receive", i)] = int64(count)
	}
	var got map[string]int64
	waitFor(t, 5*time.Second, "the sample's frames counted", func() bool {
		got = receivedByInterface(t, recv)
		for k, v := range want {
			if got[k] != v {
				return false
			}
		}
		return true
	})
	time.Sleep(100 * time.Millisecond) // anything counted elsewhere would show by now
	got = receivedByInterface(t, recv)
	for k, v := range got {
		if want[k] != v {
			t.Errorf("%s: counted %d packets, want %d", k, v, want[k])
		}
	}
	if errs := collect(t, recv)[metricdef.KernelCountErrors.Name]; errs["error.type=unmapped_interface"] != 0 || errs["error.type=no_counter"] != 0 {
		t.Errorf("count errors: %v", errs)
	}
	if err := recv.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += every / 5 {
		testenv.AssertNothingAttached(t, a, fmt.Sprintf("s%04d", i))
	}
}

// TestRecycledIfindexStartsFromZero deletes a counted interface and creates
// another with the same ifindex (the slot is reused too): the new one's
// counts start from zero, and the old one's series are gone.
func TestRecycledIfindexStartsFromZero(t *testing.T) {
	testenv.RequireRoot(t)
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	for _, ns := range []*testenv.Netns{a, b} {
		if err := ns.Sysctl("net.ipv6.conf.default.disable_ipv6", "1"); err != nil {
			t.Fatal(err)
		}
	}
	recv := startIn(t, a, nil)
	frame := tf.MustBuild(tf.Frame{Dst: [6]byte{0x02, 0, 0, 0, 0, 0x99}, IPv4: &tf.IPv4{}, UDP: &tf.UDP{SrcPort: 9, DstPort: 9}})
	const index = 4242
	for round, tc := range []struct {
		name   string
		frames int
	}{{"first", 5}, {"second", 3}, {"first", 2}} { // the same name again, too
		var peer int
		if err := a.Do(func() error {
			err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: tc.name, Index: index},
				PeerName: tc.name + "p", PeerNamespace: netlink.NsFd(int(b.Handle))})
			if err != nil {
				return err
			}
			return quietUp(tc.name, nil)
		}); err != nil {
			t.Fatal(err)
		}
		if err := b.Do(func() error { return quietUp(tc.name+"p", &peer) }); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, tc.name+" attached", func() bool { return attached(recv, tc.name) })
		// IPv6 and ARP are off: the interface carries nothing but the test's frames.
		if got := receivedByInterface(t, recv); len(got) != 0 {
			t.Errorf("round %d: %v counted before any frame: carried over from the ifindex's earlier interface", round, got)
		}
		frames := make([][]byte, tc.frames)
		for k := range frames {
			frames[k] = frame
		}
		testtraffic.SendFrames(t, b, peer, frames...)
		waitFor(t, 5*time.Second, "frames counted", func() bool {
			return receivedByInterface(t, recv)[tc.name+"/receive"] == int64(tc.frames)
		})
		if err := a.Do(func() error {
			l, err := netlink.LinkByName(tc.name)
			if err != nil {
				return err
			}
			if l.Attrs().Index != index {
				return fmt.Errorf("%s has ifindex %d, want %d", tc.name, l.Attrs().Index, index)
			}
			return netlink.LinkDel(l)
		}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, tc.name+" forgotten", func() bool {
			return !attached(recv, tc.name) && receivedByInterface(t, recv)[tc.name+"/receive"] == 0
		})
	}
}

// quietUp turns ARP off on interface name and brings it up (in the calling
// thread's namespace), and stores its ifindex in index unless nil.
func quietUp(name string, index *int) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	if index != nil {
		*index = l.Attrs().Index
	}
	if err := netlink.LinkSetARPOff(l); err != nil {
		return err
	}
	return netlink.LinkSetUp(l)
}

// TestUnmappedFrameCounted attaches the receiver's ingress program to an
// interface the receiver does not count (it has no slot), through the hook
// the receiver uses: its frames go through and are counted in
// packet_exporter.kernel.count_errors as unmapped_interface.
func TestUnmappedFrameCounted(t *testing.T) {
	testenv.RequireRoot(t)
	a, b, counted := testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true})
	other := testenv.NewVethPair(t, a, b, testenv.VethOptions{Quiet: true})
	recv := startCounting(t, a, counted.NameA, nil)
	ingress, _ := attachedPrograms(t, a, counted.IndexA)
	prog, err := ebpf.NewProgramFromID(ingress[0])
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	if tcHook() == config.HookTC {
		addClsact(t, a, other.IndexA)
		addFilter(t, a, other.IndexA, netlink.HANDLE_MIN_INGRESS, 1, 1, "unmapped", prog)
	} else {
		var l link.Link
		if err := a.Do(func() error {
			l, err = link.AttachTCX(link.TCXOptions{Interface: other.IndexA, Program: prog, Attach: ebpf.AttachTCXIngress})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer l.Close()
	}
	const frames = 6
	frame := tf.MustBuild(tf.Frame{Dst: [6]byte{0x02, 0, 0, 0, 0, 0x99}, IPv4: &tf.IPv4{}, UDP: &tf.UDP{SrcPort: 9, DstPort: 9}})
	for range frames {
		testtraffic.SendFrames(t, b, other.IndexB, frame)
	}
	waitFor(t, 5*time.Second, "unmapped frames counted", func() bool {
		return collect(t, recv)[metricdef.KernelCountErrors.Name]["error.type=unmapped_interface"] == frames
	})
	if n := testenv.LinkStatsOf(t, a, other.NameA).RxPackets; n != frames {
		t.Errorf("%s received %d frames, want %d: the program must let them through", other.NameA, n, frames)
	}
	if got := receivedByInterface(t, recv); len(got) != 0 {
		t.Errorf("counted %v, want nothing", got)
	}
}

// TestChurnWithTraffic creates and deletes veth pairs without pause while UDP
// traffic flows on a fixed pair: the fixed pair's counts stay exact (equal to
// the datagrams sent and to the veth's own counters), and once the receiver
// is closed its programs are gone from the kernel and nothing is attached.
func TestChurnWithTraffic(t *testing.T) {
	testenv.RequireRoot(t)
	a, b, fixed := testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true, DisableOffloads: true})
	recv := startIn(t, a, nil)
	waitFor(t, 5*time.Second, "fixed pair attached", func() bool { return attached(recv, fixed.NameA) })
	ingress, egress := attachedPrograms(t, a, fixed.IndexA)
	before := testenv.LinkStatsOf(t, a, fixed.NameA)
	sink := testtraffic.ListenUDP(t, a, fixed.IPv4A.Addr())

	stop := make(chan struct{})
	sent := make(chan int)
	go func() {
		n := 0
		defer func() { sent <- n }() // also when SendUDP fails the test and ends the goroutine
		for {
			select {
			case <-stop:
				return
			default:
			}
			testtraffic.SendUDP(t, b, fixed.IPv4B.Addr(), sink.Addr, 20, 32)
			n += 20
		}
	}()
	const pairs = 300
	for i := range pairs {
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("churn%d", i)}, PeerName: fmt.Sprintf("churn%dp", i), PeerNamespace: netlink.NsFd(int(b.Handle))}
		if err := a.Do(func() error {
			if err := netlink.LinkAdd(v); err != nil {
				return err
			}
			if err := netlink.LinkSetUp(v); err != nil {
				return err
			}
			if i >= 10 { // ten alive at a time
				return netlink.LinkDel(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("churn%d", i-10)}})
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	datagrams := <-sent
	waitFor(t, 5*time.Second, "the fixed pair's datagrams counted", func() bool {
		n, _ := udpReceived(t, recv, fixed.NameA)
		return n == int64(datagrams)
	})
	if rx := testenv.LinkStatsOf(t, a, fixed.NameA).RxPackets - before.RxPackets; rx != uint64(datagrams) {
		t.Errorf("%s received %d frames, %d datagrams sent", fixed.NameA, rx, datagrams)
	}
	waitFor(t, 10*time.Second, "the churned interfaces attached or forgotten", func() bool { return len(recv.Attached()) == 11 })
	if errs := collect(t, recv)[metricdef.KernelCountErrors.Name]; errs["error.type=unmapped_interface"] != 0 || errs["error.type=no_counter"] != 0 {
		t.Errorf("count errors: %v", errs)
	}
	t.Logf("%d datagrams counted exactly while %d pairs came and went", datagrams, pairs)

	if err := recv.Close(); err != nil {
		t.Fatal(err)
	}
	testenv.AssertNothingAttached(t, a, fixed.NameA)
	for _, id := range append(ingress, egress...) {
		waitFor(t, 5*time.Second, fmt.Sprintf("program %d unloaded", id), func() bool {
			p, err := ebpf.NewProgramFromID(id)
			if err == nil {
				p.Close()
			}
			return errors.Is(err, os.ErrNotExist)
		})
	}
}
