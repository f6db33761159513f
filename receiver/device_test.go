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

// ipLinkStats returns the RX and TX dropped and errors counters of interface
// name in ns as ip -s link reports them.
func ipLinkStats(t *testing.T, ns *testenv.Netns, name string) (dropped, errors [2]int64) {
	t.Helper()
	out, err := ns.Exec("ip", "-s", "-j", "link", "show", "dev", name)
	if err != nil {
		t.Fatalf("ip -s -j link show dev %s: %v\n%s", name, err, out)
	}
	var links []struct {
		Stats64 struct {
			RX, TX struct {
				Dropped int64 `json:"dropped"`
				Errors  int64 `json:"errors"`
			}
		} `json:"stats64"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -s -j link show dev %s: %v\n%s", name, err, out)
	}
	s := links[0].Stats64
	return [2]int64{s.RX.Dropped, s.TX.Dropped}, [2]int64{s.RX.Errors, s.TX.Errors}
}

// TestDeviceCounters makes a veth end drop received frames (of an EtherType
// no protocol handles: the stack counts them in the device's rx_dropped), and
// sends frames from it while its peer is down (veth counts them in its
// tx_dropped where the frames reach the driver, as on 6.18; 6.1 drops them in
// the qdisc of a link without carrier): system.network.packet.dropped and
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
	dropped, errs := ipLinkStats(t, a, pair.NameA)
	if dropped[0] < frames {
		t.Fatalf("%s dropped %d frames on receive, want at least the %d of an unhandled EtherType", pair.NameA, dropped[0], frames)
	}
	points := collect(t, recv)
	for d, dir := range []string{"receive", "transmit"} {
		key := fmt.Sprintf("network.interface.name=%s,network.io.direction=%s", pair.NameA, dir)
		if got, ok := points[metricdef.SystemNetworkPacketDropped.Name][key]; !ok || got != dropped[d] {
			t.Errorf("%s: dropped %d (reported %v), ip -s link %d", key, got, ok, dropped[d])
		}
		if got, ok := points[metricdef.SystemNetworkErrors.Name][key]; !ok || got != errs[d] {
			t.Errorf("%s: errors %d (reported %v), ip -s link %d", key, got, ok, errs[d])
		}
	}
	for _, m := range []string{metricdef.SystemNetworkPacketDropped.Name, metricdef.SystemNetworkErrors.Name} {
		if len(points[m]) != 2 {
			t.Errorf("%s: %d series, want the 2 of %s (not %s): %v", m, len(points[m]), pair.NameA, other.NameA, points[m])
		}
	}
}
