package receiver_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	tf "github.com/packet-exporter/packet-exporter/internal/testing/testframe"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
	"github.com/packet-exporter/packet-exporter/receiver"
)

// snmpCounter returns counter name of group (the "Udp:" or "IpExt:" lines)
// of file (/proc/net/snmp or /proc/net/netstat) as namespace ns sees it.
func snmpCounter(t *testing.T, ns *testenv.Netns, file, group, name string) int64 {
	t.Helper()
	out, err := ns.Exec("cat", file)
	if err != nil {
		t.Fatalf("cat %s: %v", file, err)
	}
	var header []string
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != group+":" {
			continue
		}
		if header == nil {
			header = fields
			continue
		}
		for i, h := range header {
			if h == name && i < len(fields) {
				v, err := strconv.ParseInt(fields[i], 10, 64)
				if err != nil {
					t.Fatalf("%s %s %s: %v", file, group, name, err)
				}
				return v
			}
		}
	}
	t.Fatalf("%s: no %s %s", file, group, name)
	return 0
}

// nftCounter returns the packets of the counter of the one rule of chain in
// table inet of ns.
func nftCounter(t *testing.T, ns *testenv.Netns, table, chain string) int64 {
	t.Helper()
	out, err := ns.Exec("nft", "-j", "list", "chain", "inet", table, chain)
	if err != nil {
		t.Fatalf("nft list chain: %v\n%s", err, out)
	}
	var ruleset struct {
		Nftables []struct {
			Rule *struct {
				Expr []struct {
					Counter *struct {
						Packets int64 `json:"packets"`
					} `json:"counter"`
				} `json:"expr"`
			} `json:"rule"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &ruleset); err != nil {
		t.Fatalf("nft -j: %v\n%s", err, out)
	}
	for _, o := range ruleset.Nftables {
		if o.Rule == nil {
			continue
		}
		for _, e := range o.Rule.Expr {
			if e.Counter != nil {
				return e.Counter.Packets
			}
		}
	}
	t.Fatalf("nft: no counter in chain %s\n%s", chain, out)
	return 0
}

// sendUnconnectedUDP sends count datagrams of 16 bytes to dst from an
// unconnected socket in ns: the ICMP errors a closed port answers with do not
// fail the sends.
func sendUnconnectedUDP(t *testing.T, ns *testenv.Netns, dst netip.AddrPort, count int) {
	t.Helper()
	err := ns.Do(func() error {
		conn, err := net.ListenUDP("udp", nil)
		if err != nil {
			return err
		}
		defer conn.Close()
		for range count {
			if _, err := conn.WriteToUDPAddrPort(make([]byte, 16), dst); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("send udp to %s: %v", dst, err)
	}
}

// dropKey is the key collectKeys gives a drop series with every attribute.
func dropKey(iface, reason, category, netType, transport string) string {
	return fmt.Sprintf("error.type=%s,network.interface.name=%s,network.transport=%s,network.type=%s,packet_exporter.drop.category=%s",
		reason, iface, transport, netType, category)
}

// TestKernelDrops drops packets of known number for four reasons in the
// namespace a receiver counts, and compares packet_exporter.network.drops
// with what the kernel itself counts for each: UDP to a closed port
// (no_socket, the kernel's UdpNoPorts), UDP dropped by an nftables rule
// (netfilter_drop, the rule's counter), frames to another MAC address
// (otherhost, the frames sent) and IPv4 packets with a bad header checksum
// (ip_csum, IpExt InCsumErrors). Delivered traffic first produces no drop
// series at all, a receiver in the sending namespace counts none of the
// other namespace's drops, a deleted interface's drop series go, and an
// interface given its index starts from zero.
func TestKernelDrops(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "nft")
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true})
	recv := startIn(t, b, func(c *config.Config) { c.Interfaces.Include = []string{pair.NameB} })
	other := startIn(t, a, func(c *config.Config) { c.Interfaces.Include = []string{pair.NameA} })
	waitFor(t, 5*time.Second, "attached", func() bool { return attached(recv, pair.NameB) && attached(other, pair.NameA) })
	for _, r := range []*receiver.Receiver{recv, other} {
		waitFor(t, 10*time.Second, "the drop counter counting", func() bool {
			return collect(t, r)[metricdef.KernelFeatures.Name]["feature=drop_reasons"] == 1
		})
	}

	// Delivered: no drop series.
	sink := testtraffic.ListenUDP(t, b, pair.IPv4B.Addr())
	testtraffic.SendUDP(t, a, pair.IPv4A.Addr(), sink.Addr, 20, 32)
	time.Sleep(100 * time.Millisecond)
	if drops := collect(t, recv)[metricdef.NetworkDrops.Name]; len(drops) != 0 {
		t.Fatalf("drops after delivered traffic only: %v", drops)
	}

	// no_socket: datagrams to a closed port.
	noPorts0 := snmpCounter(t, b, "/proc/net/snmp", "Udp", "NoPorts")
	const closed = 30
	sendUnconnectedUDP(t, a, netip.AddrPortFrom(pair.IPv4B.Addr(), 9), closed)

	// netfilter_drop: datagrams an nftables rule drops, with a counter.
	table := testenv.UniqueName("pe")
	for _, cmd := range [][]string{
		{"add", "table", "inet", table},
		{"add", "chain", "inet", table, "in", "{ type filter hook input priority 0 ; }"},
		{"add", "rule", "inet", table, "in", "udp", "dport", "7777", "counter", "drop"},
	} {
		if out, err := b.Exec("nft", cmd...); err != nil {
			t.Fatalf("nft %v: %v\n%s", cmd, err, out)
		}
	}
	const filtered = 25
	sendUnconnectedUDP(t, a, netip.AddrPortFrom(pair.IPv4B.Addr(), 7777), filtered)

	// otherhost: frames to a MAC address that is not B's.
	const otherhost = 12
	toOther := tf.MustBuild(tf.Frame{Dst: [6]byte{0x02, 0xee, 0, 0, 0, 1}, Src: [6]byte(pair.MACA),
		IPv4: &tf.IPv4{Src: pair.IPv4A.Addr(), Dst: pair.IPv4B.Addr()}, UDP: &tf.UDP{SrcPort: 1000, DstPort: 1001}})
	// ip_csum: IPv4 headers whose checksum is wrong, to B's address.
	const badCsum = 7
	csum0 := snmpCounter(t, b, "/proc/net/netstat", "IpExt", "InCsumErrors")
	bad := tf.MustBuild(tf.Frame{Dst: [6]byte(pair.MACB), Src: [6]byte(pair.MACA),
		IPv4: &tf.IPv4{Src: pair.IPv4A.Addr(), Dst: pair.IPv4B.Addr()}, TCP: &tf.TCP{}})
	bad[14+10] ^= 0xff // the header checksum
	for range otherhost {
		testtraffic.SendFrames(t, a, pair.IndexA, toOther)
	}
	for range badCsum {
		testtraffic.SendFrames(t, a, pair.IndexA, bad)
	}

	want := map[string]int64{
		dropKey(pair.NameB, "no_socket", "host", "ipv4", "udp"):         snmpCounter(t, b, "/proc/net/snmp", "Udp", "NoPorts") - noPorts0,
		dropKey(pair.NameB, "netfilter_drop", "network", "ipv4", "udp"): nftCounter(t, b, table, "in"),
		dropKey(pair.NameB, "otherhost", "host", "ipv4", "udp"):         otherhost,
		dropKey(pair.NameB, "ip_csum", "host", "ipv4", "tcp"):           snmpCounter(t, b, "/proc/net/netstat", "IpExt", "InCsumErrors") - csum0,
	}
	// The kernel's own counts agree with what was sent.
	for key, sent := range map[string]int64{
		dropKey(pair.NameB, "no_socket", "host", "ipv4", "udp"):         closed,
		dropKey(pair.NameB, "netfilter_drop", "network", "ipv4", "udp"): filtered,
		dropKey(pair.NameB, "ip_csum", "host", "ipv4", "tcp"):           badCsum,
	} {
		if want[key] != sent {
			t.Fatalf("%s: the kernel counted %d, %d sent", key, want[key], sent)
		}
	}
	var got map[string]int64
	deadline := time.Now().Add(5 * time.Second)
	for {
		got = collectKeys(t, recv, func(attribute.Key) bool { return true })[metricdef.NetworkDrops.Name]
		if equalCounts(got, want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !equalCounts(got, want) {
		t.Errorf("drops:\n got  %v\n want %v", got, want)
	}
	for key := range collect(t, other)[metricdef.NetworkDrops.Name] {
		for _, reason := range []string{"no_socket", "netfilter_drop", "otherhost", "ip_csum"} {
			if strings.Contains(key, "error.type="+reason+",") {
				t.Errorf("the receiver of the other namespace counted %s", key)
			}
		}
	}

	// A deleted interface's drops are forgotten.
	if out, err := b.Exec("ip", "link", "del", pair.NameB); err != nil {
		t.Fatalf("ip link del: %v\n%s", err, out)
	}
	waitFor(t, 5*time.Second, "the deleted interface's drop series gone", func() bool {
		for key := range collect(t, recv)[metricdef.NetworkDrops.Name] {
			if strings.Contains(key, "network.interface.name="+pair.NameB) {
				return false
			}
		}
		return true
	})

	// An interface given the deleted one's index starts from zero.
	nameB, nameA := testenv.UniqueName("pd"), testenv.UniqueName("pd")
	if out, err := b.Exec("ip", "link", "add", nameB, "index", strconv.Itoa(pair.IndexB), "type", "veth", "peer", "name", nameA, "netns", a.Name); err != nil {
		t.Fatalf("ip link add: %v\n%s", err, out)
	}
	t.Cleanup(func() { b.Exec("ip", "link", "del", nameB) })
	for _, c := range []struct {
		ns   *testenv.Netns
		name string
	}{{b, nameB}, {a, nameA}} {
		if out, err := c.ns.Exec("ip", "link", "set", c.name, "up"); err != nil {
			t.Fatalf("ip link set up: %v\n%s", err, out)
		}
	}
	var indexA int
	if err := a.Do(func() error {
		l, err := net.InterfaceByName(nameA)
		if err == nil {
			indexA = l.Index
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	const again = 3
	for range again {
		testtraffic.SendFrames(t, a, indexA, toOther)
	}
	// The new link is not quiet (its IPv6 sends router solicitations and MLD
	// reports, which B drops): only the otherhost series is compared.
	key := dropKey(nameB, "otherhost", "host", "ipv4", "udp")
	waitFor(t, 5*time.Second, "the new interface's drops counted", func() bool {
		got = collectKeys(t, recv, func(attribute.Key) bool { return true })[metricdef.NetworkDrops.Name]
		return got[key] >= again
	})
	if got[key] != again {
		t.Errorf("%s on the interface that got index %d again: %d, want %d", key, pair.IndexB, got[key], again)
	}
}

// equalCounts reports whether got holds exactly the series and values of want.
func equalCounts(got, want map[string]int64) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// TestDropsDisabled checks that drops.enabled false attaches no drop program
// and exports no drop series or feature.
func TestDropsDisabled(t *testing.T) {
	testenv.RequireRoot(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true})
	recv := startCounting(t, b, pair.NameB, func(c *config.Config) { c.Drops.Enabled = false })
	sendUnconnectedUDP(t, a, netip.AddrPortFrom(pair.IPv4B.Addr(), 9), 5)
	points := collect(t, recv)
	if _, ok := points[metricdef.NetworkDrops.Name]; ok {
		t.Errorf("drop series with drops.enabled false: %v", points[metricdef.NetworkDrops.Name])
	}
	if _, ok := points[metricdef.KernelFeatures.Name]["feature=drop_reasons"]; ok {
		t.Errorf("drop_reasons feature reported with drops.enabled false")
	}
}
