package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
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
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(metrics)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
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
