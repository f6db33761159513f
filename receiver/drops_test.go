package receiver_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"golang.org/x/sys/unix"

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

// TestDropsThatAreNotLosses: what a busy host does all day gives no drop of
// category network or host. A ping flood through a raw socket (ping as
// root) has every echo reply answered, and the kernel frees each reply's
// original with no_socket after the raw socket's copy: category delivered,
// as many as the replies the raw socket received (and the kernel's Icmp
// InEchoReps for IPv4). HTTP fetches closed early (a client that reads the
// headers of a large response and closes) drop data of category socket
// only: the kernel frees the unread data without a reason, and the segments
// that arrive after the close are no_socket drops of TCP without SYN,
// category socket, while SYNs to a closed port stay host drops, each exactly
// the segments sent (the kernel's Tcp OutRsts). A full receive buffer drops
// socket_rcvbuff, category socket, exactly the kernel's Udp RcvbufErrors.
func TestDropsThatAreNotLosses(t *testing.T) {
	testenv.RequireRoot(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true})
	recv := startIn(t, b, func(c *config.Config) { c.Interfaces.Include = []string{pair.NameB} })
	waitFor(t, 5*time.Second, "attached", func() bool { return attached(recv, pair.NameB) })
	waitFor(t, 10*time.Second, "the drop counter counting", func() bool {
		return collect(t, recv)[metricdef.KernelFeatures.Name]["feature=drop_reasons"] == 1
	})
	drops := func() map[string]int64 {
		return collectKeys(t, recv, func(attribute.Key) bool { return true })[metricdef.NetworkDrops.Name]
	}

	// Ping floods, IPv4 and IPv6, answered by A.
	const echoes = 200
	echoReps0 := snmpCounter(t, b, "/proc/net/snmp", "Icmp", "InEchoReps")
	want := map[string]int64{}
	for _, c := range []struct {
		src, dst  netip.Addr
		netType   string
		transport string
	}{
		{pair.IPv4B.Addr(), pair.IPv4A.Addr(), "ipv4", "icmp"},
		{pair.IPv6B.Addr(), pair.IPv6A.Addr(), "ipv6", "icmpv6"},
	} {
		replies := pingFlood(t, b, c.src, c.dst, echoes)
		if replies != echoes {
			t.Fatalf("%s: the raw socket received %d echo replies of %d", c.netType, replies, echoes)
		}
		want[dropKey(pair.NameB, "no_socket", "delivered", c.netType, c.transport)] = int64(replies)
	}
	if got := snmpCounter(t, b, "/proc/net/snmp", "Icmp", "InEchoReps") - echoReps0; got != echoes {
		t.Fatalf("the kernel counted %d IPv4 echo replies, %d answered", got, echoes)
	}

	// A full receive buffer: a socket that is never read, with the smallest
	// buffer.
	rcvbuf0 := snmpCounter(t, b, "/proc/net/snmp", "Udp", "RcvbufErrors")
	var full *net.UDPConn
	if err := b.Do(func() error {
		var err error
		if full, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(pair.IPv4B.Addr(), 0))); err != nil {
			return err
		}
		return full.SetReadBuffer(0)
	}); err != nil {
		t.Fatalf("udp socket: %v", err)
	}
	defer full.Close()
	testtraffic.SendUDP(t, a, pair.IPv4A.Addr(), full.LocalAddr().(*net.UDPAddr).AddrPort(), 50, 1000)
	rcvbuff := snmpCounter(t, b, "/proc/net/snmp", "Udp", "RcvbufErrors") - rcvbuf0
	if rcvbuff == 0 {
		t.Fatal("no datagram found the receive buffer full")
	}
	want[dropKey(pair.NameB, "socket_rcvbuff", "socket", "ipv4", "udp")] = rcvbuff

	// TCP to a closed port: SYNs (connection attempts refused) are host
	// drops, segments without SYN (of a connection that ended here) socket
	// drops; the kernel answers each with a reset.
	const syns, acks = 10, 15
	rsts0 := snmpCounter(t, b, "/proc/net/snmp", "Tcp", "OutRsts")
	testtraffic.SendTCPSYN(t, a, pair.IPv4A.Addr(), pair.IPv4B.Addr(), 9, syns)
	testtraffic.SendTCP(t, a, pair.IPv4A.Addr(), pair.IPv4B.Addr(), 9, 0x10, acks)
	if got := snmpCounter(t, b, "/proc/net/snmp", "Tcp", "OutRsts") - rsts0; got != syns+acks {
		t.Fatalf("the kernel sent %d resets for %d segments to a closed port", got, syns+acks)
	}
	want[dropKey(pair.NameB, "no_socket", "host", "ipv4", "tcp")] = syns
	want[dropKey(pair.NameB, "no_socket", "socket", "ipv4", "tcp")] = acks

	deadline := time.Now().Add(5 * time.Second)
	var got map[string]int64
	for {
		got = drops()
		if equalCounts(got, want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !equalCounts(got, want) {
		t.Errorf("drops after the ping floods and the full buffer:\n got  %v\n want %v", got, want)
	}

	// HTTP fetches of a large response, closed after the headers.
	fetchesClosedEarly(t, a, b, netip.AddrPortFrom(pair.IPv4A.Addr(), 8080), 20)
	time.Sleep(200 * time.Millisecond) // the segments in flight after each close
	for key, v := range drops() {
		if v != want[key] && !strings.Contains(key, "packet_exporter.drop.category=socket") {
			t.Errorf("a drop of category other than socket after HTTP fetches closed early: %s = %d (%d before)", key, v, want[key])
		}
	}
}

// pingFlood sends count echo requests from src in ns to dst on a raw ICMP
// (ICMPv6) socket, as ping does as root, and returns the echo replies from
// dst the socket receives, reading until count arrived or a second passes
// without one.
func pingFlood(t *testing.T, ns *testenv.Netns, src, dst netip.Addr, count int) int {
	t.Helper()
	family, proto, reply := unix.AF_INET6, unix.IPPROTO_ICMPV6, byte(129)
	var to unix.Sockaddr = &unix.SockaddrInet6{Addr: dst.As16()}
	if dst.Is4() {
		family, proto, reply = unix.AF_INET, unix.IPPROTO_ICMP, 0
		to = &unix.SockaddrInet4{Addr: dst.As4()}
	}
	var fd int
	if err := ns.Do(func() error {
		var err error
		fd, err = unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		return err
	}); err != nil {
		t.Fatalf("raw socket: %v", err)
	}
	defer unix.Close(fd)
	tv := unix.Timeval{Sec: 1}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatalf("receive timeout: %v", err)
	}
	for i := range count {
		if err := unix.Sendto(fd, testtraffic.EchoRequest(src, dst, uint16(i), 56), 0, to); err != nil {
			t.Fatalf("send echo request: %v", err)
		}
	}
	buf := make([]byte, 2048)
	replies := 0
	for replies < count {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			break // the timeout: no more replies
		}
		var peer netip.Addr
		switch sa := from.(type) {
		case *unix.SockaddrInet4:
			peer = netip.AddrFrom4(sa.Addr)
		case *unix.SockaddrInet6:
			peer = netip.AddrFrom16(sa.Addr)
		}
		// An IPv4 raw socket gets the IP header, an IPv6 one does not.
		icmp := buf[:n]
		if dst.Is4() && n > 0 {
			icmp = buf[int(buf[0]&0x0f)*4 : n]
		}
		if peer == dst && len(icmp) > 0 && icmp[0] == reply {
			replies++
		}
	}
	return replies
}

// fetchesClosedEarly serves a 4 MiB response on addr in server and makes
// count requests to it from client, each closing its connection once the
// response's headers are read.
func fetchesClosedEarly(t *testing.T, server, client *testenv.Netns, addr netip.AddrPort, count int) {
	t.Helper()
	var l net.Listener
	if err := server.Do(func() error {
		var err error
		l, err = net.Listen("tcp", addr.String())
		return err
	}); err != nil {
		t.Fatalf("listen: %v", err)
	}
	body := make([]byte, 4<<20)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(body) }),
		ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	defer srv.Close()
	httpClient := client.HTTPClient()
	for range count {
		resp, err := httpClient.Get("http://" + addr.String() + "/")
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if _, err := resp.Body.Read(make([]byte, 100)); err != nil {
			t.Fatalf("read the response: %v", err)
		}
		resp.Body.Close()
	}
}
