package bench

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

func TestMain(m *testing.M) {
	os.Exit(testexporter.Run(m))
}

// exporterBinary is packet-exporter built once per run, the way the Makefile
// builds it (static, stripped, trimmed).
func exporterBinary(tb testing.TB) string {
	tb.Helper()
	return testexporter.Binary(tb)
}

// exporterProcess is the real packet-exporter binary running in a test
// namespace.
type exporterProcess struct {
	*testexporter.Exporter
}

// exporterPort is where the exporter listens, on the loopback of its own
// namespace (every benchmark namespace is new, so the port is free).
const exporterPort = 9743

// startExporter runs bin in ns with a configuration whose interfaces section
// includes the patterns of include (YAML flow items), followed by the YAML
// sections of extra, and returns at once (not waiting for readiness).
func startExporter(tb testing.TB, ns *testenv.Netns, bin, include string, extra ...string) *exporterProcess {
	tb.Helper()
	cfg := filepath.Join(tb.TempDir(), "config.yaml")
	body := fmt.Sprintf("interfaces:\n  include: [%s]\nlog:\n  level: warn\nprometheus:\n  listen_address: \"127.0.0.1:%d\"\n", include, exporterPort)
	body += strings.Join(extra, "")
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		tb.Fatal(err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", exporterPort)
	return &exporterProcess{testexporter.StartExporter(tb, testexporter.Options{Netns: ns}, listen, bin, "--config", cfg)}
}

// waitReady polls /healthz every millisecond until it answers 200 (the
// process serves), then /readyz until it answers 200 (every selected
// interface is counted), and returns both times from the process start.
func (p *exporterProcess) waitReady(tb testing.TB, timeout time.Duration) (ready, serving time.Duration) {
	tb.Helper()
	for _, probe := range []struct {
		path string
		at   *time.Duration
	}{{"/healthz", &serving}, {"/readyz", &ready}} {
		testexporter.Poll(tb, "the exporter's "+probe.path+" to answer 200", time.Until(p.Started().Add(timeout)), time.Millisecond, func() (bool, string) {
			if p.Exited() {
				tb.Fatalf("exporter exited before it was ready: %v\n%s", p.Err(), p.Output())
			}
			code, _, err := p.Get(probe.path)
			if err == nil && code == http.StatusOK {
				*probe.at = time.Since(p.Started())
				return true, ""
			}
			return false, fmt.Sprintf("%d %v", code, err)
		})
	}
	return ready, serving
}

// waitDropsCounted waits until the exporter's drop counter, which starts
// beside the interfaces and after readiness at times, counts (its kernel
// feature drop_reasons is 1): from then on the descriptors it holds are
// part of the process's baseline.
func (p *exporterProcess) waitDropsCounted(tb testing.TB) {
	tb.Helper()
	testexporter.Poll(tb, "the exporter's drop counter to start", 30*time.Second, 10*time.Millisecond, func() (bool, string) {
		body, err := testexporter.Get(p.Client, p.URL+"/metrics")
		if err == nil && bytes.Contains(body, []byte(`packet_exporter_kernel_features{feature="drop_reasons"} 1`)) {
			return true, ""
		}
		return false, fmt.Sprintf("drop_reasons not 1 (%v)", err)
	})
}

// stop sends SIGTERM and waits for a clean exit; it returns how long that took.
func (p *exporterProcess) stop(tb testing.TB) time.Duration {
	tb.Helper()
	start := time.Now()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		tb.Fatal(err)
	}
	exited, _ := p.Wait(30 * time.Second)
	took := time.Since(start)
	if !exited {
		tb.Fatalf("exporter did not exit 30 s after SIGTERM\n%s", p.Output())
	}
	if err := p.Err(); err != nil {
		tb.Errorf("exporter exited with %v\n%s", err, p.Output())
	}
	return took
}

// cpuTime returns the CPU time the process has used so far: the sum over
// its threads of the time each spent on a CPU (/proc/PID/task/*/schedstat,
// in nanoseconds; user and system time alike). Go's threads live as long as
// the process, so nothing is lost to exited threads.
func (p *exporterProcess) cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", p.Pid()))
	if err != nil || len(tasks) == 0 {
		tb.Fatalf("no threads of process %d: %v", p.Pid(), err)
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread just exited
		}
		fields := strings.Fields(string(b))
		ns, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			tb.Fatalf("parse %s: %q", t, b)
		}
		total += time.Duration(ns)
	}
	return total
}

// memory returns the process's peak and current resident set size in bytes
// (VmHWM and VmRSS of /proc/PID/status).
func (p *exporterProcess) memory(tb testing.TB) (peak, current uint64) {
	tb.Helper()
	peak, current, err := testexporter.Memory(p.Pid())
	if err != nil {
		tb.Fatal(err)
	}
	return peak, current
}

// checkIsExporter makes sure the PID is the exporter itself, not a wrapper.
func (p *exporterProcess) checkIsExporter(tb testing.TB) {
	tb.Helper()
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.Pid()))
	if err != nil {
		tb.Fatal(err)
	}
	if got := strings.TrimSpace(string(comm)); got != "packet-exporte" && got != "packet-exporter" {
		tb.Fatalf("process %d is %q, not the exporter", p.Pid(), got)
	}
}
