package main

// The tests of this file run the real binary (built once, see harness_test.go)
// in test namespaces.

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/testing/testcert"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// TestBinaryServesAndDetaches runs the real binary in a test namespace: it
// attaches, serves a landing page and a /metrics that promtool accepts and
// that counts the traffic sent, and leaves nothing attached after it exits,
// whether it is asked to (SIGTERM, with exit status 0) or killed (SIGKILL: the
// kernel drops the links with their file descriptors; legacy tc filters, on
// kernels without tcx, stay until the next start).
func TestBinaryServesAndDetaches(t *testing.T) {
	testenv.RequireRoot(t)
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		testenv.Skip(t, "promtool not installed (Debian package prometheus): %v", err)
	}
	bin := exporterBinary(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) { testBinaryServesAndDetaches(t, bin, promtool, sig) })
	}
}

func testBinaryServesAndDetaches(t *testing.T, bin, promtool string, sig syscall.Signal) {
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Queues: 2, DisableOffloads: true, Quiet: true})
	cfgPath := writeFile(t, "config.yaml", fmt.Sprintf(`
interfaces:
  include: [%q]
log:
  level: debug
prometheus:
  listen_address: "127.0.0.1:9743"
`, pair.NameA))

	e := startExporter(t, a, []string{bin, "--config", cfgPath}, nil)
	get := func(path string) string {
		t.Helper()
		var lastErr error
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			code, body, err := e.Get(path)
			if err == nil && code == 200 {
				return body
			}
			lastErr = fmt.Errorf("status %d: %v", code, err)
		}
		t.Fatalf("GET %s: %v", path, lastErr)
		return ""
	}

	if landing := get("/"); !strings.Contains(landing, `href="/metrics"`) {
		t.Errorf("landing page lacks a link to /metrics:\n%s", landing)
	}
	if body := get("/healthz"); body != "ok\n" {
		t.Errorf("/healthz: %q", body)
	}
	if body := get("/readyz"); body != "ready\n" {
		t.Errorf("/readyz: %q", body)
	}

	// A second instance in the same network namespace fails fast and clearly.
	second := exec.Command("ip", "netns", "exec", a.Name, bin, "--config",
		writeFile(t, "second.yaml", "prometheus:\n  listen_address: \"127.0.0.1:9744\"\n"))
	secondDone := make(chan struct{})
	var secondOut []byte
	var secondErr error
	go func() { secondOut, secondErr = second.CombinedOutput(); close(secondDone) }()
	select {
	case <-secondDone:
		var exit *exec.ExitError
		if !errors.As(secondErr, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(secondOut), "already running") {
			t.Errorf("second instance: %v\n%s", secondErr, secondOut)
		}
	case <-time.After(10 * time.Second):
		second.Process.Kill()
		t.Error("second instance still running after 10s")
	}
	sink := testtraffic.ListenUDP(t, a, pair.IPv4A.Addr())
	const datagrams = 42
	size := testtraffic.SendUDP(t, b, pair.IPv4B.Addr(), netip.AddrPortFrom(pair.IPv4A.Addr(), sink.Addr.Port()), datagrams, 64)

	wantPackets := regexp.MustCompile(fmt.Sprintf(`packet_exporter_network_packets_total\{network_interface_name=%q,network_io_direction="receive",network_transport="udp",network_type="ipv4"\} %d\n`, pair.NameA, datagrams))
	wantBytes := regexp.MustCompile(fmt.Sprintf(`packet_exporter_network_io_bytes_total\{network_interface_name=%q,network_io_direction="receive",network_transport="udp",network_type="ipv4"\} %d\n`, pair.NameA, datagrams*size))
	var metrics string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if metrics = get("/metrics"); wantPackets.MatchString(metrics) {
			break
		}
	}
	for _, re := range []*regexp.Regexp{wantPackets, wantBytes,
		regexp.MustCompile(`packet_exporter_build_info\{[^}]*version="test-binary"[^}]*\} 1\n`)} {
		if !re.MatchString(metrics) {
			t.Errorf("/metrics does not match %s", re)
		}
	}
	for _, m := range metricdef.Library {
		if !m.OTLP && !strings.Contains(metrics, "\n# TYPE "+m.Name+" ") {
			t.Errorf("/metrics has no %s (process and runtime metrics)", m.Name)
		}
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(metrics)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	checkOpenMetrics(t, e, pair.NameA, datagrams)
	if t.Failed() {
		t.Logf("/metrics:\n%s", metrics)
	}

	if err := e.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if exited, _ := e.Wait(15 * time.Second); !exited {
		t.Fatalf("no exit within 15s of %s", sig)
	}
	if sig == syscall.SIGTERM && e.Err() != nil {
		t.Errorf("exit after %s: %v", sig, e.Err())
	}
	if sig == syscall.SIGKILL && strings.Contains(metrics, `hook="tc"`) {
		// Legacy tc (a kernel without tcx): filters are not tied to the
		// process, and stay until the next start replaces them
		// (TestLegacyTCAfterKill).
		if left := exporterFilters(t, a, pair.IndexA); len(left) != 2 {
			t.Errorf("legacy tc filters after SIGKILL: %v, want one per direction", left)
		}
		return
	}
	testenv.AssertNothingAttached(t, a, pair.NameA)
}

// TestEndpointSecurity runs the real binary with a web configuration (TLS
// and basic authentication) and pprof on: every endpoint, probes and pprof
// included, answers only over TLS and with the right credentials. Without
// debug.pprof, /debug/pprof/ does not exist.
func TestEndpointSecurity(t *testing.T) {
	testenv.RequireRoot(t)
	bin := exporterBinary(t)
	files := testcert.Write(t, t.TempDir())
	web := files.WriteWebConfig(t, "web.yml", testcert.WebConfig{TLS: true, Users: map[string]string{"prometheus": "s3cret"}})

	for _, pprof := range []bool{true, false} {
		t.Run(fmt.Sprintf("pprof %v", pprof), func(t *testing.T) {
			a := testenv.NewNetns(t)
			cfg := writeFile(t, "config.yaml", fmt.Sprintf("prometheus:\n  listen_address: %q\n  web_config_file: %q\ndebug:\n  pprof: %v\n",
				listenAddress, web, pprof))
			e := startExporter(t, a, []string{bin, "--config", cfg}, nil)
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				DialContext: a.DialContext, TLSClientConfig: &tls.Config{RootCAs: files.Pool, ServerName: "127.0.0.1"}}}
			request := func(scheme, path, user, password string) (int, error) {
				return testcert.Status(t, client, scheme+"://"+listenAddress+path, user, password)
			}
			e.WaitFor(t, "readiness over https", readyTimeout, func() (bool, string) {
				code, err := request("https", "/readyz", "prometheus", "s3cret")
				return code == 200, fmt.Sprintf("/readyz: %d %v", code, err)
			})
			pprofCode := 404
			if pprof {
				pprofCode = 200
			}
			for _, path := range []string{"/", "/metrics", "/healthz", "/readyz", "/debug/pprof/"} {
				if code, err := request("https", path, "", ""); err != nil || code != 401 {
					t.Errorf("https %s without credentials: %d %v, want 401", path, code, err)
				}
				if code, err := request("https", path, "prometheus", "wrong"); err != nil || code != 401 {
					t.Errorf("https %s with a wrong password: %d %v, want 401", path, code, err)
				}
				want := 200
				if path == "/debug/pprof/" {
					want = pprofCode
				}
				if code, err := request("https", path, "prometheus", "s3cret"); err != nil || code != want {
					t.Errorf("https %s with credentials: %d %v, want %d", path, code, err, want)
				}
				if code, err := request("http", path, "prometheus", "s3cret"); err == nil && code == 200 {
					t.Errorf("plain http %s answered 200", path)
				}
			}
			stopExporter(t, e)
		})
	}
}

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

// prometheusAccept is the Accept header of Prometheus' scrapes (2.x), which
// prefers OpenMetrics.
const prometheusAccept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75," +
	"text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

// checkOpenMetrics checks that /metrics answers a scraper that asks for
// OpenMetrics in OpenMetrics, with the counters of the text format (iface
// received datagrams UDP frames), and a scraper that asks for nothing in
// text. (Debian's promtool lints only the text format; a real Prometheus
// scrapes OpenMetrics in deploy's TestPrometheusDashboardQueries.)
func checkOpenMetrics(t *testing.T, e *testexporter.Exporter, iface string, datagrams int) {
	t.Helper()
	for _, tc := range []struct {
		accept, contentType string
	}{
		{prometheusAccept, "application/openmetrics-text; version=1.0.0"},
		{"", "text/plain; version=0.0.4"},
	} {
		req, err := http.NewRequest(http.MethodGet, e.URL+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		resp, err := e.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, tc.contentType) {
			t.Errorf("Accept %q: Content-Type %q, want %q", tc.accept, got, tc.contentType)
		}
		if openMetrics := strings.HasPrefix(tc.contentType, "application/openmetrics-text"); strings.HasSuffix(string(body), "# EOF\n") != openMetrics {
			t.Errorf("Accept %q: the body ends in %q, want # EOF only in OpenMetrics", tc.accept, body[max(0, len(body)-20):])
		}
		series := fmt.Sprintf(`packet_exporter_network_packets_total{network_interface_name=%q,network_io_direction="receive",network_transport="udp",network_type="ipv4"} `, iface)
		if !regexp.MustCompile(regexp.QuoteMeta(series) + fmt.Sprintf(`%d(\.0)?\n`, datagrams)).Match(body) {
			t.Errorf("Accept %q: no %s%d in:\n%s", tc.accept, series, datagrams, body)
		}
	}
}
