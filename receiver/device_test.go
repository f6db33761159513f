package receiver_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	tf "github.com/packet-exporter/packet-exporter/internal/testing/testframe"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// linkStats are an interface's device counters as ip -s link reports them,
// receive then transmit.
type linkStats struct {
	bytes, packets, dropped, errors [2]int64
}

// ipLinkStats returns the counters of interface name in ns as ip -s link
// reports them.
func ipLinkStats(t *testing.T, ns *testenv.Netns, name string) linkStats {
	t.Helper()
	out, err := ns.Exec("ip", "-s", "-j", "link", "show", "dev", name)
	if err != nil {
		t.Fatalf("ip -s -j link show dev %s: %v\n%s", name, err, out)
	}
	type counters struct {
		Bytes   int64 `json:"bytes"`
		Packets int64 `json:"packets"`
		Dropped int64 `json:"dropped"`
		Errors  int64 `json:"errors"`
	}
	var links []struct {
		Stats64 struct{ RX, TX counters } `json:"stats64"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -s -j link show dev %s: %v\n%s", name, err, out)
	}
	rx, tx := links[0].Stats64.RX, links[0].Stats64.TX
	return linkStats{bytes: [2]int64{rx.Bytes, tx.Bytes}, packets: [2]int64{rx.Packets, tx.Packets},
		dropped: [2]int64{rx.Dropped, tx.Dropped}, errors: [2]int64{rx.Errors, tx.Errors}}
}

// TestDeviceCounters makes a veth end drop received frames (of an EtherType
// no protocol handles: the stack counts them in the device's rx_dropped), and
// sends frames from it while its peer is down (veth counts them in its
// tx_dropped where the frames reach the driver, as on 6.18; 6.1 drops them in
// the qdisc of a link without carrier): system.network.io,
// system.network.packet.count, system.network.packet.dropped and
// system.network.errors of the counted interface equal what ip -s link shows,
// in both directions, and an interface the configuration leaves out has no
// series.
func TestDeviceCounters(t *testing.T) {
	testenv.RequireRoot(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true})
	other := testenv.NewVethPair(t, a, b, testenv.VethOptions{Quiet: true})
	recv := startCounting(t, a, pair.NameA, nil)

	const frames = 9
	unhandled := tf.MustBuild(tf.Frame{Dst: [6]byte(pair.MACA), Src: [6]byte(pair.MACB), EtherType: 0x88b5})
	for range frames {
		testtraffic.SendFrames(t, b, pair.IndexB, unhandled)
	}
	if err := b.Do(func() error {
		return netlink.LinkSetDown(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: pair.NameB}})
	}); err != nil {
		t.Fatal(err)
	}
	// veth drops each frame for a peer that is down (counting it in its
	// tx_dropped), and the send fails with ENOBUFS.
	frame := tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{}, UDP: &tf.UDP{SrcPort: 9, DstPort: 9}})
	if err := a.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for range frames {
			err := unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: pair.IndexA, Protocol: 0x0008 /* ETH_P_IP, network order */})
			if err != nil && !errors.Is(err, unix.ENOBUFS) {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	stats := ipLinkStats(t, a, pair.NameA)
	if stats.dropped[0] < frames {
		t.Fatalf("%s dropped %d frames on receive, want at least the %d of an unhandled EtherType", pair.NameA, stats.dropped[0], frames)
	}
	if stats.packets[0] < frames || stats.bytes[0] < frames*int64(len(unhandled)) {
		t.Fatalf("%s received %d packets, %d bytes: fewer than the %d frames sent", pair.NameA, stats.packets[0], stats.bytes[0], frames)
	}
	points := collect(t, recv)
	for d, dir := range []string{"receive", "transmit"} {
		key := fmt.Sprintf("network.interface.name=%s,network.io.direction=%s", pair.NameA, dir)
		// The conventions give system.network.packet.count system.device instead.
		deviceKey := fmt.Sprintf("network.io.direction=%s,system.device=%s", dir, pair.NameA)
		for _, c := range []struct {
			def  metricdef.Definition
			want int64
		}{
			{metricdef.SystemNetworkIO, stats.bytes[d]},
			{metricdef.SystemNetworkPacketCount, stats.packets[d]}, // under deviceKey
			{metricdef.SystemNetworkPacketDropped, stats.dropped[d]},
			{metricdef.SystemNetworkErrors, stats.errors[d]},
		} {
			k := key
			if c.def.Name == metricdef.SystemNetworkPacketCount.Name {
				k = deviceKey
			}
			if got, ok := points[c.def.Name][k]; !ok || got != c.want {
				t.Errorf("%s %s: %d (reported %v), ip -s link %d", c.def.Name, k, got, ok, c.want)
			}
		}
	}
	for _, m := range []string{metricdef.SystemNetworkIO.Name, metricdef.SystemNetworkPacketCount.Name, metricdef.SystemNetworkPacketDropped.Name, metricdef.SystemNetworkErrors.Name} {
		if len(points[m]) != 2 {
			t.Errorf("%s: %d series, want the 2 of %s (not %s): %v", m, len(points[m]), pair.NameA, other.NameA, points[m])
		}
	}
}
