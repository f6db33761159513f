package bpf_test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	tf "github.com/packet-exporter/packet-exporter/internal/testing/testframe"
)

// The tunnels' UDP ports of the tunnel fixture: the product's defaults.
const (
	vxlanPort      = 4789
	vxlanPortLinux = 8472
	genevePort     = 6081
)

// tunnelOptions are the tunnel fixture's settings.
var tunnelOptions = bpf.TunnelOptions{Enabled: true, VXLANPorts: []uint16{vxlanPort, vxlanPortLinux}, GenevePorts: []uint16{genevePort}}

// tunnelWant is the expected outcome of counting one frame: its traffic
// class, with the inner packet's anomaly, and the tunnel series it adds to
// (tunnel < 0: none).
type tunnelWant struct {
	outer  want
	tunnel bpf.Tunnel
	inner  want // network type and transport of the packet inside
}

func (w tunnelWant) String() string {
	if w.tunnel < 0 {
		return w.outer.String() + ", no tunnel"
	}
	return fmt.Sprintf("%v, %v carrying %v", w.outer, w.tunnel, w.inner)
}

// noTunnel is the tunnel of a frame that carries none.
const noTunnel = bpf.Tunnel(-1)

// tunnelCounts returns the tunnel counters as entries: block, tunnel type and
// class of the packet inside.
func (f *fixture) tunnelCounts(tb testing.TB) map[string]bpf.Value {
	tb.Helper()
	got := map[string]bpf.Value{}
	err := f.reader.Tunnels(fixtureSlots, func(t *bpf.TunnelCounts) {
		for c, v := range t.Classes {
			if v != (bpf.Value{}) {
				class := bpf.ClassOf(c)
				got[tunnelEntry(t.Block, t.Tunnel, class.NetworkType, class.Transport)] = v
			}
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

// tunnelEntry names an entry of tunnelCounts.
func tunnelEntry(block uint32, t bpf.Tunnel, netType, transport string) string {
	return fmt.Sprintf("block %d %v %s/%s", block, t, netType, transport)
}

// runTunnel counts frame with the XDP programs and the tc program and checks
// each program's verdict, the exact counters and the exact tunnel counters.
func (f *fixture) runTunnel(t *testing.T, frame []byte, w tunnelWant) {
	t.Helper()
	n := uint64(len(frame))
	check := func(d bpf.Direction) {
		t.Helper()
		testenv.CompareMaps(t, "entry", f.counters(t), w.outer.entries(t, blockBase(testSlot, d), 1, n, n))
		wantTunnels := map[string]bpf.Value{}
		if w.tunnel >= 0 {
			wantTunnels[tunnelEntry(bpf.BlockIndex(testSlot, d), w.tunnel, w.inner.netType, w.inner.transport)] = bpf.Value{Packets: 1, Bytes: n}
		}
		testenv.CompareMaps(t, "tunnel entry", f.tunnelCounts(t), wantTunnels)
		f.assertNoErrors(t)
	}
	for _, xdp := range []*ebpf.Program{f.xdp, f.xdpLinear} {
		f.reset(t)
		ret, err := xdp.Run(&ebpf.RunOptions{Data: frame})
		if err != nil {
			t.Fatalf("%v run: %v", xdp, err)
		}
		if ret != xdpPass {
			t.Errorf("%v verdict %d, want XDP_PASS", xdp, ret)
		}
		check(bpf.Receive)
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
	check(bpf.Transmit)
}

// innerCase is a packet a tunnel carries, as an Ethernet frame.
type innerCase struct {
	name  string
	frame tf.Frame
	want  want
}

// innerFrames are the packets the tunnels of TestTunnels carry: every inner
// family and transport, with and without VLAN tags.
var innerFrames = []innerCase{
	{"ipv4 tcp", tf.Frame{IPv4: &tf.IPv4{}, TCP: tcpSYN, Payload: payload}, want{"ipv4", "tcp", 0}},
	{"ipv4 udp", tf.Frame{IPv4: &tf.IPv4{}, UDP: udpDNS, Payload: payload}, want{"ipv4", "udp", 0}},
	{"ipv4 icmp", tf.Frame{IPv4: &tf.IPv4{}, ICMP: icmpEcho}, want{"ipv4", "icmp", 0}},
	{"ipv4 options sctp", tf.Frame{IPv4: &tf.IPv4{Options: ipOpts}, SCTP: &tf.SCTP{SrcPort: 1, DstPort: 2}}, want{"ipv4", "sctp", 0}},
	{"ipv6 tcp", tf.Frame{IPv6: &tf.IPv6{}, TCP: tcpSYN}, want{"ipv6", "tcp", 0}},
	{"ipv6 udp", tf.Frame{IPv6: &tf.IPv6{}, UDP: udpDNS, Payload: payload}, want{"ipv6", "udp", 0}},
	{"ipv6 extensions icmpv6", tf.Frame{IPv6: &tf.IPv6{Ext: []tf.IPv6Ext{{Type: 0, Len: 8}, {Type: 60, Len: 16}}}, ICMPv6: &tf.ICMP{Type: 128}}, want{"ipv6", "icmpv6", 0}},
	{"ipv6 no next header", tf.Frame{IPv6: &tf.IPv6{NextHeader: 59}}, want{"ipv6", "other", 0}},
	{"vlan ipv4 tcp", tf.Frame{VLANs: []tf.VLAN{q(100)}, IPv4: &tf.IPv4{}, TCP: tcpSYN}, want{"ipv4", "tcp", 0}},
	{"qinq ipv6 udp", tf.Frame{VLANs: []tf.VLAN{ad(10), q(100)}, IPv6: &tf.IPv6{}, UDP: udpDNS}, want{"ipv6", "udp", 0}},
	{"arp", tf.Frame{ARP: true}, want{"arp", "none", 0}},
	{"lldp", tf.Frame{EtherType: 0x88cc, Payload: payload}, want{"other", "none", 0}},
}

// isIP reports whether an inner case is an IP packet, which tunnels that
// carry IP rather than Ethernet can carry.
func (c innerCase) isIP() bool {
	return (c.frame.IPv4 != nil || c.frame.IPv6 != nil) && len(c.frame.VLANs) == 0
}

// etherType is the EtherType of an IP inner case.
func (c innerCase) etherType() uint16 {
	if c.frame.IPv6 != nil {
		return tf.EtherTypeIPv6
	}
	return tf.EtherTypeIPv4
}

// outerCase is the outside of a tunnel frame: the outer network layer, with
// the tunnel's payload as its payload.
type outerCase struct {
	name  string
	build func(proto uint8, udp *tf.UDP, payload []byte) tf.Frame
	ipv6  bool
}

var outerFrames = []outerCase{
	{"ipv4", func(proto uint8, udp *tf.UDP, p []byte) tf.Frame {
		return tf.Frame{IPv4: &tf.IPv4{Protocol: proto}, UDP: udp, Payload: p}
	}, false},
	{"ipv4 options", func(proto uint8, udp *tf.UDP, p []byte) tf.Frame {
		return tf.Frame{IPv4: &tf.IPv4{Protocol: proto, Options: make([]byte, 40)}, UDP: udp, Payload: p}
	}, false},
	{"vlan ipv4", func(proto uint8, udp *tf.UDP, p []byte) tf.Frame {
		return tf.Frame{VLANs: []tf.VLAN{q(42)}, IPv4: &tf.IPv4{Protocol: proto}, UDP: udp, Payload: p}
	}, false},
	{"ipv6", func(proto uint8, udp *tf.UDP, p []byte) tf.Frame {
		return tf.Frame{IPv6: &tf.IPv6{NextHeader: proto}, UDP: udp, Payload: p}
	}, true},
	{"qinq ipv6 extensions", func(proto uint8, udp *tf.UDP, p []byte) tf.Frame {
		return tf.Frame{VLANs: []tf.VLAN{ad(1), q(2)}, IPv6: &tf.IPv6{NextHeader: proto, Ext: []tf.IPv6Ext{{Type: 0, Len: 8}, {Type: 43, Len: 24}, {Type: 44}, {Type: 60, Len: 8}}}, UDP: udp, Payload: p}
	}, true},
}

// outerWant is the traffic class of an outer case carrying protocol proto.
func (o outerCase) outerWant(transport string) want {
	if o.ipv6 {
		return want{"ipv6", transport, 0}
	}
	return want{"ipv4", transport, 0}
}

// tunnelCase is one tunnel frame of TestTunnels.
type tunnelCase struct {
	name  string
	frame []byte
	want  tunnelWant
}

// tunnelCases are every tunnel type over every outer case carrying every
// inner case it can: VXLAN on both default ports, Geneve with and without
// options carrying Ethernet and IP, GRE with every combination of its
// optional fields carrying Ethernet and IP, IP-in-IP.
func tunnelCases() []tunnelCase {
	var cases []tunnelCase
	for _, o := range outerFrames {
		udp := func(port uint16) *tf.UDP { return &tf.UDP{SrcPort: 51000, DstPort: port} }
		add := func(name string, frame tf.Frame, transport string, tunnel bpf.Tunnel, inner want) {
			cases = append(cases, tunnelCase{o.name + " " + name, tf.MustBuild(frame), tunnelWant{o.outerWant(transport), tunnel, inner}})
		}
		for _, in := range innerFrames {
			eth := tf.MustBuild(in.frame)
			for _, port := range []uint16{vxlanPort, vxlanPortLinux} {
				add(fmt.Sprintf("vxlan %d %s", port, in.name), o.build(0, udp(port), tf.VXLAN(tf.VXLANFlagVNI, 7, eth)), "udp", bpf.TunnelVXLAN, in.want)
			}
			for _, opts := range [][]byte{nil, make([]byte, 8), make([]byte, 252)} {
				g := tf.Geneve{Protocol: tf.EtherTypeTEB, VNI: 7, Options: opts}
				add(fmt.Sprintf("geneve options %d %s", len(opts), in.name), o.build(0, udp(genevePort), g.Encapsulate(eth)), "udp", bpf.TunnelGeneve, in.want)
				if in.isIP() {
					g.Protocol = in.etherType()
					add(fmt.Sprintf("geneve options %d ip %s", len(opts), in.name), o.build(0, udp(genevePort), g.Encapsulate(tf.Packet(in.frame))), "udp", bpf.TunnelGeneve, in.want)
				}
			}
			for _, g := range []tf.GRE{{}, {Key: true}, {Checksum: true, Key: true, Seq: true}, {Seq: true}} {
				g.Protocol = tf.EtherTypeTEB
				gname := fmt.Sprintf("gre csum %t key %t seq %t", g.Checksum, g.Key, g.Seq)
				add(gname+" ethernet "+in.name, o.build(tf.ProtoGRE, nil, g.Encapsulate(eth)), "other", bpf.TunnelGRE, in.want)
				if in.isIP() {
					g.Protocol = in.etherType()
					add(gname+" ip "+in.name, o.build(tf.ProtoGRE, nil, g.Encapsulate(tf.Packet(in.frame))), "other", bpf.TunnelGRE, in.want)
				}
			}
			if in.isIP() {
				proto := uint8(tf.ProtoIPIP)
				if in.frame.IPv6 != nil {
					proto = tf.ProtoIPv6
				}
				add("ipip "+in.name, o.build(proto, nil, tf.Packet(in.frame)), "other", bpf.TunnelIPIP, in.want)
			}
		}
	}
	return cases
}

// TestTunnels counts every tunnel type, over IPv4 with and without options
// and IPv6 with and without extension headers, with and without VLAN tags,
// carrying every inner family and transport, through every program: the
// traffic counters count the outer headers exactly as without tunnels, and
// the tunnel counters the frame, whole, in the inner packet's class.
func TestTunnels(t *testing.T) {
	f := newFixture(t, bpf.WithTunnels(tunnelOptions))
	cases := tunnelCases()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.runTunnel(t, tc.frame, tc.want)
		})
	}
	t.Logf("%d tunnel frames", len(cases))
}

// TestTunnelEdges counts frames at the edges of what a tunnel is: headers
// that make no sense, payloads the parser does not know, a tunnel inside a
// tunnel, tunnels off.
func TestTunnelEdges(t *testing.T) {
	f := newFixture(t, bpf.WithTunnels(tunnelOptions))
	inner := tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{}, TCP: tcpSYN})
	innerIP := tf.Packet(tf.Frame{IPv4: &tf.IPv4{}, TCP: tcpSYN})
	udpTo := func(port uint16, p []byte) []byte {
		return tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{}, UDP: &tf.UDP{SrcPort: 51000, DstPort: port}, Payload: p})
	}
	gre := func(g tf.GRE, p []byte) []byte {
		return tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{Protocol: tf.ProtoGRE}, Payload: g.Encapsulate(p)})
	}
	udpTunnel := func(tunnel bpf.Tunnel, inner want) tunnelWant {
		return tunnelWant{want{"ipv4", "udp", inner.anomaly}, tunnel, inner}
	}
	greTunnel := func(inner want) tunnelWant {
		return tunnelWant{want{"ipv4", "other", inner.anomaly}, bpf.TunnelGRE, inner}
	}
	tcp := want{"ipv4", "tcp", 0}
	for _, tc := range []tunnelCase{
		{"vxlan without its I flag", udpTo(vxlanPort, tf.VXLAN(0, 7, inner)), udpTunnel(bpf.TunnelVXLAN, want{"other", "none", bpf.AnomalyMalformed})},
		{"vxlan-gbp flags", udpTo(vxlanPort, tf.VXLAN(0x88, 7, inner)), udpTunnel(bpf.TunnelVXLAN, tcp)},
		{"geneve version 1", udpTo(genevePort, tf.Geneve{Version: 1, Protocol: tf.EtherTypeTEB}.Encapsulate(inner)), udpTunnel(bpf.TunnelGeneve, want{"other", "none", bpf.AnomalyMalformed})},
		{"geneve unknown protocol", udpTo(genevePort, tf.Geneve{Protocol: 0x8847}.Encapsulate(payload)), udpTunnel(bpf.TunnelGeneve, want{"other", "none", 0})},
		{"geneve options beyond the frame", udpTo(genevePort, tf.Geneve{Protocol: tf.EtherTypeTEB, Options: make([]byte, 252)}.Encapsulate(nil)[:40]), udpTunnel(bpf.TunnelGeneve, want{"other", "none", bpf.AnomalyTruncated})},
		{"gre version 1 (pptp)", gre(tf.GRE{Version: 1, Key: true, Protocol: 0x880b}, payload), greTunnel(want{"other", "none", 0})},
		{"gre routing", gre(tf.GRE{Routing: true, Protocol: tf.EtherTypeIPv4}, innerIP), greTunnel(want{"other", "none", bpf.AnomalyMalformed})},
		{"gre mpls", gre(tf.GRE{Protocol: 0x8847}, payload), greTunnel(want{"other", "none", 0})},
		{"gre vlan tag as protocol", gre(tf.GRE{Protocol: 0x8100}, payload), greTunnel(want{"other", "none", 0})},
		{"vxlan three inner vlan tags", udpTo(vxlanPort, tf.VXLAN(tf.VXLANFlagVNI, 7, tf.MustBuild(tf.Frame{VLANs: []tf.VLAN{ad(1), q(2), q(3)}, IPv4: &tf.IPv4{}, UDP: udpDNS}))), udpTunnel(bpf.TunnelVXLAN, want{"other", "none", bpf.AnomalyTooDeep})},
		{"vxlan inner ipv4 malformed", udpTo(vxlanPort, tf.VXLAN(tf.VXLANFlagVNI, 7, tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{IHL: 4}, UDP: udpDNS}))), udpTunnel(bpf.TunnelVXLAN, want{"other", "none", bpf.AnomalyMalformed})},
		{"vxlan in vxlan", udpTo(vxlanPort, tf.VXLAN(tf.VXLANFlagVNI, 7, tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{}, UDP: &tf.UDP{SrcPort: 1, DstPort: vxlanPort}, Payload: tf.VXLAN(tf.VXLANFlagVNI, 8, inner)}))), udpTunnel(bpf.TunnelVXLAN, want{"ipv4", "udp", 0})},
		{"ipip in gre", gre(tf.GRE{Protocol: tf.EtherTypeIPv4}, tf.Packet(tf.Frame{IPv4: &tf.IPv4{Protocol: tf.ProtoIPIP}, Payload: innerIP})), greTunnel(want{"ipv4", "other", 0})},
		{"udp from a vxlan port", tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{}, UDP: &tf.UDP{SrcPort: vxlanPort, DstPort: 53}, Payload: payload}), tunnelWant{want{"ipv4", "udp", 0}, noTunnel, want{}}},
		{"udp to another port", udpTo(4790, tf.VXLAN(tf.VXLANFlagVNI, 7, inner)), tunnelWant{want{"ipv4", "udp", 0}, noTunnel, want{}}},
		{"tcp to a vxlan port", tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{}, TCP: &tf.TCP{SrcPort: 1, DstPort: vxlanPort}, Payload: tf.VXLAN(tf.VXLANFlagVNI, 7, inner)}), tunnelWant{want{"ipv4", "tcp", 0}, noTunnel, want{}}},
		{"later fragment of gre", tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{Protocol: tf.ProtoGRE, FragOffset: 100}, Payload: tf.GRE{Protocol: tf.EtherTypeIPv4}.Encapsulate(innerIP)}), tunnelWant{want{"ipv4", "other", 0}, noTunnel, want{}}},
		{"first fragment of vxlan", tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{MoreFragments: true}, UDP: &tf.UDP{SrcPort: 1, DstPort: vxlanPort}, Payload: tf.VXLAN(tf.VXLANFlagVNI, 7, inner)}), udpTunnel(bpf.TunnelVXLAN, tcp)},
		{"ipv6 later fragment of ipip", tf.MustBuild(tf.Frame{IPv6: &tf.IPv6{NextHeader: tf.ProtoIPIP, Ext: []tf.IPv6Ext{{Type: 44, FragOffset: 10}}}, Payload: innerIP}), tunnelWant{want{"ipv6", "other", 0}, noTunnel, want{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.runTunnel(t, tc.frame, tc.want)
		})
	}

	// Off, the same frames count as before, in no tunnel series.
	off := newFixture(t)
	for _, tc := range tunnelCases()[:40] {
		t.Run("off "+tc.name, func(t *testing.T) {
			w := tc.want
			w.outer.anomaly, w.tunnel = 0, noTunnel
			off.runTunnel(t, tc.frame, w)
		})
	}
}

// TestTunnelTruncated cuts tunnel frames at every length from the end of the
// outer IP header to the end of the inner transport header: a cut inside the
// outer transport header is the outer packet's truncation, a cut after it
// the inner packet's, counted as other/none in the tunnel series; the frame
// is counted whole in its outer class in every case.
func TestTunnelTruncated(t *testing.T) {
	f := newFixture(t, bpf.WithTunnels(tunnelOptions))
	innerTCP := tf.Frame{VLANs: []tf.VLAN{q(5)}, IPv6: &tf.IPv6{Ext: []tf.IPv6Ext{{Type: 0, Len: 8}}}, TCP: &tf.TCP{SrcPort: 1, DstPort: 2, DataOffset: 8}}
	innerIP := tf.Frame{IPv4: &tf.IPv4{Options: ipOpts}, TCP: tcpSYN}
	for _, tc := range []struct {
		name      string
		frame     tf.Frame
		tunnel    bpf.Tunnel
		transport string
		inner     []byte // the inner frame or packet, last in the frame
		innerIP   bool
		// options is the length of the inner TCP header's options, which
		// the parser does not need: a cut among them leaves the headers it
		// reads complete.
		options int
	}{
		{"vxlan", tf.Frame{IPv4: &tf.IPv4{}, UDP: &tf.UDP{SrcPort: 1, DstPort: vxlanPort}, Payload: tf.VXLAN(tf.VXLANFlagVNI, 1, tf.MustBuild(innerTCP))}, bpf.TunnelVXLAN, "udp", tf.MustBuild(innerTCP), false, 12},
		{"geneve options", tf.Frame{IPv6: &tf.IPv6{}, UDP: &tf.UDP{SrcPort: 1, DstPort: genevePort}, Payload: tf.Geneve{Protocol: tf.EtherTypeTEB, Options: make([]byte, 12)}.Encapsulate(tf.MustBuild(innerTCP))}, bpf.TunnelGeneve, "udp", tf.MustBuild(innerTCP), false, 12},
		{"gre key seq", tf.Frame{IPv4: &tf.IPv4{Protocol: tf.ProtoGRE}, Payload: tf.GRE{Key: true, Seq: true, Protocol: tf.EtherTypeIPv4}.Encapsulate(tf.Packet(innerIP))}, bpf.TunnelGRE, "other", tf.Packet(innerIP), true, 0},
		{"ipip", tf.Frame{IPv6: &tf.IPv6{NextHeader: tf.ProtoIPIP}, Payload: tf.Packet(innerIP)}, bpf.TunnelIPIP, "other", tf.Packet(innerIP), true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame, boundaries := tf.Build(tc.frame)
			network := "ipv4"
			if tc.frame.IPv6 != nil {
				network = "ipv6"
			}
			l3End := boundaries[len(boundaries)-1]
			l4End := l3End
			if tc.transport == "udp" {
				l3End = boundaries[len(boundaries)-2]
			}
			for cut := l3End; cut <= len(frame); cut++ {
				var w tunnelWant
				switch {
				case cut < l4End:
					w = tunnelWant{want{network, tc.transport, bpf.AnomalyTruncated}, noTunnel, want{}}
				case cut < len(frame)-tc.options:
					w = tunnelWant{want{network, tc.transport, bpf.AnomalyTruncated}, tc.tunnel, want{"other", "none", bpf.AnomalyTruncated}}
				default:
					w = tunnelWant{want{network, tc.transport, 0}, tc.tunnel, want{innerClass(tc.inner, tc.innerIP), "tcp", 0}}
				}
				t.Run(fmt.Sprintf("%d of %d bytes", cut, len(frame)), func(t *testing.T) {
					f.runTunnel(t, frame[:cut], w)
				})
			}
		})
	}
}

// innerClass is the network type of the TCP packet inner, a frame or a
// packet, from its IP version.
func innerClass(inner []byte, ip bool) string {
	version := inner[0] >> 4
	if !ip {
		for off := 12; ; off += 4 {
			if et := uint16(inner[off])<<8 | uint16(inner[off+1]); et != 0x8100 && et != 0x88a8 {
				version = inner[off+2] >> 4
				break
			}
		}
	}
	if version == 6 {
		return "ipv6"
	}
	return "ipv4"
}

// TestTunnelSlotReset makes an interface's slot count another interface:
// its tunnel counters go with its traffic counters.
func TestTunnelSlotReset(t *testing.T) {
	f := newFixture(t, bpf.WithTunnels(tunnelOptions))
	f.reset(t)
	frame := tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{Protocol: tf.ProtoIPIP}, Payload: tf.Packet(tf.Frame{IPv4: &tf.IPv4{Src: netip.MustParseAddr("10.0.0.1")}, UDP: udpDNS})})
	if _, err := f.tc.Run(&ebpf.RunOptions{Data: frame}); err != nil {
		t.Fatal(err)
	}
	if got := len(f.tunnelCounts(t)); got != 1 {
		t.Fatalf("%d tunnel entries, want 1", got)
	}
	if err := f.maps.MapInterface(loopback, testSlot); err != nil {
		t.Fatal(err)
	}
	testenv.CompareMaps(t, "tunnel entry", f.tunnelCounts(t), map[string]bpf.Value{})
}

// TestTunnelGSOSegments checks that a GSO packet carrying a tunnel counts as
// its segments, each repeating the outer headers and the inner packet's up
// to its TCP or UDP header, in the traffic and the tunnel counters alike;
// and without tunnels, what it counted before (the outer headers only).
func TestTunnelGSOSegments(t *testing.T) {
	on := newFixture(t, bpf.WithTunnels(tunnelOptions))
	off := newFixture(t)
	innerTCP := tf.Frame{IPv4: &tf.IPv4{}, TCP: &tf.TCP{SrcPort: 1, DstPort: 2, DataOffset: 8}, Payload: make([]byte, 1400)}
	innerUDP := tf.Frame{IPv6: &tf.IPv6{}, UDP: udpDNS, Payload: make([]byte, 1400)}
	for _, tc := range []struct {
		name         string
		frame        tf.Frame
		tunnel       bpf.Tunnel
		outer, inner want
		segs         uint64
		hdrLen       uint64 // headers each segment repeats, with tunnels
		hdrLenOff    uint64 // ... as counted without tunnels
	}{
		{"vxlan tcp", tf.Frame{IPv4: &tf.IPv4{}, UDP: &tf.UDP{SrcPort: 1, DstPort: vxlanPort}, Payload: tf.VXLAN(tf.VXLANFlagVNI, 1, tf.MustBuild(innerTCP))},
			bpf.TunnelVXLAN, want{"ipv4", "udp", 0}, want{"ipv4", "tcp", 0}, 5, 14 + 20 + 8 + 8 + 14 + 20 + 32, 14 + 20 + 8},
		{"geneve ipv6 udp", tf.Frame{IPv6: &tf.IPv6{}, UDP: &tf.UDP{SrcPort: 1, DstPort: genevePort}, Payload: tf.Geneve{Protocol: tf.EtherTypeTEB, Options: make([]byte, 8)}.Encapsulate(tf.MustBuild(innerUDP))},
			bpf.TunnelGeneve, want{"ipv6", "udp", 0}, want{"ipv6", "udp", 0}, 3, 14 + 40 + 8 + 16 + 14 + 40 + 8, 14 + 40 + 8},
		{"gre tcp", tf.Frame{IPv4: &tf.IPv4{Protocol: tf.ProtoGRE}, Payload: tf.GRE{Key: true, Protocol: tf.EtherTypeIPv4}.Encapsulate(tf.Packet(innerTCP))},
			bpf.TunnelGRE, want{"ipv4", "other", 0}, want{"ipv4", "tcp", 0}, 2, 14 + 20 + 8 + 20 + 32, 0},
		{"ipip tcp", tf.Frame{IPv4: &tf.IPv4{Protocol: tf.ProtoIPIP}, Payload: tf.Packet(innerTCP)},
			bpf.TunnelIPIP, want{"ipv4", "other", 0}, want{"ipv4", "tcp", 0}, 4, 14 + 20 + 20 + 32, 0},
	} {
		frame := tf.MustBuild(tc.frame)
		var ctx skbContext
		ctx[skbGSOSegs] = uint32(tc.segs)
		for _, run := range []struct {
			name   string
			f      *fixture
			hdrLen uint64
		}{{"on", on, tc.hdrLen}, {"off", off, tc.hdrLenOff}} {
			t.Run(tc.name+" tunnels "+run.name, func(t *testing.T) {
				run.f.reset(t)
				if _, err := run.f.tc.Run(&ebpf.RunOptions{Data: frame, Context: ctx}); err != nil {
					t.Fatal(err)
				}
				bytes := uint64(len(frame)) + (tc.segs-1)*run.hdrLen
				testenv.CompareMaps(t, "entry", run.f.counters(t), tc.outer.entries(t, blockBase(testSlot, bpf.Transmit), tc.segs, bytes, bytes/tc.segs))
				wantTunnels := map[string]bpf.Value{}
				if run.f == on {
					wantTunnels[tunnelEntry(bpf.BlockIndex(testSlot, bpf.Transmit), tc.tunnel, tc.inner.netType, tc.inner.transport)] = bpf.Value{Packets: tc.segs, Bytes: bytes}
				}
				testenv.CompareMaps(t, "tunnel entry", run.f.tunnelCounts(t), wantTunnels)
			})
		}
	}
}

// TestTunnelPortsConflict refuses a port given to both UDP tunnels.
func TestTunnelPortsConflict(t *testing.T) {
	_, err := bpf.NewMaps(1, bpf.EventOptions{}, bpf.WithTunnels(bpf.TunnelOptions{Enabled: true, VXLANPorts: []uint16{4789}, GenevePorts: []uint16{6081, 4789}}))
	if err == nil || !strings.Contains(err.Error(), "udp port 4789: both vxlan and geneve") {
		t.Fatalf("NewMaps = %v, want the conflict on port 4789", err)
	}
}

// TestTunnelCountersRunOut gives the programs tunnel counters for one
// interface: a third (interface, direction) finds none, and its tunnel frames
// count in their traffic class and as StatNoTunnelCounter, until a slot's
// counters are given back.
func TestTunnelCountersRunOut(t *testing.T) {
	testenv.RequireRoot(t)
	opts := tunnelOptions
	opts.MaxInterfaces = 1
	maps, err := bpf.NewMaps(fixtureSlots, bpf.EventOptions{}, bpf.WithTunnels(opts))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { maps.Close() })
	xdp, err := maps.XDP()
	if err != nil {
		t.Fatal(err)
	}
	tc, err := maps.TC(bpf.Transmit)
	if err != nil {
		t.Fatal(err)
	}
	reader, err := bpf.NewReader(maps)
	if err != nil {
		t.Fatal(err)
	}
	frame := tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{Protocol: tf.ProtoGRE}, Payload: tf.GRE{Protocol: tf.EtherTypeIPv4}.Encapsulate(tf.Packet(tf.Frame{IPv4: &tf.IPv4{}, UDP: udpDNS}))})
	run := func(slot int, programs ...*ebpf.Program) {
		t.Helper()
		if err := maps.MapInterface(loopback, slot); err != nil {
			t.Fatal(err)
		}
		for _, p := range programs {
			if _, err := p.Run(&ebpf.RunOptions{Data: frame}); err != nil {
				t.Fatal(err)
			}
		}
	}
	state := func() (blocks map[uint32]uint64, uncounted, counted uint64) {
		t.Helper()
		blocks = map[uint32]uint64{}
		if err := reader.Tunnels(fixtureSlots, func(c *bpf.TunnelCounts) {
			for _, v := range c.Classes {
				blocks[c.Block] += v.Packets
			}
		}); err != nil {
			t.Fatal(err)
		}
		stats, err := reader.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if err := reader.Counters(fixtureSlots, func(b []bpf.Block) error {
			for i := range b {
				counted += b[i].Packets()
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return blocks, stats[bpf.StatNoTunnelCounter], counted
	}
	run(0, xdp, tc) // both counters taken
	run(1, xdp, tc) // none left
	blocks, uncounted, counted := state()
	testenv.CompareMaps(t, "tunnel frames by block", blocks, map[uint32]uint64{0: 1, 1: 1})
	if uncounted != 2 || counted != 4 {
		t.Errorf("%d frames without tunnel counters, %d counted, want 2 and 4", uncounted, counted)
	}
	run(0, tc) // slot 0 zeroed, its counters given back: its transmit block takes one
	run(1, xdp)
	blocks, uncounted, _ = state()
	testenv.CompareMaps(t, "tunnel frames by block", blocks, map[uint32]uint64{1: 1, 2: 1})
	if uncounted != 2 {
		t.Errorf("%d frames without tunnel counters, want still 2", uncounted)
	}
}

// TestTunnelCountersPinned counts tunnel frames on pinned maps, then makes
// the maps again from the pins, as a restart with persistence does: the
// tunnel counts go on, and the counters free are the same ones (the queue is
// not filled a second time), so the counters run out where they did.
func TestTunnelCountersPinned(t *testing.T) {
	testenv.RequireRoot(t)
	dir := testenv.MountBPFFS(t)
	opts := tunnelOptions
	opts.MaxInterfaces = 1
	frame := tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{Protocol: tf.ProtoIPIP}, Payload: tf.Packet(tf.Frame{IPv4: &tf.IPv4{}, TCP: tcpSYN})})
	tcpInside, _ := bpf.ClassEntry("ipv4", "tcp")
	run := func(slot int, remap bool, want map[uint32]uint64, wantUncounted uint64) {
		t.Helper()
		maps, err := bpf.NewMaps(fixtureSlots, bpf.EventOptions{}, bpf.WithTunnels(opts), bpf.WithPinDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		defer maps.Close()
		if remap {
			if err := maps.MapInterface(loopback, slot); err != nil {
				t.Fatal(err)
			}
		}
		tc, err := maps.TC(bpf.Transmit)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tc.Run(&ebpf.RunOptions{Data: frame}); err != nil {
			t.Fatal(err)
		}
		reader, err := bpf.NewReader(maps)
		if err != nil {
			t.Fatal(err)
		}
		got := map[uint32]uint64{}
		if err := reader.Tunnels(fixtureSlots, func(c *bpf.TunnelCounts) { got[c.Block] += c.Classes[tcpInside].Packets }); err != nil {
			t.Fatal(err)
		}
		testenv.CompareMaps(t, "tunnel frames by block", got, want)
		stats, err := reader.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if stats[bpf.StatNoTunnelCounter] != wantUncounted {
			t.Errorf("%d frames without tunnel counters, want %d", stats[bpf.StatNoTunnelCounter], wantUncounted)
		}
	}
	tx := func(slot int) uint32 { return bpf.BlockIndex(slot, bpf.Transmit) }
	run(0, true, map[uint32]uint64{tx(0): 1}, 0)
	run(0, false, map[uint32]uint64{tx(0): 2}, 0)          // adopted: counting goes on
	run(1, true, map[uint32]uint64{tx(0): 2, tx(1): 1}, 0) // the second of two counters
	run(2, true, map[uint32]uint64{tx(0): 2, tx(1): 1}, 1) // none left, as before the restarts
}
