package receiver_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	tf "github.com/packet-exporter/packet-exporter/internal/testing/testframe"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// classFrames holds a frame of every traffic class the exporter reports, with
// the labels of its series (as in bpf/counter_test.go) and how many copies the
// VLAN tests send. The frames carry no tags and no MAC addresses: the tests
// add them. Sizes and counts differ from class to class, so that a frame
// counted in the wrong series shows.
var classFrames = []struct {
	netType, transport string
	frame              tf.Frame
	count              int
}{
	{"ipv4", "tcp", tf.Frame{IPv4: &tf.IPv4{}, TCP: &tf.TCP{SrcPort: 40001, DstPort: 80, Flags: 0x18}, Payload: make([]byte, 100)}, 3},
	{"ipv4", "udp", tf.Frame{IPv4: &tf.IPv4{}, UDP: &tf.UDP{SrcPort: 40002, DstPort: 53}, Payload: make([]byte, 61)}, 2},
	{"ipv4", "icmp", tf.Frame{IPv4: &tf.IPv4{}, ICMP: &tf.ICMP{Type: 8, ID: 1}, Payload: make([]byte, 56)}, 1},
	// ICMPv6 over IPv4 (protocol 58) is nonsense on a network, but the
	// exporter reports what the protocol field says.
	{"ipv4", "icmpv6", tf.Frame{IPv4: &tf.IPv4{}, ICMPv6: &tf.ICMP{Type: 128, ID: 2}, Payload: make([]byte, 8)}, 2},
	{"ipv4", "sctp", tf.Frame{IPv4: &tf.IPv4{}, SCTP: &tf.SCTP{SrcPort: 40003, DstPort: 2905}, Payload: make([]byte, 16)}, 3},
	{"ipv4", "other", tf.Frame{IPv4: &tf.IPv4{Protocol: 47}, Payload: make([]byte, 24)}, 1}, // GRE
	{"ipv6", "tcp", tf.Frame{IPv6: &tf.IPv6{}, TCP: &tf.TCP{SrcPort: 40004, DstPort: 443, Flags: 0x18}, Payload: make([]byte, 1200)}, 2},
	{"ipv6", "udp", tf.Frame{IPv6: &tf.IPv6{}, UDP: &tf.UDP{SrcPort: 40005, DstPort: 53}, Payload: make([]byte, 33)}, 1},
	// ICMP (protocol 1) over IPv6, the converse nonsense.
	{"ipv6", "icmp", tf.Frame{IPv6: &tf.IPv6{}, ICMP: &tf.ICMP{Type: 8, ID: 3}, Payload: make([]byte, 12)}, 3},
	{"ipv6", "icmpv6", tf.Frame{IPv6: &tf.IPv6{}, ICMPv6: &tf.ICMP{Type: 128, ID: 4}, Payload: make([]byte, 64)}, 2},
	{"ipv6", "sctp", tf.Frame{IPv6: &tf.IPv6{}, SCTP: &tf.SCTP{SrcPort: 40006, DstPort: 2905}, Payload: make([]byte, 20)}, 1},
	{"ipv6", "other", tf.Frame{IPv6: &tf.IPv6{NextHeader: 47}, Payload: make([]byte, 40)}, 2}, // GRE
	{"arp", "none", tf.Frame{ARP: true}, 3},
	{"other", "none", tf.Frame{EtherType: 0x88b5, Payload: make([]byte, 50)}, 1},
}

// vlanTagSets are the tags of the tagged frames, outermost first: one 802.1Q
// tag; an 802.1ad tag over an 802.1Q tag (QinQ); and one tag more than the
// parser walks (two, the one held in metadata included), which makes every
// frame count as other/none with a too_deep parse error, on every hook alike.
var vlanTagSets = []struct {
	tags    []tf.VLAN
	tooDeep bool
}{
	{[]tf.VLAN{{TPID: 0x8100, ID: 100}}, false},
	{[]tf.VLAN{{TPID: 0x88a8, ID: 200}, {TPID: 0x8100, ID: 300}}, false},
	{[]tf.VLAN{{TPID: 0x88a8, ID: 200}, {TPID: 0x8100, ID: 300}, {TPID: 0x8100, ID: 400}}, true},
}

// vlanPath is a way tagged frames reach a hook of the counted interface with
// their outer tag in the socket buffer's metadata.
type vlanPath struct {
	name      string
	direction string // receive or transmit, as the counted interface sees the frames
	hook      string // config ingress.hook
	// kernelShort is how many bytes per frame veth's own byte counter of the
	// counted end (RxBytes for receive, TxBytes for transmit) leaves out of the
	// frame on the wire. veth counts skb->len: received frames as the peer
	// sent them (tags in the data, Ethernet header included), except on its
	// NAPI path (taken with an XDP program attached), which counts after the
	// 14-byte Ethernet header was pulled; sent frames without the tag held in
	// metadata.
	kernelShort int
}

var vlanPaths = []vlanPath{
	// Tagged frames injected at the peer arrive with their tags in the data;
	// __netif_receive_skb_core (skb_vlan_untag) takes the outer one into
	// metadata before tcx ingress runs.
	{name: "tc ingress", direction: "receive", hook: config.HookAuto, kernelShort: 0},
	// The counted end is a port of a bridge that forwards tagged frames from
	// another port: the outer tag, taken into metadata on receive there, stays
	// in metadata on transmit (veth offloads VLAN insertion, tx-vlan-offload),
	// so tcx egress of the counted end sees it in metadata. A VLAN device on
	// the counted end would do the same (vlan_dev_hard_start_xmit puts its tag
	// in metadata), but kernels built without CONFIG_VLAN_8021Q have none.
	{name: "tc egress", direction: "transmit", hook: config.HookAuto, kernelShort: 4},
	// The same frames as tcx ingress, counted by XDP, which runs before the
	// kernel untags anything: both hooks must count the same bytes.
	{name: "xdp native ingress", direction: "receive", hook: config.HookXDP, kernelShort: testtraffic.EthernetHeader},
}

// TestVLANFramesCountWholeFrameOnTC sends tagged frames of every traffic
// class, with one, two and three tags, through tc ingress and egress (tcx, or
// legacy tc before Linux 6.6) of a counted veth end with the outer tag in the
// socket buffer's metadata (and, for comparison, through native XDP, which
// sees every tag in the frame), and
// checks that each series counts the frames exactly, tags included, and that
// the tag in metadata counts against the two tags the parser walks.
//
// The oracle is the frames themselves, built by testframe: what the test
// sends is what is on the wire. Two AF_PACKET captures, on the counted end
// and on its peer, confirm it: with the tag the kernel reports in metadata
// put back, they see exactly those frames and nothing else, and the capture
// on the counted end, which sees a frame where tc does, shows that the outer
// tag was in metadata there. veth's own counters add a third view, off by the
// bytes vlanPath.kernelShort documents.
func TestVLANFramesCountWholeFrameOnTC(t *testing.T) {
	testenv.RequireRoot(t)
	for _, path := range vlanPaths {
		for _, set := range vlanTagSets {
			t.Run(fmt.Sprintf("%s/%d tags", path.name, len(set.tags)), func(t *testing.T) { testVLAN(t, path, set.tags, set.tooDeep) })
		}
	}
}

func testVLAN(t *testing.T, path vlanPath, tags []tf.VLAN, tooDeep bool) {
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	// Two queues, as native XDP on veth wants at least as many RX queues on
	// the XDP end as the peer has TX queues.
	pair := testenv.NewVethPair(t, a, b, testenv.VethOptions{Queues: 2, Quiet: true})
	cfg := config.Default()
	cfg.Interfaces.Include = []string{pair.NameA}
	cfg.Ingress.Hook = path.hook
	cfg.XDP.Mode = config.XDPModeNative
	cfg.Egress.Enabled = true
	cfg.Limits.MaxInterfaces = 4
	exp := startExporter(t, a, cfg)
	wantHook := fmt.Sprintf("hook=%s,network.interface.name=%s,network.io.direction=receive", tcHook(), pair.NameA)
	if path.hook == config.HookXDP {
		wantHook = fmt.Sprintf("hook=xdp,mode=native,network.interface.name=%s,network.io.direction=receive", pair.NameA)
	}
	if attachedHooks := collect(t, exp.recv)[metricdef.InterfaceAttached.Name]; attachedHooks[wantHook] != 1 {
		t.Fatalf("attached %v, want %s", attachedHooks, wantHook)
	}

	// Frames are injected whole, tags in their data, at the peer (received
	// frames) or at the far end of another bridge port (sent frames). They go
	// to a MAC address that is neither end's, with VLAN ids no device has: the
	// bridge floods them, the ends drop them after tc ingress, nothing answers.
	sendIndex, src := pair.IndexB, pair.MACB
	if path.direction == "transmit" {
		feeder := bridgeWithFeeder(t, a, b, pair.NameA)
		sendIndex, src = feeder.IndexB, feeder.MACB
	}
	dst := [6]byte{0x02, 0x5e, 0x10, 0x00, 0x00, 0x01}
	if bytes.Equal(dst[:], pair.MACA) || bytes.Equal(dst[:], pair.MACB) {
		dst[5]++
	}

	capA, capB := testtraffic.NewCapture(t, a, pair.IndexA), testtraffic.NewCapture(t, b, pair.IndexB)
	before := testenv.LinkStatsOf(t, a, pair.NameA)

	want := traffic{}
	var wire [][]byte
	var wireBytes int
	for _, c := range classFrames {
		f := c.frame
		f.Dst, f.VLANs = dst, tags
		copy(f.Src[:], src)
		frame := tf.MustBuild(f)
		for range c.count {
			wire = append(wire, frame)
			wireBytes += len(frame)
		}
		s := series{path.direction, c.netType, c.transport}
		if tooDeep {
			s.netType, s.transport = "other", "none"
		}
		want.add(s, c.count, len(frame))
	}
	wantParseErrors := map[string]int64{}
	if tooDeep {
		wantParseErrors[fmt.Sprintf("error.type=too_deep,network.interface.name=%s,network.io.direction=%s", pair.NameA, path.direction)] = int64(len(wire))
	}
	testtraffic.SendFrames(t, b, sendIndex, wire...)

	// Wait for the counts, then for the captures, then check the counts again:
	// a frame sent by the kernel itself would show in all three.
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if got, _ := exp.scrape(t, pair.NameA); fmt.Sprint(got) == fmt.Sprint(want) || time.Now().After(deadline) {
			break
		}
	}

	// Both captures saw exactly the frames sent, and the counted end saw every
	// one with its outer tag in metadata.
	for _, c := range []struct {
		name    string
		capture *testtraffic.Capture
		// outgoing: whether this end sent the frames.
		outgoing bool
	}{
		{"counted end " + pair.NameA, capA, path.direction == "transmit"},
		{"peer " + pair.NameB, capB, path.direction == "receive"},
	} {
		frames := readCapture(t, c.capture, len(wire))
		var inMetadata int
		for _, f := range frames {
			if f.Outgoing != c.outgoing {
				t.Errorf("%s: captured a frame with outgoing=%v, want %v: %s", c.name, f.Outgoing, c.outgoing, describeFrame(f.Frame, f.TagInMetadata))
			}
			if f.TagInMetadata {
				inMetadata++
			}
		}
		t.Logf("%s: %d of %d frames with the outer tag in metadata", c.name, inMetadata, len(frames))
		if c.capture == capA && inMetadata != len(frames) {
			t.Errorf("%s: %d of %d frames with the outer tag in metadata, want all: the test does not test what it means to",
				c.name, inMetadata, len(frames))
		}
		if diff := frameDiff(frames, wire); diff != "" {
			t.Errorf("%s: captured frames differ from those sent:\n%s", c.name, diff)
		}
	}

	// veth's own counters: the same frames, short by kernelShort bytes each,
	// and nothing in the other direction.
	after := testenv.LinkStatsOf(t, a, pair.NameA)
	var kernel, other [2]uint64 // packets, bytes
	rx := [2]uint64{after.RxPackets - before.RxPackets, after.RxBytes - before.RxBytes}
	tx := [2]uint64{after.TxPackets - before.TxPackets, after.TxBytes - before.TxBytes}
	kernel, other = rx, tx
	if path.direction == "transmit" {
		kernel, other = tx, rx
	}
	wantKernel := [2]uint64{uint64(len(wire)), uint64(wireBytes - len(wire)*path.kernelShort)}
	if kernel != wantKernel || other != [2]uint64{} {
		t.Errorf("veth %s counted %v packets/bytes in the frames' direction and %v in the other, want %v and none",
			pair.NameA, kernel, other, wantKernel)
	}

	// The exporter: every frame in its series, with its size on the wire.
	got, _ := exp.scrape(t, pair.NameA)
	for s, w := range want {
		if g := got[s]; g != w {
			t.Errorf("%v: got %d packets %d bytes, want %d packets %d bytes (%+d bytes)",
				s, g.packets, g.bytes, w.packets, w.bytes, int64(g.bytes)-int64(w.bytes))
		}
	}
	for s, g := range got {
		if _, ok := want[s]; !ok {
			t.Errorf("unexpected series %v: %+v", s, g)
		}
	}
	if errs := collect(t, exp.recv)[metricdef.NetworkParseErrors.Name]; fmt.Sprint(errs) != fmt.Sprint(wantParseErrors) {
		t.Errorf("parse errors %v, want %v", errs, wantParseErrors)
	}
}

// bridgeWithFeeder makes the interface port of ns a port of a new bridge in
// ns, whose other port is the end in ns of a new veth pair to peer, and
// returns that pair: frames sent on its end in peer are forwarded out of
// port. The bridge has no address, no ARP, IPv6 off, no STP and no multicast
// snooping (with it, the bridge joins the all-snoopers group 224.0.0.106 and
// sends an IGMP report), so it sends nothing of its own. Deleting the
// namespace deletes it.
func bridgeWithFeeder(t *testing.T, ns, peer *testenv.Netns, port string) *testenv.VethPair {
	t.Helper()
	feeder := testenv.NewVethPair(t, ns, peer, testenv.VethOptions{Quiet: true})
	name := testenv.UniqueName("br")
	snooping := false
	bridge := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}, MulticastSnooping: &snooping}
	if err := ns.Do(func() error { return netlink.LinkAdd(bridge) }); err != nil {
		t.Fatalf("add bridge %s: %v", name, err)
	}
	if err := ns.Sysctl("net.ipv6.conf."+name+".disable_ipv6", "1"); err != nil {
		t.Fatal(err)
	}
	err := ns.Do(func() error {
		br, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		for _, p := range []string{port, feeder.NameA} {
			l, err := netlink.LinkByName(p)
			if err != nil {
				return err
			}
			if err := netlink.LinkSetMaster(l, br); err != nil {
				return fmt.Errorf("enslave %s: %w", p, err)
			}
		}
		if err := netlink.LinkSetARPOff(br); err != nil {
			return err
		}
		return netlink.LinkSetUp(br)
	})
	if err != nil {
		t.Fatalf("bridge %s: %v", name, err)
	}
	// Until the link watcher has seen it up, the bridge's ports do not forward.
	waitFor(t, 5*time.Second, name+" operationally up", func() bool {
		var up bool
		if err := ns.Do(func() error {
			l, err := netlink.LinkByName(name)
			up = err == nil && l.Attrs().OperState == netlink.OperUp
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return up
	})
	return feeder
}

// readCapture waits until capture has seen n frames, then a little longer
// for any frame beyond them, and returns what it saw.
func readCapture(t *testing.T, capture *testtraffic.Capture, n int) []testtraffic.Captured {
	t.Helper()
	var frames []testtraffic.Captured
	for deadline := time.Now().Add(3 * time.Second); len(frames) < n && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		frames = append(frames, capture.Read(t)...)
	}
	time.Sleep(50 * time.Millisecond)
	return append(frames, capture.Read(t)...)
}

// frameDiff compares the captured frames with the wire frames, in any order,
// and describes the frames only one side has; it returns "" when they match.
func frameDiff(captured []testtraffic.Captured, wire [][]byte) string {
	count := map[string]int{}
	for _, f := range wire {
		count[string(f)]++
	}
	var b strings.Builder
	for _, f := range captured {
		if count[string(f.Frame)] > 0 {
			count[string(f.Frame)]--
			continue
		}
		fmt.Fprintf(&b, "  unexpected frame: %s\n", describeFrame(f.Frame, f.TagInMetadata))
	}
	for _, f := range wire {
		if count[string(f)] > 0 {
			count[string(f)]--
			fmt.Fprintf(&b, "  missing frame: %s\n", describeFrame(f, false))
		}
	}
	return b.String()
}

func describeFrame(f []byte, tagInMetadata bool) string {
	const show = 64
	s := fmt.Sprintf("%d bytes, tag in metadata %v: % x", len(f), tagInMetadata, f[:min(len(f), show)])
	if len(f) > show {
		s += " ..."
	}
	return s
}
