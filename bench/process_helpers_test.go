package bench

import (
	"bytes"
	"fmt"
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

	"github.com/packet-exporter/packet-exporter/internal/testenv"
)

// binaryDir holds the exporter binary built for this run; TestMain removes it.
var (
	binaryOnce sync.Once
	binaryDir  string
	binaryPath string
	binaryErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binaryDir != "" {
		os.RemoveAll(binaryDir)
	}
	os.Exit(code)
}

// exporterBinary builds packet-exporter once per run, the way the Makefile
// does (static, trimmed), and returns its path.
func exporterBinary(tb testing.TB) string {
	tb.Helper()
	binaryOnce.Do(func() {
		binaryDir, binaryErr = os.MkdirTemp("", "pe-bench-")
		if binaryErr != nil {
			return
		}
		binaryPath = filepath.Join(binaryDir, "packet-exporter")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=bench", "-o", binaryPath, "./cmd/packet-exporter")
		cmd.Dir = ".." // the module root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		tb.Fatal(binaryErr)
	}
	return binaryPath
}

// exporterProcess is the real packet-exporter binary running in a test
// namespace.
type exporterProcess struct {
	cmd     *exec.Cmd
	stderr  bytes.Buffer
	exited  chan error
	started time.Time
	base    string // http://127.0.0.1:9743
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
	p := &exporterProcess{exited: make(chan error, 1), base: fmt.Sprintf("http://127.0.0.1:%d", exporterPort)}
	// ip netns exec switches namespace and execs the binary: same process.
	p.cmd = exec.Command("ip", "netns", "exec", ns.Name, bin, "--config", cfg)
	p.cmd.Stderr = &p.stderr
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	tb.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// waitReady polls /healthz every millisecond until it answers 200 (the
// process serves), then /readyz until it answers 200 (every selected
// interface is counted), and returns both times from the process start.
func (p *exporterProcess) waitReady(tb testing.TB, ns *testenv.Netns, timeout time.Duration) (ready, serving time.Duration) {
	tb.Helper()
	client := ns.HTTPClient()
	client.Timeout = timeout
	deadline := p.started.Add(timeout)
	for _, probe := range []struct {
		path string
		at   *time.Duration
	}{{"/healthz", &serving}, {"/readyz", &ready}} {
		for *probe.at == 0 {
			select {
			case err := <-p.exited:
				p.exited <- err
				tb.Fatalf("exporter exited before it was ready: %v\n%s", err, p.stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				tb.Fatalf("exporter: %s not 200 after %v\n%s", probe.path, timeout, p.stderr.String())
			}
			resp, err := client.Get(p.base + probe.path)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					*probe.at = time.Since(p.started)
					break
				}
			}
			time.Sleep(time.Millisecond)
		}
	}
	return ready, serving
}

// waitDropsCounted waits until the exporter's drop counter, which starts
// beside the interfaces and after readiness at times, counts (its kernel
// feature drop_reasons is 1): from then on the descriptors it holds are
// part of the process's baseline.
func (p *exporterProcess) waitDropsCounted(tb testing.TB, ns *testenv.Netns) {
	tb.Helper()
	client := ns.HTTPClient()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		body, err := getOK(client, p.base+"/metrics")
		if err == nil && bytes.Contains(body, []byte(`packet_exporter_kernel_features{feature="drop_reasons"} 1`)) {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the exporter's drop counter did not start within 30 s: %v\n%s", err, p.stderr.String())
		}
	}
}

// stop sends SIGTERM and waits for a clean exit; it returns how long that took.
func (p *exporterProcess) stop(tb testing.TB) time.Duration {
	tb.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		tb.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			tb.Errorf("exporter exited with %v\n%s", err, p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		tb.Fatalf("exporter did not exit 30 s after SIGTERM\n%s", p.stderr.String())
	}
	return time.Since(start)
}

// cpuTime returns the CPU time the process has used so far: the sum over
// its threads of the time each spent on a CPU (/proc/PID/task/*/schedstat,
// in nanoseconds; user and system time alike). Go's threads live as long as
// the process, so nothing is lost to exited threads.
func (p *exporterProcess) cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", p.cmd.Process.Pid))
	if err != nil || len(tasks) == 0 {
		tb.Fatalf("no threads of process %d: %v", p.cmd.Process.Pid, err)
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
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmHWM":
			peak = kb << 10
		case "VmRSS":
			current = kb << 10
		}
	}
	if peak == 0 {
		tb.Fatalf("no VmHWM in /proc/%d/status", p.cmd.Process.Pid)
	}
	return peak, current
}

// checkIsExporter makes sure the PID is the exporter itself, not a wrapper.
func (p *exporterProcess) checkIsExporter(tb testing.TB) {
	tb.Helper()
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.cmd.Process.Pid))
	if err != nil {
		tb.Fatal(err)
	}
	if got := strings.TrimSpace(string(comm)); got != "packet-exporte" && got != "packet-exporter" {
		tb.Fatalf("process %d is %q, not the exporter", p.cmd.Process.Pid, got)
	}
}
