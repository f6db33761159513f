package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// TestMain runs the tests, or, when the test binary is started as the
// seccomp wrapper of the fault tests (see faults_test.go), becomes that.
func TestMain(m *testing.M) {
	if os.Getenv(envLookupGateWrapper) != "" {
		lookupGateWrapperMain() // never returns
	}
	os.Exit(testexporter.Run(m))
}

// exporterBinary is packet-exporter as make build builds it, built once for
// the whole test binary into a directory that every user can read, so that it
// also runs as nobody.
func exporterBinary(t *testing.T) string {
	t.Helper()
	return testexporter.Binary(t)
}

// publicDir returns a fresh directory that every user can read, removed at
// the end of the test.
func publicDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "packet-exporter-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writePublic writes a file every user can read into dir.
func writePublic(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// listenAddress is where the exporters of these tests listen, each in its
// own network namespace.
const listenAddress = "127.0.0.1:9743"

// readyTimeout bounds the wait for an exporter's /readyz.
const readyTimeout = 20 * time.Second

// startExporter runs argv (the binary and its arguments, possibly behind a
// wrapper such as setpriv) with `ip netns exec` in ns, serving on
// listenAddress. wrap, if not nil, changes the command before it starts. The
// process is killed at the end of the test, and its log shown if the test
// failed.
func startExporter(t *testing.T, ns *testenv.Netns, argv []string, wrap func(*exec.Cmd)) *testexporter.Exporter {
	t.Helper()
	return testexporter.StartExporter(t, testexporter.Options{Netns: ns, Setup: wrap}, listenAddress, argv...)
}

// stopExporter sends SIGTERM and expects exit status 0 within 15 s.
func stopExporter(t *testing.T, e *testexporter.Exporter) {
	t.Helper()
	if e.Exited() {
		t.Errorf("packet-exporter exited early: %v", e.Err())
		return
	}
	if _, code := e.Stop(15 * time.Second); code != 0 {
		t.Errorf("packet-exporter exit code %d after SIGTERM, want 0", code)
	}
}

// Prometheus names of the metrics the tests read.
const (
	promPackets    = "packet_exporter_network_packets_total"
	promBytes      = "packet_exporter_network_io_bytes_total"
	promReadErrors = "packet_exporter_kernel_read_errors_total"
	promAttached   = "packet_exporter_interface_attached"
	promOTLP       = "packet_exporter_otlp_exports_total"
	promBuildInfo  = "packet_exporter_build_info"
)

// udpReceived is the label set of UDP over IPv4 received on iface.
func udpReceived(iface string) map[string]string {
	return map[string]string{"network_interface_name": iface, "network_io_direction": "receive",
		"network_type": "ipv4", "network_transport": "udp"}
}

// udpToA returns a function that sends n datagrams (60-byte payload) from
// pair's end in b to a UDP sink on its end in a.
func udpToA(t *testing.T, a, b *testenv.Netns, pair *testenv.VethPair) func(n int) {
	t.Helper()
	sink := testtraffic.ListenUDP(t, a, pair.IPv4A.Addr())
	return func(n int) {
		testtraffic.SendUDP(t, b, pair.IPv4B.Addr(), sink.Addr, n, 60)
	}
}

// waitUDP waits until e counts want UDP datagrams received on iface; what
// says what is waited for.
func waitUDP(t *testing.T, e *testexporter.Exporter, iface string, want float64, what string) {
	t.Helper()
	e.WaitMetrics(t, what, 10*time.Second, func(m testexporter.Metrics) bool {
		v, _ := m.Sum(promPackets, udpReceived(iface))
		return v == want
	})
}
