package receiver_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/attribution"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
	"github.com/packet-exporter/packet-exporter/receiver"
)

// protocolTotals are one protocol's totals, as InterfaceTotals.Protocols
// gives them.
type protocolTotals struct {
	networkType, transport string
	receive, transmit      receiver.Counted
}

// interfaceTotals are InterfaceTotals read within Totals, with their
// protocols.
type interfaceTotals struct {
	name, kind        string
	receive, transmit receiver.Counted
	protocols         []protocolTotals
}

// TestTotals: the totals the live view samples equal what was sent, per
// direction and protocol, for the counted interface only, with what it is;
// the drops it samples are the kernel's, by interface, reason and
// category; its health says what is attached.
func TestTotals(t *testing.T) {
	testenv.RequireRoot(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true, DisableOffloads: true})
	recv := startCounting(t, b, pair.NameB, func(c *config.Config) { c.Egress.Enabled = true })
	sink := testtraffic.ListenUDP(t, b, pair.IPv4B.Addr())
	const count = 25
	size := testtraffic.SendUDP(t, a, pair.IPv4A.Addr(), sink.Addr, count, 100)
	udp := receiver.Counted{Packets: count, Bytes: uint64(count * size)}
	want := interfaceTotals{name: pair.NameB, kind: attribution.KindVeth, receive: udp,
		protocols: []protocolTotals{{networkType: "ipv4", transport: "udp", receive: udp}}}
	var got []interfaceTotals
	waitFor(t, 5*time.Second, "the datagrams in the totals", func() bool {
		got = got[:0]
		if err := recv.Totals(func(t *receiver.InterfaceTotals) {
			it := interfaceTotals{name: t.Name, kind: t.Kind, receive: t.Receive, transmit: t.Transmit}
			t.Protocols(func(networkType, transport string, rx, tx receiver.Counted) {
				it.protocols = append(it.protocols, protocolTotals{networkType, transport, rx, tx})
			})
			got = append(got, it)
		}); err != nil {
			t.Fatal(err)
		}
		return len(got) == 1 && got[0].name == want.name && got[0].kind == want.kind && got[0].receive == want.receive &&
			got[0].transmit == want.transmit && len(got[0].protocols) == 1 && got[0].protocols[0] == want.protocols[0]
	})

	// Both directions attached on the one interface counted.
	if h, err := recv.Health(); err != nil || h != (receiver.Health{Programs: 2, Interfaces: 1}) {
		t.Errorf("health %+v (%v), want 2 programs on 1 interface, no failure", h, err)
	}

	// Datagrams to a closed port: no_socket drops on the counted veth.
	const closed = 7
	waitFor(t, 10*time.Second, "the drop counter counting", func() bool {
		return collect(t, recv)[metricdef.KernelFeatures.Name]["feature=drop_reasons"] == 1
	})
	sendUnconnectedUDP(t, a, netip.AddrPortFrom(pair.IPv4B.Addr(), 9), closed)
	waitFor(t, 5*time.Second, "the no_socket drops in the drop totals", func() bool { return dropsOn(t, recv, pair.NameB) == closed })
}

// dropsOn returns the no_socket drops of category host on iface.
func dropsOn(t *testing.T, recv *receiver.Receiver, iface string) int {
	t.Helper()
	n := 0
	if err := recv.Drops(func(d receiver.InterfaceDrops) {
		if d.Interface == iface && d.Reason == "no_socket" && d.Category == "host" {
			n += int(d.Packets)
		}
	}); err != nil {
		t.Fatal(err)
	}
	return n
}
