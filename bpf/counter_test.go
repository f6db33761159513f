package bpf_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	tf "github.com/packet-exporter/packet-exporter/internal/testing/testframe"
)

const (
	xdpPass = 2
	tcxNext = 0xffffffff // TCX_NEXT (-1) as the u32 the kernel returns
)

// fixture holds each XDP program and the transmit tc program with a small
// counters map, counting the frames BPF_PROG_TEST_RUN hands them (on the
// loopback interface, ifindex 1) into a slot other than 0, so that a wrong
// block base shows.
type fixture struct {
	maps      *bpf.Maps
	reader    *bpf.Reader
	xdp       *ebpf.Program
	xdpLinear *ebpf.Program // the XDP program for kernels without multi-buffer
	tc        *ebpf.Program
}

const (
	fixtureSlots = 3
	// loopback is the ifindex of the interface BPF_PROG_TEST_RUN runs on.
	loopback = 1
	// testSlot is the slot loopback is counted in: the XDP programs count
	// into its receive block, the tc program into its transmit block.
	testSlot = 2
)

func newFixture(tb testing.TB, opts ...bpf.MapsOption) *fixture {
	tb.Helper()
	testenv.RequireRoot(tb)
	maps, err := bpf.NewMaps(fixtureSlots, bpf.EventOptions{}, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { maps.Close() })
	if err := maps.MapInterface(loopback, testSlot); err != nil {
		tb.Fatal(err)
	}
	xdp, err := maps.XDP()
	if err != nil {
		tb.Fatal(err)
	}
	xdpLinear, err := maps.XDPLinear()
	if err != nil {
		tb.Fatal(err)
	}
	tc, err := maps.TC(bpf.Transmit)
	if err != nil {
		tb.Fatal(err)
	}
	reader, err := bpf.NewReader(maps)
	if err != nil {
		tb.Fatal(err)
	}
	return &fixture{maps: maps, reader: reader, xdp: xdp, xdpLinear: xdpLinear, tc: tc}
}

// reset zeroes every counter and stat entry, and frees the test slot's tunnel
// counters.
func (f *fixture) reset(tb testing.TB) {
	tb.Helper()
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		tb.Fatal(err)
	}
	for i := range uint32(fixtureSlots * 2) {
		if err := f.maps.Counters.Put(i, make([]bpf.CounterPeBlock, cpus)); err != nil {
			tb.Fatal(err)
		}
	}
	for i := range uint32(bpf.StatCount) {
		if err := f.maps.Stats.Put(i, make([]uint64, cpus)); err != nil {
			tb.Fatal(err)
		}
	}
	// Mapping the interface again gives its tunnel counters back.
	if err := f.maps.MapInterface(loopback, testSlot); err != nil {
		tb.Fatal(err)
	}
}

// blockBase is the index of the first entry of the block of (slot, d) in
// the flattened entries counters returns.
func blockBase(slot int, d bpf.Direction) uint32 {
	return bpf.BlockIndex(slot, d) * uint32(bpf.EntriesPerDirection)
}

// counters returns the non-zero counter entries, the blocks flattened: entry
// e of the block of (slot, d) at blockBase(slot, d) + e.
func (f *fixture) counters(tb testing.TB) map[uint32]bpf.Value {
	tb.Helper()
	got := map[uint32]bpf.Value{}
	err := f.reader.Counters(fixtureSlots, func(blocks []bpf.Block) error {
		for b := range blocks {
			for e := range bpf.EntriesPerDirection {
				if v := blocks[b].Entry(e); v != (bpf.Value{}) {
					got[uint32(b*bpf.EntriesPerDirection+e)] = v
				}
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

func (f *fixture) assertNoErrors(tb testing.TB) {
	tb.Helper()
	stats, err := f.reader.Stats()
	if err != nil {
		tb.Fatal(err)
	}
	for i, n := range stats {
		if n != 0 {
			tb.Errorf("stats[%d] = %d, want 0", i, n)
		}
	}
}

// want is the expected outcome of counting one frame.
type want struct {
	netType, transport string
	anomaly            int // 0 for none, else a bpf.Anomaly* entry
}

// entries returns the counter entries a frame counted as packets packets of
// segLen bytes each, bytes in all, must leave in the block at base: its class,
// its size bucket and its anomaly, if any (buckets and anomalies count
// packets only).
func (w want) entries(tb testing.TB, base uint32, packets, bytes, segLen uint64) map[uint32]bpf.Value {
	tb.Helper()
	class, ok := bpf.ClassEntry(w.netType, w.transport)
	if !ok {
		tb.Fatalf("no class %s/%s", w.netType, w.transport)
	}
	m := map[uint32]bpf.Value{
		base + uint32(class):                              {Packets: packets, Bytes: bytes},
		base + uint32(bpf.BucketFirst+sizeBucket(segLen)): {Packets: packets},
	}
	if w.anomaly != 0 {
		m[base+uint32(w.anomaly)] = bpf.Value{Packets: packets}
	}
	return m
}

// sizeBucket is the packet-size bucket of a frame of n bytes: frames of at
// most 64, 128, 256, 512, 1024, 1518, 9000 bytes, and larger ones.
func sizeBucket(n uint64) int {
	for i, bound := range []uint64{64, 128, 256, 512, 1024, 1518, 9000} {
		if n <= bound {
			return i
		}
	}
	return 7
}

func (w want) String() string {
	if w.anomaly != 0 {
		return fmt.Sprintf("%s/%s+%s", w.netType, w.transport, bpf.AnomalyName(w.anomaly))
	}
	return w.netType + "/" + w.transport
}

var (
	tcpSYN   = &tf.TCP{SrcPort: 40000, DstPort: 80, Flags: 0x02}
	udpDNS   = &tf.UDP{SrcPort: 40000, DstPort: 53}
	icmpEcho = &tf.ICMP{Type: 8, ID: 1, Seq: 1}
	ipOpts   = []byte{0x94, 0x04, 0x00, 0x00} // router alert
	q        = func(id uint16) tf.VLAN { return tf.VLAN{TPID: 0x8100, ID: id} }
	ad       = func(id uint16) tf.VLAN { return tf.VLAN{TPID: 0x88a8, ID: id} }
	payload  = []byte("packet-exporter")
)

var frameCases = []struct {
	name  string
	frame tf.Frame
	want  want
}{
	{"ipv4 tcp", tf.Frame{IPv4: &tf.IPv4{}, TCP: tcpSYN}, want{"ipv4", "tcp", 0}},
	{"ipv4 udp", tf.Frame{IPv4: &tf.IPv4{}, UDP: udpDNS, Payload: payload}, want{"ipv4", "udp", 0}},
	{"ipv4 icmp", tf.Frame{IPv4: &tf.IPv4{}, ICMP: icmpEcho}, want{"ipv4", "icmp", 0}},
	{"ipv4 sctp", tf.Frame{IPv4: &tf.IPv4{}, SCTP: &tf.SCTP{SrcPort: 1, DstPort: 2}}, want{"ipv4", "sctp", 0}},
	{"ipv4 gre", tf.Frame{IPv4: &tf.IPv4{Protocol: 47}, Payload: payload}, want{"ipv4", "other", 0}},
	{"ipv4 options tcp", tf.Frame{IPv4: &tf.IPv4{Options: ipOpts}, TCP: tcpSYN}, want{"ipv4", "tcp", 0}},
	{"ipv4 options udp", tf.Frame{IPv4: &tf.IPv4{Options: ipOpts}, UDP: udpDNS}, want{"ipv4", "udp", 0}},
	{"ipv4 options icmp", tf.Frame{IPv4: &tf.IPv4{Options: make([]byte, 40)}, ICMP: icmpEcho}, want{"ipv4", "icmp", 0}},
	{"ipv4 first fragment", tf.Frame{IPv4: &tf.IPv4{MoreFragments: true}, UDP: udpDNS, Payload: payload}, want{"ipv4", "udp", 0}},
	// A non-first fragment has no UDP header: 3 payload bytes must not read as truncated.
	{"ipv4 later fragment", tf.Frame{IPv4: &tf.IPv4{Protocol: 17, FragOffset: 185}, Payload: []byte{1, 2, 3}}, want{"ipv4", "udp", 0}},
	{"ipv4 last fragment", tf.Frame{IPv4: &tf.IPv4{Protocol: 6, FragOffset: 1}, Payload: payload}, want{"ipv4", "tcp", 0}},
	{"ipv4 bad version", tf.Frame{IPv4: &tf.IPv4{Version: 5}, UDP: udpDNS}, want{"ipv4", "other", bpf.AnomalyMalformed}},
	{"ipv4 ihl below 5", tf.Frame{IPv4: &tf.IPv4{IHL: 4}, UDP: udpDNS}, want{"ipv4", "other", bpf.AnomalyMalformed}},
	{"ipv4 ihl beyond frame", tf.Frame{IPv4: &tf.IPv4{IHL: 15}, UDP: udpDNS}, want{"ipv4", "udp", bpf.AnomalyTruncated}},
	{"ipv6 tcp", tf.Frame{IPv6: &tf.IPv6{}, TCP: tcpSYN}, want{"ipv6", "tcp", 0}},
	{"ipv6 udp", tf.Frame{IPv6: &tf.IPv6{}, UDP: udpDNS, Payload: payload}, want{"ipv6", "udp", 0}},
	{"ipv6 icmpv6", tf.Frame{IPv6: &tf.IPv6{}, ICMPv6: &tf.ICMP{Type: 128}}, want{"ipv6", "icmpv6", 0}},
	{"ipv6 sctp", tf.Frame{IPv6: &tf.IPv6{}, SCTP: &tf.SCTP{SrcPort: 1, DstPort: 2}}, want{"ipv6", "sctp", 0}},
	{"ipv6 no next header", tf.Frame{IPv6: &tf.IPv6{NextHeader: 59}}, want{"ipv6", "other", 0}},
	{"ipv6 hop-by-hop fragment udp", tf.Frame{IPv6: &tf.IPv6{Ext: []tf.IPv6Ext{{Type: 0, Len: 8}, {Type: 44, MoreFragments: true}}}, UDP: udpDNS, Payload: payload}, want{"ipv6", "udp", 0}},
	{"ipv6 hop-by-hop fragment tcp", tf.Frame{IPv6: &tf.IPv6{Ext: []tf.IPv6Ext{{Type: 0, Len: 16}, {Type: 44}}}, TCP: tcpSYN}, want{"ipv6", "tcp", 0}},
	{"ipv6 later fragment", tf.Frame{IPv6: &tf.IPv6{NextHeader: 17, Ext: []tf.IPv6Ext{{Type: 44, FragOffset: 100}}}, Payload: []byte{1, 2}}, want{"ipv6", "udp", 0}},
	{"ipv6 all extension kinds", tf.Frame{IPv6: &tf.IPv6{Ext: []tf.IPv6Ext{{Type: 0, Len: 8}, {Type: 60, Len: 24}, {Type: 43, Len: 8}, {Type: 44}, {Type: 51, Len: 24}, {Type: 60, Len: 8}}}, ICMPv6: &tf.ICMP{Type: 128}}, want{"ipv6", "icmpv6", 0}},
	{"ipv6 too many extensions", tf.Frame{IPv6: &tf.IPv6{Ext: []tf.IPv6Ext{{Type: 0, Len: 8}, {Type: 60, Len: 8}, {Type: 60, Len: 8}, {Type: 60, Len: 8}, {Type: 60, Len: 8}, {Type: 60, Len: 8}, {Type: 60, Len: 8}}}, UDP: udpDNS}, want{"ipv6", "other", bpf.AnomalyTooDeep}},
	{"vlan ipv4 udp", tf.Frame{VLANs: []tf.VLAN{q(100)}, IPv4: &tf.IPv4{}, UDP: udpDNS}, want{"ipv4", "udp", 0}},
	{"qinq ipv4 tcp", tf.Frame{VLANs: []tf.VLAN{ad(10), q(100)}, IPv4: &tf.IPv4{}, TCP: tcpSYN}, want{"ipv4", "tcp", 0}},
	{"qinq ipv6 hop-by-hop fragment tcp", tf.Frame{VLANs: []tf.VLAN{ad(10), q(100)}, IPv6: &tf.IPv6{Ext: []tf.IPv6Ext{{Type: 0, Len: 8}, {Type: 44}}}, TCP: tcpSYN}, want{"ipv6", "tcp", 0}},
	{"vlan arp", tf.Frame{VLANs: []tf.VLAN{q(7)}, ARP: true}, want{"arp", "none", 0}},
	{"three vlan tags", tf.Frame{VLANs: []tf.VLAN{ad(1), q(2), q(3)}, IPv4: &tf.IPv4{}, UDP: udpDNS}, want{"other", "none", bpf.AnomalyTooDeep}},
	{"arp", tf.Frame{ARP: true}, want{"arp", "none", 0}},
	{"lldp", tf.Frame{EtherType: 0x88cc, Payload: payload}, want{"other", "none", 0}},
	{"unknown ethertype", tf.Frame{EtherType: 0x1234, Payload: payload}, want{"other", "none", 0}},
	{"802.3 length field", tf.Frame{EtherType: 0x0026, Payload: payload}, want{"other", "none", 0}},
	{"padded minimum frame", tf.Frame{IPv4: &tf.IPv4{}, UDP: udpDNS, Length: 60}, want{"ipv4", "udp", 0}},
	{"jumbo 9000 bytes", tf.Frame{IPv4: &tf.IPv4{}, UDP: udpDNS, Payload: make([]byte, 9000-42)}, want{"ipv4", "udp", 0}},
}

func TestCountFrames(t *testing.T) {
	f := newFixture(t)
	for _, tc := range frameCases {
		t.Run(tc.name, func(t *testing.T) {
			f.runBoth(t, tf.MustBuild(tc.frame), tc.want)
		})
	}
	t.Run("ipv6 extension beyond frame", func(t *testing.T) {
		frame := tf.MustBuild(tf.Frame{IPv6: &tf.IPv6{Ext: []tf.IPv6Ext{{Type: 60, Len: 2048}}}, UDP: udpDNS})
		f.runBoth(t, frame[:200], want{"ipv6", "udp", bpf.AnomalyTruncated})
	})
	t.Run("ipv6 bad version", func(t *testing.T) {
		frame := tf.MustBuild(tf.Frame{IPv6: &tf.IPv6{}, UDP: udpDNS})
		frame[14] = 0x40 | frame[14]&0x0f // an IPv6 ethertype carrying version 4
		f.runBoth(t, frame, want{"ipv6", "other", bpf.AnomalyMalformed})
	})
}

// runBoth counts frame with the XDP programs and the tc program and checks
// each program's verdict and the exact map contents.
func (f *fixture) runBoth(t *testing.T, frame []byte, w want) {
	t.Helper()
	n := uint64(len(frame))
	for _, xdp := range []*ebpf.Program{f.xdp, f.xdpLinear} {
		if xdp == f.xdpLinear && len(frame) > maxLinearXDP {
			continue // multi-buffer: only kernels that load the frags program make such frames
		}
		f.reset(t)
		ret, err := xdp.Run(&ebpf.RunOptions{Data: frame})
		switch {
		case refusedXDP(frame) && errors.Is(err, unix.EINVAL):
		case err != nil:
			t.Fatalf("%v run: %v", xdp, err)
		default:
			if ret != xdpPass {
				t.Errorf("%v verdict %d, want XDP_PASS", xdp, ret)
			}
			testenv.CompareMaps(t, "entry", f.counters(t), w.entries(t, blockBase(testSlot, bpf.Receive), 1, n, n))
			f.assertNoErrors(t)
		}
	}

	f.reset(t)
	ret, err := f.tc.Run(&ebpf.RunOptions{Data: frame})
	switch {
	case refusedSKB(frame) && errors.Is(err, unix.EINVAL):
		return
	case err != nil:
		t.Fatalf("tc run: %v", err)
	}
	if ret != tcxNext {
		t.Errorf("tc verdict %d, want TCX_NEXT", int32(ret))
	}
	testenv.CompareMaps(t, "entry", f.counters(t), w.entries(t, blockBase(testSlot, bpf.Transmit), 1, n, n))
	f.assertNoErrors(t)
}

// maxLinearXDP is the longest frame BPF_PROG_TEST_RUN hands to an XDP
// program in one buffer (a page less headroom and shared info); longer ones
// arrive as multi-buffer frames.
const maxLinearXDP = 3520

// refusedXDP reports whether BPF_PROG_TEST_RUN refuses frame for XDP programs:
// the kernel wants at least an Ethernet header.
func refusedXDP(frame []byte) bool { return len(frame) < 14 }

// refusedSKB reports whether BPF_PROG_TEST_RUN refuses frame for tc programs:
// it wants an Ethernet header, a complete IP header after an IP ethertype, and
// a frame that fits one page.
func refusedSKB(frame []byte) bool {
	if len(frame) < 14 || len(frame) > 3500 {
		return true
	}
	switch binary.BigEndian.Uint16(frame[12:]) {
	case 0x0800:
		return len(frame) < 14+20
	case 0x86dd:
		return len(frame) < 14+40
	}
	return false
}

// TestTruncatedFrames cuts frames one byte short of every header boundary and
// exactly at it, and checks the class reached and the truncated anomaly.
func TestTruncatedFrames(t *testing.T) {
	trunc := bpf.AnomalyTruncated
	cases := []struct {
		name  string
		frame tf.Frame
		// wants[i] is the outcome when the frame is cut to boundaries[i]-1
		// bytes; atBoundary[i] when cut to exactly boundaries[i] bytes.
		short, exact []want
	}{
		{
			name:  "ipv4 udp",
			frame: tf.Frame{IPv4: &tf.IPv4{}, UDP: udpDNS},
			short: []want{{"other", "none", trunc}, {"ipv4", "other", trunc}, {"ipv4", "udp", trunc}},
			exact: []want{{"ipv4", "other", trunc}, {"ipv4", "udp", trunc}, {"ipv4", "udp", 0}},
		},
		{
			name:  "ipv4 options tcp",
			frame: tf.Frame{IPv4: &tf.IPv4{Options: make([]byte, 12)}, TCP: tcpSYN},
			short: []want{{"other", "none", trunc}, {"ipv4", "tcp", trunc}, {"ipv4", "tcp", trunc}},
			exact: []want{{"ipv4", "other", trunc}, {"ipv4", "tcp", trunc}, {"ipv4", "tcp", 0}},
		},
		{
			name:  "ipv4 icmp",
			frame: tf.Frame{IPv4: &tf.IPv4{}, ICMP: icmpEcho},
			short: []want{{"other", "none", trunc}, {"ipv4", "other", trunc}, {"ipv4", "icmp", trunc}},
			exact: []want{{"ipv4", "other", trunc}, {"ipv4", "icmp", trunc}, {"ipv4", "icmp", 0}},
		},
		{
			name:  "ipv6 sctp",
			frame: tf.Frame{IPv6: &tf.IPv6{}, SCTP: &tf.SCTP{SrcPort: 1, DstPort: 2}},
			short: []want{{"other", "none", trunc}, {"ipv6", "other", trunc}, {"ipv6", "sctp", trunc}},
			exact: []want{{"ipv6", "other", trunc}, {"ipv6", "sctp", trunc}, {"ipv6", "sctp", 0}},
		},
		{
			name:  "qinq ipv6 hop-by-hop fragment tcp",
			frame: tf.Frame{VLANs: []tf.VLAN{ad(10), q(100)}, IPv6: &tf.IPv6{Ext: []tf.IPv6Ext{{Type: 0, Len: 8}, {Type: 44}}}, TCP: tcpSYN},
			short: []want{
				{"other", "none", trunc}, // Ethernet
				{"other", "none", trunc}, // 802.1ad tag
				{"other", "none", trunc}, // 802.1Q tag
				{"ipv6", "other", trunc}, // IPv6
				{"ipv6", "other", trunc}, // hop-by-hop
				{"ipv6", "other", trunc}, // fragment
				{"ipv6", "tcp", trunc},   // TCP
			},
			exact: []want{
				{"other", "none", trunc},
				{"other", "none", trunc},
				{"ipv6", "other", trunc},
				{"ipv6", "other", trunc},
				{"ipv6", "other", trunc},
				{"ipv6", "tcp", trunc},
				{"ipv6", "tcp", 0},
			},
		},
		{
			name:  "vlan arp",
			frame: tf.Frame{VLANs: []tf.VLAN{q(5)}, ARP: true},
			short: []want{{"other", "none", trunc}, {"other", "none", trunc}, {"arp", "none", 0}},
			exact: []want{{"other", "none", trunc}, {"arp", "none", trunc}, {"arp", "none", 0}},
		},
	}
	f := newFixture(t)
	for _, tc := range cases {
		frame, bounds := tf.Build(tc.frame)
		if len(bounds) != len(tc.short) || len(bounds) != len(tc.exact) {
			t.Fatalf("%s: %d boundaries %v, table has %d/%d", tc.name, len(bounds), bounds, len(tc.short), len(tc.exact))
		}
		for i, b := range bounds {
			t.Run(fmt.Sprintf("%s/%d-1", tc.name, b), func(t *testing.T) {
				f.runBoth(t, frame[:b-1], tc.short[i])
			})
			t.Run(fmt.Sprintf("%s/%d", tc.name, b), func(t *testing.T) {
				f.runBoth(t, frame[:b], tc.exact[i])
			})
		}
	}
	t.Run("empty", func(t *testing.T) { f.runBoth(t, nil, want{"other", "none", trunc}) })
}

// skbContext is struct __sk_buff up to gso_segs, the part a test run may set.
type skbContext [42]uint32

const skbGSOSegs = 164 / 4

// TestGSOSegments checks that an egress GSO packet counts as its segments,
// with the headers every further segment repeats added to its bytes.
func TestGSOSegments(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name    string
		frame   tf.Frame
		segs    uint32
		class   [2]string
		hdrLen  uint64 // headers repeated per segment
		packets uint64
	}{
		{"tcp 4 segments", tf.Frame{IPv4: &tf.IPv4{}, TCP: &tf.TCP{DataOffset: 8}, Payload: make([]byte, 1000)}, 4, [2]string{"ipv4", "tcp"}, 14 + 20 + 32, 4},
		{"ipv6 udp 3 segments", tf.Frame{VLANs: []tf.VLAN{q(3)}, IPv6: &tf.IPv6{}, UDP: udpDNS, Payload: make([]byte, 900)}, 3, [2]string{"ipv6", "udp"}, 18 + 40 + 8, 3},
		{"gso_segs 1", tf.Frame{IPv4: &tf.IPv4{}, TCP: tcpSYN}, 1, [2]string{"ipv4", "tcp"}, 0, 1},
		{"icmp 2 segments", tf.Frame{IPv4: &tf.IPv4{}, ICMP: icmpEcho}, 2, [2]string{"ipv4", "icmp"}, 0, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.reset(t)
			frame := tf.MustBuild(tc.frame)
			var ctx skbContext
			ctx[skbGSOSegs] = tc.segs
			ret, err := f.tc.Run(&ebpf.RunOptions{Data: frame, Context: ctx})
			if err != nil {
				t.Fatal(err)
			}
			if ret != tcxNext {
				t.Errorf("verdict %d, want TCX_NEXT", int32(ret))
			}
			bytes := uint64(len(frame)) + (tc.packets-1)*tc.hdrLen
			w := want{tc.class[0], tc.class[1], 0}
			testenv.CompareMaps(t, "entry", f.counters(t), w.entries(t, blockBase(testSlot, bpf.Transmit), tc.packets, bytes, bytes/tc.packets))
		})
	}
}
