package main

import (
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// TestLegacyTCAfterKill runs the binary with both hooks on legacy tc and kills
// it: unlike links, its filters stay (the kernel does not tie them to the
// process). The next start replaces them instead of adding a second set, it
// counts traffic once, and a SIGTERM then removes its filters.
func TestLegacyTCAfterKill(t *testing.T) {
	testenv.RequireRoot(t)
	bin := exporterBinary(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{DisableOffloads: true, Quiet: true})
	cfg := writeFile(t, "config.yaml", fmt.Sprintf(`
interfaces:
  include: [%q]
ingress:
  hook: tc
egress:
  hook: tc
prometheus:
  listen_address: %q
`, pair.NameA, listenAddress))

	first := startExporter(t, a, []string{bin, "--config", cfg}, nil)
	first.WaitReady(t, readyTimeout)
	before := exporterFilters(t, a, pair.IndexA)
	if len(before) != 2 {
		t.Fatalf("filters after the first start: %v, want one per direction", before)
	}
	first.Signal(syscall.SIGKILL)
	first.Wait(10 * time.Second)
	if left := exporterFilters(t, a, pair.IndexA); len(left) != 2 {
		t.Fatalf("filters after SIGKILL: %v, want the two left behind", left)
	}

	second := startExporter(t, a, []string{bin, "--config", cfg}, nil)
	second.WaitReady(t, readyTimeout)
	after := exporterFilters(t, a, pair.IndexA)
	if len(after) != 2 {
		t.Fatalf("filters after the restart: %v, want one per direction", after)
	}
	for parent, id := range after {
		if before[parent] == id {
			t.Errorf("parent %#x still runs the killed exporter's program %d", parent, id)
		}
	}
	sink := testtraffic.ListenUDP(t, a, pair.IPv4A.Addr())
	testtraffic.SendUDP(t, b, pair.IPv4B.Addr(), netip.AddrPortFrom(pair.IPv4A.Addr(), sink.Addr.Port()), 6, 40)
	second.WaitMetrics(t, "6 datagrams counted", 5*time.Second, func(m testexporter.Metrics) bool {
		v, _ := m.Sum(promPackets, udpReceived(pair.NameA))
		return v == 6
	})
	stopExporter(t, second)
	if left := exporterFilters(t, a, pair.IndexA); len(left) != 0 {
		t.Errorf("filters after SIGTERM: %v, want none", left)
	}
}

// exporterFilters returns the program ID of each packet-exporter filter on
// interface index in ns, by clsact parent; it fails the test when a parent
// holds more than one.
func exporterFilters(t *testing.T, ns *testenv.Netns, index int) map[uint32]int {
	t.Helper()
	out := map[uint32]int{}
	for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
		for _, bf := range testenv.BPFFilters(t, ns, index, parent) {
			if bf.Name != "packet-exporter" {
				continue
			}
			if _, dup := out[parent]; dup {
				t.Fatalf("parent %#x holds two packet-exporter filters", parent)
			}
			out[parent] = bf.Id
		}
	}
	return out
}
