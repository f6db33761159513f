package receiver_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/server"
	"github.com/packet-exporter/packet-exporter/internal/telemetry"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
	"github.com/packet-exporter/packet-exporter/receiver"
)

// series identifies one packets/bytes series on the exporter's interface.
type series struct {
	direction, netType, transport string
}

// traffic is what the test expects per series.
type traffic map[series]struct{ packets, bytes uint64 }

func (t traffic) add(s series, packets int, frameSize int) {
	v := t[s]
	v.packets += uint64(packets)
	v.bytes += uint64(packets * frameSize)
	t[s] = v
}

// exporter is a receiver attached inside a test namespace, with its metrics
// served over HTTP on the host's loopback.
type exporter struct {
	recv *receiver.Receiver
	url  string
}

func startExporter(t *testing.T, ns *testenv.Netns, cfg config.Config) *exporter {
	t.Helper()
	log := zaptest.NewLogger(t)
	recv, err := receiver.New(cfg, log, receiver.WithNetns(ns.Handle))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { recv.Close() })
	provider, err := telemetry.New(telemetry.Options{Version: "test", CardinalityLimit: 1000, Prometheus: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { provider.Shutdown(context.Background()) })
	if _, err := recv.RegisterMetrics(provider.Meter("test"), receiver.BuildInfo{Version: "test"}); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{Address: "127.0.0.1:0", Registry: provider.Registry, Ready: recv.Ready, Version: "test", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	if err := recv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &exporter{recv: recv, url: "http://" + srv.Addr().String() + "/metrics"}
}

// scrape fetches /metrics and returns the packets and bytes per series of
// interface iface, plus the raw text.
func (e *exporter) scrape(t *testing.T, iface string) (traffic, string) {
	t.Helper()
	families, body, err := testexporter.Scrape(http.DefaultClient, e.url)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	got := traffic{}
	for name, family := range families {
		if name != "packet_exporter_network_packets_total" && name != "packet_exporter_network_io_bytes_total" {
			continue
		}
		for _, m := range family.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["network_interface_name"] != iface {
				continue
			}
			s := series{labels["network_io_direction"], labels["network_type"], labels["network_transport"]}
			v := got[s]
			if name == "packet_exporter_network_packets_total" {
				v.packets = uint64(m.GetCounter().GetValue())
			} else {
				v.bytes = uint64(m.GetCounter().GetValue())
			}
			got[s] = v
		}
	}
	return got, body
}

// TestCountsRealTraffic sends known traffic both ways across a veth pair
// whose end in namespace A the exporter counts, and compares /metrics exactly
// with what was sent and with the interface's own counters, for each way of
// counting received frames.
func TestCountsRealTraffic(t *testing.T) {
	tcx := fmt.Sprintf("hook=%q", tcHook()) // the default tc hook: legacy tc before Linux 6.6
	for _, tc := range []struct {
		name   string
		hook   string // ingress.hook
		mode   string // xdp.mode
		egress string // egress.hook
		// veth's native XDP path counts received bytes after it has pulled the
		// Ethernet header (skb->len after eth_type_trans), its other paths and
		// its transmit side with it; the exporter always counts the whole frame.
		kernelRxHeaderBytes uint64
		// attachedRx and attachedTx are the /metrics labels of the hooks.
		attachedRx, attachedTx string
	}{
		{"default", config.HookAuto, config.XDPModeAuto, config.HookAuto, 14, tcx, tcx},
		{"xdp native", config.HookXDP, config.XDPModeNative, config.HookAuto, 0, `hook="xdp",mode="native"`, tcx},
		{"xdp generic", config.HookXDP, config.XDPModeGeneric, config.HookAuto, 14, `hook="xdp",mode="generic"`, tcx},
		{"legacy tc", config.HookTC, config.XDPModeAuto, config.HookTC, 14, `hook="tc"`, `hook="tc"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testCountsRealTraffic(t, func(c *config.Config) { c.Ingress.Hook, c.XDP.Mode, c.Egress.Hook = tc.hook, tc.mode, tc.egress },
				tc.kernelRxHeaderBytes, tc.attachedRx, tc.attachedTx)
		})
	}
}

func testCountsRealTraffic(t *testing.T, configure func(*config.Config), kernelRxHeaderBytes uint64, attachedRx, attachedTx string) {
	testenv.RequireRoot(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Queues: 2, DisableOffloads: true, Quiet: true})

	cfg := config.Default()
	cfg.Interfaces.Include = []string{pair.NameA}
	configure(&cfg)
	cfg.Limits.MaxInterfaces = 4
	exp := startExporter(t, a, cfg)
	if got := exp.recv.Attached(); len(got) != 1 || got[0] != pair.NameA {
		t.Fatalf("attached %v, want [%s]", got, pair.NameA)
	}
	before := testenv.LinkStatsOf(t, a, pair.NameA)

	a4, b4 := pair.IPv4A.Addr(), pair.IPv4B.Addr()
	a6, b6 := pair.IPv6A.Addr(), pair.IPv6B.Addr()
	sinkA4, sinkB4 := testtraffic.ListenUDP(t, a, a4), testtraffic.ListenUDP(t, b, b4)
	sinkA6, sinkB6 := testtraffic.ListenUDP(t, a, a6), testtraffic.ListenUDP(t, b, b6)

	want := traffic{}
	rx := func(nt, tr string) series { return series{"receive", nt, tr} }
	tx := func(nt, tr string) series { return series{"transmit", nt, tr} }
	// UDP both ways, IPv4 and IPv6, with different counts and sizes per direction.
	want.add(rx("ipv4", "udp"), 37, testtraffic.SendUDP(t, b, b4, sinkA4.Addr, 37, 100))
	want.add(tx("ipv4", "udp"), 23, testtraffic.SendUDP(t, a, a4, sinkB4.Addr, 23, 1200))
	want.add(rx("ipv6", "udp"), 19, testtraffic.SendUDP(t, b, b6, sinkA6.Addr, 19, 300))
	want.add(tx("ipv6", "udp"), 11, testtraffic.SendUDP(t, a, a6, sinkB6.Addr, 11, 1400))
	// Exchanges: count frames of size each way, one answering each sent.
	exchange := func(count, size int, nt, tr string) {
		want.add(rx(nt, tr), count, size)
		want.add(tx(nt, tr), count, size)
	}
	// TCP: SYNs to a closed port, each answered by exactly one RST.
	exchange(13, testtraffic.SendTCPSYN(t, b, b4, a4, 9, 13), "ipv4", "tcp")
	exchange(7, testtraffic.SendTCPSYN(t, a, a6, b6, 9, 7), "ipv6", "tcp")
	// ICMP echo both ways: requests and replies of the same size.
	exchange(17, testtraffic.SendEcho(t, b, b4, a4, 17, 56), "ipv4", "icmp")
	exchange(5, testtraffic.SendEcho(t, a, a4, b4, 5, 1000), "ipv4", "icmp")
	exchange(3, testtraffic.SendEcho(t, b, b6, a6, 3, 64), "ipv6", "icmpv6")

	var got traffic
	var body string
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, body = exp.scrape(t, pair.NameA)
		if fmt.Sprint(got) == fmt.Sprint(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	testenv.CompareMaps(t, "series", got, want)

	// The interface's own counters saw the same frames.
	after := testenv.LinkStatsOf(t, a, pair.NameA)
	var sum [2]struct{ packets, bytes uint64 }
	for s, v := range got {
		d := 0
		if s.direction == "transmit" {
			d = 1
		}
		sum[d].packets += v.packets
		sum[d].bytes += v.bytes
	}
	rxp := after.RxPackets - before.RxPackets
	rxb := after.RxBytes - before.RxBytes + rxp*(testtraffic.EthernetHeader-kernelRxHeaderBytes)
	if rxp != sum[0].packets || rxb != sum[0].bytes {
		t.Errorf("kernel rx %d packets %d bytes (with Ethernet headers), exporter %d packets %d bytes", rxp, rxb, sum[0].packets, sum[0].bytes)
	}
	if txp, txb := after.TxPackets-before.TxPackets, after.TxBytes-before.TxBytes; txp != sum[1].packets || txb != sum[1].bytes {
		t.Errorf("kernel tx %d packets %d bytes, exporter %d packets %d bytes", txp, txb, sum[1].packets, sum[1].bytes)
	}
	for _, line := range []string{
		fmt.Sprintf(`packet_exporter_interface_attached{%s,network_interface_name=%q,network_io_direction="receive"`, attachedRx, pair.NameA),
		fmt.Sprintf(`packet_exporter_interface_attached{%s,network_interface_name=%q,network_io_direction="transmit"`, attachedTx, pair.NameA),
		`packet_exporter_kernel_count_errors_total{error_type="no_counter"`,
		`packet_exporter_kernel_count_errors_total{error_type="unmapped_interface"`,
	} {
		if !strings.Contains(body, line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}

	// After Close nothing of the exporter stays attached.
	if err := exp.recv.Close(); err != nil {
		t.Fatal(err)
	}
	testenv.AssertNothingAttached(t, a, pair.NameA)
}
