package receiver_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// tunnelDevice is a kind of the kernel's tunnel devices, made in both
// namespaces of a veth pair over the pair's IPv4 addresses.
type tunnelDevice struct {
	kind string // ip link's type
	// args are ip link add's arguments after the type, from the underlay's
	// local and remote addresses and its interface.
	args func(local, remote netip.Addr, underlay string) []string
	// tunnel and outer are the packet_exporter.tunnel.type of its frames
	// and their network.transport in the traffic counters.
	tunnel, outer string
	// ethernet: it carries Ethernet frames (its neighbours need entries).
	ethernet bool
	// underlay6: over the pair's IPv6 addresses.
	underlay6 bool
	// overhead is what a frame on the underlay has beyond the bytes the
	// device counts for it, each way: the outer Ethernet, IP and tunnel
	// headers, and the inner Ethernet header where the device does not count
	// it (iptunnel_xmit counts from the inner network header; vxlan and
	// geneve count a received frame after eth_type_trans, gretap before).
	overhead [2]uint64 // receive, transmit
}

var tunnelDevices = []tunnelDevice{
	{"vxlan", func(l, r netip.Addr, dev string) []string {
		return []string{"id", "42", "local", l.String(), "remote", r.String(), "dstport", "4789", "dev", dev}
	}, "vxlan", "udp", true, false, [2]uint64{14 + 20 + 8 + 8 + 14, 14 + 20 + 8 + 8 + 14}},
	{"vxlan", func(l, r netip.Addr, dev string) []string {
		return []string{"id", "43", "local", l.String(), "remote", r.String(), "dstport", "8472", "dev", dev}
	}, "vxlan", "udp", true, true, [2]uint64{14 + 40 + 8 + 8 + 14, 14 + 40 + 8 + 8 + 14}},
	{"geneve", func(_, r netip.Addr, _ string) []string {
		return []string{"id", "42", "remote", r.String()}
	}, "geneve", "udp", true, false, [2]uint64{14 + 20 + 8 + 8 + 14, 14 + 20 + 8 + 8 + 14}},
	{"gretap", func(l, r netip.Addr, _ string) []string {
		return []string{"local", l.String(), "remote", r.String(), "key", "42"}
	}, "gre", "other", true, false, [2]uint64{14 + 20 + 8, 14 + 20 + 8 + 14}},
	{"gre", func(l, r netip.Addr, _ string) []string {
		// No sequence numbers: the device drops a packet that arrives out of
		// order (veth's two queues may reorder), which the wire still carried.
		return []string{"local", l.String(), "remote", r.String(), "csum", "key", "43"}
	}, "gre", "other", false, false, [2]uint64{14 + 20 + 12, 14 + 20 + 12}},
	{"ipip", func(l, r netip.Addr, _ string) []string {
		return []string{"local", l.String(), "remote", r.String()}
	}, "ipip", "other", false, false, [2]uint64{14 + 20, 14 + 20}},
}

// tunnelName is the tunnel devices' name in both namespaces.
const tunnelName = "tun0"

// TestTunnelDevices sends TCP, UDP and ICMP through each of the kernel's
// tunnel devices that this kernel has (all of them under make test-kernels'
// Debian 6.1; vxlan only where the others are not built), between two
// namespaces over a counted veth (vxlan over IPv6 too), through tc on both directions and XDP on
// receive: the tunnel series of the veth count exactly the frames the
// tunnel device counts each way and a capture on the veth sees, in the
// classes sent, their bytes the capture's and the device's plus the
// encapsulation; and each is a part of its outer traffic series.
func TestTunnelDevices(t *testing.T) {
	testenv.RequireRoot(t)
	for _, dev := range tunnelDevices {
		for _, hook := range []string{config.HookAuto, config.HookXDP} {
			if hook == config.HookXDP && (dev.kind != "vxlan" || dev.underlay6) {
				continue // the XDP parse is the tc parse: one device shows it
			}
			name := dev.kind
			if dev.underlay6 {
				name += " over ipv6"
			}
			t.Run(name+"/"+hook, func(t *testing.T) { testTunnelDevice(t, dev, hook) })
		}
	}
}

func testTunnelDevice(t *testing.T, dev tunnelDevice, hook string) {
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	// Offloads off: every skb is one frame on the wire, as the tunnel
	// device counts it (GRO under XDP would merge what XDP counts apart).
	pair := testenv.NewVethPair(t, a, b, testenv.VethOptions{Queues: 2, Quiet: true, DisableOffloads: true})
	inner := [2]netip.Prefix{netip.MustParsePrefix("172.30.0.1/30"), netip.MustParsePrefix("172.30.0.2/30")}
	ends := [2]*testenv.Netns{a, b}
	underlay, outerType := [2]netip.Addr{pair.IPv4A.Addr(), pair.IPv4B.Addr()}, "ipv4"
	if dev.underlay6 {
		underlay, outerType = [2]netip.Addr{pair.IPv6A.Addr(), pair.IPv6B.Addr()}, "ipv6"
	}
	underlayName := [2]string{pair.NameA, pair.NameB}
	macs := [2]string{}
	for i, ns := range ends {
		// Quiet: no IPv6 on the tunnel device (no router solicitation, no
		// MLD), no ARP (permanent neighbours below), no offloads.
		if err := ns.Sysctl("net.ipv6.conf.default.disable_ipv6", "1"); err != nil {
			t.Fatal(err)
		}
		args := append([]string{"link", "add", tunnelName, "type", dev.kind}, dev.args(underlay[i], underlay[1-i], underlayName[i])...)
		if out, err := ns.Exec("ip", args...); err != nil {
			if strings.Contains(string(out), "Unknown device type") {
				t.Skipf("this kernel has no %s devices (not built, or not as a module)", dev.kind)
			}
			t.Fatal(err)
		}
		for _, set := range []uint32{unix.ETHTOOL_STSO, unix.ETHTOOL_SGSO, unix.ETHTOOL_SGRO} {
			// A device that cannot change a feature has it fixed: GRE with
			// sequence numbers has no segmentation offload at all.
			if err := testenv.TrySetOffload(ns, tunnelName, set, false); err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
				t.Fatal(err)
			}
		}
		for _, args := range [][]string{
			{"link", "set", tunnelName, "arp", "off"},
			{"addr", "add", inner[i].String(), "dev", tunnelName},
			{"link", "set", tunnelName, "up"},
		} {
			if _, err := ns.Exec("ip", args...); err != nil {
				t.Fatal(err)
			}
		}
		out, err := ns.Exec("cat", "/sys/class/net/"+tunnelName+"/address")
		if err != nil {
			t.Fatal(err)
		}
		macs[i] = strings.TrimSpace(string(out))
	}
	if dev.ethernet {
		for i, ns := range ends {
			if _, err := ns.Exec("ip", "neigh", "add", inner[1-i].Addr().String(), "lladdr", macs[1-i], "dev", tunnelName, "nud", "permanent"); err != nil {
				t.Fatal(err)
			}
		}
	}

	cfg := config.Default()
	cfg.Interfaces.Include = []string{pair.NameA}
	cfg.Ingress.Hook = hook
	cfg.XDP.Mode = config.XDPModeNative
	cfg.Limits.MaxInterfaces = 4
	exp := startExporter(t, a, cfg)
	before := testenv.LinkStatsOf(t, a, tunnelName)
	// Every frame on the quiet veth is a tunnel frame: the capture sees them
	// all, in and out.
	capture := testtraffic.NewCapture(t, a, pair.IndexA)
	var wire [2][2]uint64 // receive, transmit: frames, bytes

	const datagrams, echoes = 50, 10
	sink := testtraffic.ListenUDP(t, b, inner[1].Addr())
	testtraffic.SendUDP(t, a, inner[0].Addr(), sink.Addr, datagrams, 300)
	testtraffic.SendEcho(t, a, inner[0].Addr(), inner[1].Addr(), echoes, 56)
	sent := tcpThrough(t, a, b, inner[0].Addr(), inner[1].Addr(), 200_000)
	t.Logf("sent %d datagrams, %d echoes and %d bytes over TCP through %s", datagrams, echoes, sent, dev.kind)

	// The counts settle once every frame is through both ends.
	var last string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		for _, c := range capture.Read(t) {
			d := 0
			if c.Outgoing {
				d = 1
			}
			wire[d][0]++
			wire[d][1] += uint64(len(c.Frame))
		}
		got := scrapeTunnels(t, exp.url, pair.NameA)
		after := testenv.LinkStatsOf(t, a, tunnelName)
		device := [2][2]uint64{ // receive, transmit: packets, bytes
			{after.RxPackets - before.RxPackets, after.RxBytes - before.RxBytes},
			{after.TxPackets - before.TxPackets, after.TxBytes - before.TxBytes},
		}
		last = checkTunnelSeries(got, dev, device, wire, datagrams, echoes)
		if last == "" {
			t.Logf("tunnel device %v, capture %v, tunnel series %v", device, wire, got)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tunnel series of %s against %s's counters: %s\n(device %v, series %v)", pair.NameA, tunnelName, last, device, got)
		}
	}

	// Every tunnel frame is a part of its outer series.
	families, _, err := testexporter.Scrape(http.DefaultClient, exp.url)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"receive", "transmit"} {
		match := map[string]string{"network_interface_name": pair.NameA, "network_io_direction": d}
		tunnelPackets, _ := families.Sum("packet_exporter_network_tunnel_packets_total", match)
		match["network_type"], match["network_transport"] = outerType, dev.outer
		outerPackets, _ := families.Sum("packet_exporter_network_packets_total", match)
		if tunnelPackets == 0 || tunnelPackets > outerPackets {
			t.Errorf("%s: %v tunnel frames, outer %s/%s series %v: want a non-empty part of it", d, tunnelPackets, outerType, dev.outer, outerPackets)
		}
	}
}

// tunnelCounts are the tunnel series of one interface: packets and bytes by
// direction, tunnel type and inner network type and transport.
type tunnelCounts map[string][2]uint64

// scrapeTunnels returns the tunnel series of interface iface.
func scrapeTunnels(t *testing.T, url, iface string) tunnelCounts {
	t.Helper()
	families, _, err := testexporter.Scrape(http.DefaultClient, url)
	if err != nil {
		t.Fatal(err)
	}
	got := tunnelCounts{}
	for i, name := range []string{"packet_exporter_network_tunnel_packets_total", "packet_exporter_network_tunnel_io_bytes_total"} {
		for _, s := range families.Samples(name, map[string]string{"network_interface_name": iface}) {
			key := fmt.Sprintf("%s %s %s/%s", s.Labels["network_io_direction"], s.Labels["packet_exporter_tunnel_type"], s.Labels["network_type"], s.Labels["network_transport"])
			v := got[key]
			v[i] = uint64(s.Value)
			got[key] = v
		}
	}
	return got
}

// checkTunnelSeries compares the tunnel series with the tunnel device's
// counters and with the frames a capture on the veth saw (packets and bytes,
// receive and transmit) and with what was sent: it returns what differs, ""
// for nothing.
func checkTunnelSeries(got tunnelCounts, dev tunnelDevice, device, wire [2][2]uint64, datagrams, echoes uint64) string {
	var problems []string
	for d, direction := range []string{"receive", "transmit"} {
		var packets, bytes uint64
		for key, v := range got {
			if !strings.HasPrefix(key, direction+" ") {
				continue
			}
			if !strings.HasPrefix(key, direction+" "+dev.tunnel+" ipv4/") {
				problems = append(problems, fmt.Sprintf("unexpected series %s", key))
			}
			packets += v[0]
			bytes += v[1]
		}
		if want := device[d][0]; packets != want {
			problems = append(problems, fmt.Sprintf("%s: %d packets, the device counted %d", direction, packets, want))
		}
		if want := device[d][1] + device[d][0]*dev.overhead[d]; bytes != want {
			problems = append(problems, fmt.Sprintf("%s: %d bytes, the device counted %d (+%d per frame: %d)", direction, bytes, device[d][1], dev.overhead[d], want))
		}
		if packets != wire[d][0] || bytes != wire[d][1] {
			problems = append(problems, fmt.Sprintf("%s: %d packets, %d bytes; the capture saw %d frames, %d bytes", direction, packets, bytes, wire[d][0], wire[d][1]))
		}
		// Echoes go and come back; datagrams only go; TCP goes both ways.
		for class, want := range map[string]uint64{"icmp": echoes, "udp": datagrams * uint64(d)} {
			if n := got[direction+" "+dev.tunnel+" ipv4/"+class][0]; n != want {
				problems = append(problems, fmt.Sprintf("%s: %d ipv4/%s inside, want %d", direction, n, class, want))
			}
		}
		if got[direction+" "+dev.tunnel+" ipv4/tcp"][0] == 0 {
			problems = append(problems, fmt.Sprintf("%s: no ipv4/tcp inside", direction))
		}
	}
	return strings.Join(problems, "; ")
}

// tcpThrough sends n bytes over a TCP connection from src in a to dst in b
// and waits until b has read them all; it returns n.
func tcpThrough(t *testing.T, a, b *testenv.Netns, src, dst netip.Addr, n int) int {
	t.Helper()
	var ln net.Listener
	if err := b.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", netip.AddrPortFrom(dst, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	read := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			read <- -1
			return
		}
		defer c.Close()
		got, _ := io.Copy(io.Discard, c)
		read <- got
	}()
	err := a.Do(func() error {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write(make([]byte, n))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-read:
		if got != int64(n) {
			t.Fatalf("the far end read %d of %d bytes", got, n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the far end read nothing for 10 s")
	}
	return n
}
