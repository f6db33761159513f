package main

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// TestMetricSwitchedOff runs the binary with the packet-size histogram and
// the packet counter switched off in its configuration file: /metrics counts
// the traffic sent in bytes, exactly, and has no series of either.
func TestMetricSwitchedOff(t *testing.T) {
	testenv.RequireRoot(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Queues: 2, DisableOffloads: true, Quiet: true})
	cfgPath := writeFile(t, "config.yaml", fmt.Sprintf(`
interfaces:
  include: [%q]
prometheus:
  listen_address: %q
metrics:
  packet_exporter.network.packet.size: {enabled: false}
  packet_exporter.network.packets: {enabled: false}
`, pair.NameA, listenAddress))
	e := startExporter(t, a, []string{exporterBinary(t), "--config", cfgPath}, nil)
	e.WaitReady(t, readyTimeout)
	sink := testtraffic.ListenUDP(t, a, pair.IPv4A.Addr())
	const datagrams = 17
	size := testtraffic.SendUDP(t, b, pair.IPv4B.Addr(), netip.AddrPortFrom(pair.IPv4A.Addr(), sink.Addr.Port()), datagrams, 64)
	m := e.WaitMetrics(t, "the datagrams' bytes", 5*time.Second, func(m testexporter.Metrics) bool {
		bytes, _ := m.Sum(promBytes, udpReceived(pair.NameA))
		return bytes == float64(datagrams*size)
	})
	for _, name := range []string{promPackets, "packet_exporter_network_packet_size_bytes_bucket", "packet_exporter_network_packet_size_bytes_count"} {
		if _, n := m.Sum(name, nil); n != 0 {
			t.Errorf("%s: %d series, switched off", name, n)
		}
	}
	if _, n := m.Sum("packet_exporter_collector_duration_seconds", map[string]string{"collector": "traffic"}); n != 1 {
		t.Errorf("packet_exporter_collector_duration_seconds{collector=\"traffic\"}: %d series, want 1", n)
	}
	stopExporter(t, e)
}
