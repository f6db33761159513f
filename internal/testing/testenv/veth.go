package testenv

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// VethPair is a veth pair whose two ends live in two test namespaces.
type VethPair struct {
	// A and B are the namespaces of the two ends.
	A, B *Netns
	// NameA and NameB are the interface names of the ends in A and in B.
	NameA, NameB string
	// IndexA and IndexB are the ifindexes of the ends, each inside its namespace.
	IndexA, IndexB int
	// MACA and MACB are the hardware addresses of the ends.
	MACA, MACB net.HardwareAddr
	// IPv4A and IPv4B are the ends' IPv4 addresses, the two hosts of a /30 in
	// 10.200.0.0/16 that no other pair of this process uses.
	IPv4A, IPv4B netip.Prefix
	// IPv6A and IPv6B are the ends' IPv6 addresses, fd00:K::1/64 and fd00:K::2/64
	// with K unique to the pair within the process, added with nodad.
	IPv6A, IPv6B netip.Prefix
}

// VethOptions tunes NewVethPair.
type VethOptions struct {
	// Queues is the number of TX and RX queues of both ends (0 means 1). Native
	// XDP on veth needs at least as many RX queues on the peer as TX queues used.
	Queues int
	// MTU of both ends; 0 keeps the default (1500).
	MTU int
	// DisableOffloads turns off TX checksumming, TSO, GSO and GRO on both ends
	// (with the ethtool ioctl), so that every skb is exactly one wire frame.
	DisableOffloads bool
	// Quiet makes the link carry only the test's own traffic. With Quiet, no
	// frame at all crosses the link until the test sends one:
	//   - both ends get IFF_NOARP ("ip link set dev X arp off") before they
	//     come up: IPv4 never ARPs, IPv6 skips DAD and does not join the
	//     solicited-node multicast groups of its addresses, so it sends no MLD
	//     report (MLD reports cannot be switched off by any sysctl, and
	//     IFF_MULTICAST off does not stop them either);
	//   - each end has permanent neighbour entries for the peer's IPv4 and IPv6
	//     addresses, so traffic between IPv4A/IPv4B and IPv6A/IPv6B works without
	//     ARP or ND. Other on-link destinations are NOT resolved: with IFF_NOARP
	//     the kernel sends frames for them to the interface's own MAC address,
	//     and the peer drops them;
	//   - net.ipv6.conf.{all,default,IF}.router_solicitations=0, accept_dad=0,
	//     dad_transmits=0, accept_ra=0, ndisc_notify=0 and
	//     net.ipv4.conf.{all,default,IF}.arp_notify=0 in both namespaces (all and
	//     default before the links are created, IF before they come up), so no
	//     router solicitation, DAD probe or unsolicited neighbour advertisement
	//     is sent for the automatic fe80:: address either.
	// Frames sent because the test itself joins a multicast group, or sends to
	// other destinations, are not suppressed.
	Quiet bool
}

// pairSeq numbers the pairs of this process to give them distinct subnets.
var pairSeq atomic.Uint32

// pairSubnets returns the addresses of the k-th pair, 1 <= k <= 16383.
func pairSubnets(k uint32) (v4a, v4b, v6a, v6b netip.Prefix) {
	base := 4 * k // offset inside 10.200.0.0/16
	v4a = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 200, byte(base >> 8), byte(base + 1)}), 30)
	v4b = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 200, byte(base >> 8), byte(base + 2)}), 30)
	var a6 [16]byte
	a6[0], a6[1], a6[2], a6[3] = 0xfd, 0x00, byte(k>>8), byte(k)
	a6[15] = 1
	v6a = netip.PrefixFrom(netip.AddrFrom16(a6), 64)
	a6[15] = 2
	v6b = netip.PrefixFrom(netip.AddrFrom16(a6), 64)
	return
}

// quietSysctls are set in both namespaces of a Quiet pair, for all, default and
// the interface; %s is replaced by those names.
var quietSysctls = []struct{ key, value string }{
	{"net.ipv6.conf.%s.router_solicitations", "0"},
	{"net.ipv6.conf.%s.accept_dad", "0"},
	{"net.ipv6.conf.%s.dad_transmits", "0"},
	{"net.ipv6.conf.%s.accept_ra", "0"},
	{"net.ipv6.conf.%s.ndisc_notify", "0"},
	{"net.ipv4.conf.%s.arp_notify", "0"},
}

// NewVethPair creates a veth pair between the namespaces a and b (which may be
// the same) with unique names: the end NameA is created in a and its peer NameB
// directly in b, so neither ever appears in the host namespace. It assigns the
// addresses, applies the options, brings both ends up, waits until both are
// operationally up, and registers cleanup (deleting one end deletes the pair).
// It fails the test on any error.
func NewVethPair(tb testing.TB, a, b *Netns, opt VethOptions) *VethPair {
	tb.Helper()
	if a == nil || b == nil || a.nl == nil || b.nl == nil {
		tb.Fatalf("testenv: NewVethPair needs two namespaces made by NewNetns")
	}
	queues := opt.Queues
	if queues <= 0 {
		queues = 1
	}
	if opt.MTU < 0 {
		tb.Fatalf("testenv: negative MTU %d", opt.MTU)
	}

	k := (pairSeq.Add(1)-1)%16383 + 1
	p := &VethPair{A: a, B: b, NameA: UniqueName("pea"), NameB: UniqueName("peb")}
	p.IPv4A, p.IPv4B, p.IPv6A, p.IPv6B = pairSubnets(k)

	namespaces := []*Netns{a}
	if b != a {
		namespaces = append(namespaces, b)
	}
	if opt.Quiet {
		for _, ns := range namespaces {
			for _, s := range quietSysctls {
				for _, scope := range []string{"all", "default"} {
					if err := ns.Sysctl(fmt.Sprintf(s.key, scope), s.value); err != nil {
						tb.Fatalf("testenv: %v", err)
					}
				}
			}
		}
	}

	attrs := netlink.NewLinkAttrs()
	attrs.Name = p.NameA
	attrs.NumTxQueues = queues
	attrs.NumRxQueues = queues
	attrs.MTU = opt.MTU
	veth := &netlink.Veth{
		LinkAttrs:       attrs,
		PeerName:        p.NameB,
		PeerNamespace:   netlink.NsFd(int(b.Handle)),
		PeerTxQLen:      -1,
		PeerNumTxQueues: uint32(queues),
		PeerNumRxQueues: uint32(queues),
		PeerMTU:         uint32(opt.MTU),
	}
	if err := a.nl.LinkAdd(veth); err != nil {
		tb.Fatalf("testenv: create veth %s (in %s) / %s (in %s): %v", p.NameA, a.Name, p.NameB, b.Name, err)
	}
	tb.Cleanup(func() {
		if err := p.destroy(); err != nil {
			tb.Errorf("testenv: cleanup of veth pair %s/%s: %v", p.NameA, p.NameB, err)
		}
	})

	la, err := a.nl.LinkByName(p.NameA)
	if err != nil {
		tb.Fatalf("testenv: find %s in %s: %v", p.NameA, a.Name, err)
	}
	lb, err := b.nl.LinkByName(p.NameB)
	if err != nil {
		tb.Fatalf("testenv: find %s in %s: %v", p.NameB, b.Name, err)
	}
	p.IndexA, p.IndexB = la.Attrs().Index, lb.Attrs().Index
	p.MACA = append(net.HardwareAddr(nil), la.Attrs().HardwareAddr...)
	p.MACB = append(net.HardwareAddr(nil), lb.Attrs().HardwareAddr...)

	type end struct {
		ns         *Netns
		link       netlink.Link
		name       string
		v4, v6     netip.Prefix
		peerV4     netip.Addr
		peerV6     netip.Addr
		peerMAC    net.HardwareAddr
		peerIfname string
	}
	ends := []end{
		{a, la, p.NameA, p.IPv4A, p.IPv6A, p.IPv4B.Addr(), p.IPv6B.Addr(), p.MACB, p.NameB},
		{b, lb, p.NameB, p.IPv4B, p.IPv6B, p.IPv4A.Addr(), p.IPv6A.Addr(), p.MACA, p.NameA},
	}

	for _, e := range ends {
		if opt.Quiet {
			for _, s := range quietSysctls {
				if err := e.ns.Sysctl(fmt.Sprintf(s.key, e.name), s.value); err != nil {
					tb.Fatalf("testenv: %v", err)
				}
			}
			if err := e.ns.nl.LinkSetARPOff(e.link); err != nil {
				tb.Fatalf("testenv: set %s arp off: %v", e.name, err)
			}
		}
		if opt.DisableOffloads {
			if err := e.ns.Do(func() error { return setOffloads(e.name, false) }); err != nil {
				tb.Fatalf("testenv: disable offloads on %s: %v", e.name, err)
			}
		}
		if err := e.ns.nl.AddrAdd(e.link, &netlink.Addr{IPNet: prefixToIPNet(e.v4)}); err != nil {
			tb.Fatalf("testenv: add %s to %s: %v", e.v4, e.name, err)
		}
		if err := e.ns.nl.AddrAdd(e.link, &netlink.Addr{IPNet: prefixToIPNet(e.v6), Flags: unix.IFA_F_NODAD}); err != nil {
			tb.Fatalf("testenv: add %s to %s: %v", e.v6, e.name, err)
		}
	}

	for _, e := range ends {
		if err := e.ns.nl.LinkSetUp(e.link); err != nil {
			tb.Fatalf("testenv: set %s up: %v", e.name, err)
		}
	}
	for _, e := range ends {
		if err := waitOperUp(e.ns, e.name, 10*time.Second); err != nil {
			tb.Fatalf("testenv: %v", err)
		}
	}

	if opt.Quiet {
		// Added once the links are up, so that no link event can have flushed
		// them before the test starts sending.
		for _, e := range ends {
			for _, ip := range []netip.Addr{e.peerV4, e.peerV6} {
				family := netlink.FAMILY_V4
				if ip.Is6() {
					family = netlink.FAMILY_V6
				}
				n := &netlink.Neigh{
					LinkIndex:    e.link.Attrs().Index,
					Family:       family,
					State:        netlink.NUD_PERMANENT,
					IP:           net.IP(ip.AsSlice()),
					HardwareAddr: e.peerMAC,
				}
				if err := e.ns.nl.NeighSet(n); err != nil {
					tb.Fatalf("testenv: static neighbour %s lladdr %s on %s: %v", ip, e.peerMAC, e.name, err)
				}
			}
		}
	}
	return p
}

// NewNetnsPair creates two namespaces with NewNetns and a veth pair between
// them with NewVethPair(tb, a, b, opt): the set-up of most traffic tests.
func NewNetnsPair(tb testing.TB, opt VethOptions) (a, b *Netns, pair *VethPair) {
	tb.Helper()
	a, b = NewNetns(tb), NewNetns(tb)
	return a, b, NewVethPair(tb, a, b, opt)
}

// waitOperUp waits until the link's operational state is up, that is until
// the link watcher has seen the carrier and activated the queueing discipline;
// packets sent earlier may be dropped.
func waitOperUp(ns *Netns, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		l, err := ns.nl.LinkByName(name)
		if err != nil {
			return fmt.Errorf("find %s in %s: %w", name, ns.Name, err)
		}
		if l.Attrs().OperState == netlink.OperUp {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s in %s is not operationally up after %v (state %v)", name, ns.Name, timeout, l.Attrs().OperState)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// destroy deletes the pair (through whichever end still exists).
func (p *VethPair) destroy() error {
	for _, e := range []struct {
		ns   *Netns
		name string
	}{{p.A, p.NameA}, {p.B, p.NameB}} {
		if e.ns.nl == nil {
			continue // namespace already gone, and the pair with it
		}
		l, err := e.ns.nl.LinkByName(e.name)
		if err != nil {
			var nf netlink.LinkNotFoundError
			if errors.As(err, &nf) {
				continue
			}
			return fmt.Errorf("find %s in %s: %w", e.name, e.ns.Name, err)
		}
		if err := e.ns.nl.LinkDel(l); err != nil {
			return fmt.Errorf("delete %s in %s: %w", e.name, e.ns.Name, err)
		}
		return nil
	}
	return nil
}

// prefixToIPNet converts an address with its prefix length, keeping the host bits.
func prefixToIPNet(p netip.Prefix) *net.IPNet {
	bits := p.Addr().BitLen()
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), bits)}
}

// LinkStats is the kernel's own counters of a link.
type LinkStats struct {
	RxPackets, TxPackets, RxBytes, TxBytes uint64
}

// LinkStatsOf returns the kernel's own counters (rx/tx packets and bytes, as
// in `ip -s link`) of the link name in the namespace ns, read via netlink. For
// veth, the byte counters include the 14-byte Ethernet header of each frame.
// It fails the test on any error.
func LinkStatsOf(tb testing.TB, ns *Netns, name string) LinkStats {
	tb.Helper()
	if ns == nil || ns.nl == nil {
		tb.Fatalf("testenv: LinkStatsOf needs a namespace made by NewNetns")
	}
	l, err := ns.nl.LinkByName(name)
	if err != nil {
		tb.Fatalf("testenv: find %s in %s: %v", name, ns.Name, err)
	}
	s := l.Attrs().Statistics
	if s == nil {
		tb.Fatalf("testenv: no statistics for %s in %s", name, ns.Name)
	}
	return LinkStats{RxPackets: s.RxPackets, TxPackets: s.TxPackets, RxBytes: s.RxBytes, TxBytes: s.TxBytes}
}

// AddVeths creates n veth pairs between namespaces a and b in two batches of
// ip commands (thousands take seconds; netlink calls one by one take
// minutes): pair i has the end fmt.Sprintf(nameA, i) in a and
// fmt.Sprintf(nameB, i) in b. Both ends come up with IPv6 off (for the
// namespaces' new interfaces) and ARP off, so that no frame crosses a pair
// unless the test sends one. They go with the namespaces.
func AddVeths(tb testing.TB, a, b *Netns, n int, nameA, nameB string) {
	tb.Helper()
	for _, ns := range []*Netns{a, b} {
		if err := ns.Sysctl("net.ipv6.conf.default.disable_ipv6", "1"); err != nil {
			tb.Fatal(err)
		}
	}
	var inA, inB strings.Builder
	for i := range n {
		ea, eb := fmt.Sprintf(nameA, i), fmt.Sprintf(nameB, i)
		fmt.Fprintf(&inA, "link add %s type veth peer name %s netns %s\nlink set %s arp off up\n", ea, eb, b.Name, ea)
		fmt.Fprintf(&inB, "link set %s arp off up\n", eb)
	}
	for _, batch := range []struct {
		ns   *Netns
		cmds string
	}{{a, inA.String()}, {b, inB.String()}} {
		cmd := exec.Command("ip", "-n", batch.ns.Name, "-batch", "-")
		cmd.Stdin = strings.NewReader(batch.cmds)
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("ip -n %s -batch: %v\n%s", batch.ns.Name, err, out)
		}
	}
}
