package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/packet-exporter/packet-exporter/internal/testenv"
)

// TestMain runs the tests, or, when the test binary is started as the
// seccomp wrapper of the fault tests (see faults_test.go), becomes that.
func TestMain(m *testing.M) {
	if os.Getenv(envLookupGateWrapper) != "" {
		lookupGateWrapperMain() // never returns
	}
	code := m.Run()
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

var (
	sharedOnce sync.Once
	sharedDir  string // world-readable, removed by TestMain
	sharedBin  string
	sharedErr  error
)

// exporterBinary builds packet-exporter once for the whole test binary
// (CGO_ENABLED=0, as make build does) into a directory that every user can
// read, so that it also runs as nobody.
func exporterBinary(t *testing.T) string {
	t.Helper()
	sharedOnce.Do(func() {
		if sharedDir, sharedErr = os.MkdirTemp("", "packet-exporter-test-"); sharedErr != nil {
			return
		}
		if sharedErr = os.Chmod(sharedDir, 0o755); sharedErr != nil {
			return
		}
		sharedBin = filepath.Join(sharedDir, "packet-exporter")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version=test-binary", "-o", sharedBin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			sharedErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedBin
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

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// listenAddress is where the exporters of these tests listen, each in its
// own network namespace.
const listenAddress = "127.0.0.1:9743"

// exporter is a packet-exporter process running in a test namespace.
type exporter struct {
	t      *testing.T
	ns     *testenv.Netns
	cmd    *exec.Cmd
	log    *syncBuffer
	done   chan struct{}
	err    error // of Wait, valid after done
	client *http.Client
	base   string
}

// startExporter runs argv (the binary and its arguments, possibly behind a
// wrapper such as setpriv) with `ip netns exec` in ns. wrap, if not nil,
// changes the command before it starts. The process is killed at the end of
// the test, and its log shown if the test failed.
func startExporter(t *testing.T, ns *testenv.Netns, argv []string, wrap func(*exec.Cmd)) *exporter {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name}, argv...)...)
	e := &exporter{t: t, ns: ns, cmd: cmd, log: &syncBuffer{}, done: make(chan struct{}),
		client: ns.HTTPClient(), base: "http://" + listenAddress}
	cmd.Stdout, cmd.Stderr = e.log, e.log
	if wrap != nil {
		wrap(cmd)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { e.err = cmd.Wait(); close(e.done) }()
	t.Cleanup(func() {
		if !e.exited() {
			cmd.Process.Kill()
			<-e.done
		}
		if t.Failed() {
			t.Logf("packet-exporter log:\n%s", tail(e.log.String(), 20000))
		}
	})
	return e
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func (e *exporter) exited() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// pid is the exporter's process ID: ip netns exec and setpriv exec it.
func (e *exporter) pid() int { return e.cmd.Process.Pid }

// wait waits up to timeout for the process to exit and returns its exit
// code, or -1 if it is still running.
func (e *exporter) wait(timeout time.Duration) int {
	select {
	case <-e.done:
	case <-time.After(timeout):
		return -1
	}
	var exit *exec.ExitError
	if errors.As(e.err, &exit) {
		return exit.ExitCode()
	}
	if e.err != nil {
		return -2
	}
	return 0
}

// stop sends SIGTERM and expects exit status 0 within 15 s.
func (e *exporter) stop() {
	e.t.Helper()
	if e.exited() {
		e.t.Errorf("packet-exporter exited early: %v", e.err)
		return
	}
	e.cmd.Process.Signal(syscall.SIGTERM)
	if code := e.wait(15 * time.Second); code != 0 {
		e.t.Errorf("packet-exporter exit code %d after SIGTERM, want 0", code)
	}
}

// get requests path and returns the status and body.
func (e *exporter) get(path string) (int, string, error) {
	resp, err := e.client.Get(e.base + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// waitReady waits until /readyz answers 200.
func (e *exporter) waitReady() {
	e.t.Helper()
	var last string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if e.exited() {
			e.t.Fatalf("packet-exporter exited before it was ready: %v", e.err)
		}
		code, body, err := e.get("/readyz")
		if err == nil && code == 200 {
			return
		}
		last = fmt.Sprintf("%d %q %v", code, body, err)
	}
	e.t.Fatalf("packet-exporter not ready after 20s: %s", last)
}

// scrape returns the parsed /metrics, failing the test on any error.
func (e *exporter) scrape() metrics {
	e.t.Helper()
	code, body, err := e.get("/metrics")
	if err != nil || code != 200 {
		e.t.Fatalf("GET /metrics: %d %v\n%s", code, err, body)
	}
	return parseMetrics(e.t, body)
}

// waitFor scrapes until cond holds, for up to timeout, and returns the last
// scrape.
func (e *exporter) waitFor(what string, timeout time.Duration, cond func(metrics) bool) metrics {
	e.t.Helper()
	var m metrics
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		m = e.scrape()
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// metrics is a parsed Prometheus exposition.
type metrics map[string]*dto.MetricFamily

func parseMetrics(t *testing.T, body string) metrics {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, tail(body, 4000))
	}
	return families
}

// sum adds up the samples of name whose labels include match, and says how
// many there were.
func (m metrics) sum(name string, match map[string]string) (float64, int) {
	mf, ok := m[name]
	if !ok {
		return 0, 0
	}
	var total float64
	n := 0
	for _, metric := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range metric.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		matches := true
		for k, v := range match {
			if labels[k] != v {
				matches = false
				break
			}
		}
		if !matches {
			continue
		}
		n++
		switch {
		case metric.Counter != nil:
			total += metric.GetCounter().GetValue()
		case metric.Gauge != nil:
			total += metric.GetGauge().GetValue()
		case metric.Untyped != nil:
			total += metric.GetUntyped().GetValue()
		}
	}
	return total, n
}

// series counts the samples of every family.
func (m metrics) series() int {
	n := 0
	for _, mf := range m {
		n += len(mf.GetMetric())
	}
	return n
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

// procStatus returns the fields of /proc/PID[/task/TID]/status.
func procStatus(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	fields := map[string]string{}
	for line := range strings.SplitSeq(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	return fields, nil
}

// rssBytes returns the resident set size of process pid.
func rssBytes(pid int) (int64, error) {
	fields, err := procStatus(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	kb, err := strconv.ParseInt(strings.TrimSuffix(fields["VmRSS"], " kB"), 10, 64)
	return kb << 10, err
}

// openFiles returns the number of open file descriptors of process pid.
func openFiles(pid int) (int, error) {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(entries), err
}
