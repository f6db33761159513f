package harness

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

// CollectorPort is the port the test collector's OTLP/gRPC receiver listens on,
// on the loopback address of its namespace (each test has its own namespace,
// so they never collide).
const CollectorPort = 4317

// Collector is the collector (Otelcol) in a test namespace: OTLP/gRPC
// receiver -> batch processor -> jsonfile + debug exporters, without internal
// metrics.
type Collector struct {
	// Endpoint is the receiver's host:port inside the namespace.
	Endpoint string
	// Output is the file of received batches, one OTLP JSON line each.
	Output string
	// Config is the path of the collector's configuration file.
	Config string

	tb   testing.TB
	ns   *testenv.Netns
	bin  string
	proc *testexporter.Process
	runs int
}

// NewCollector writes the configuration of a collector in ns; Start runs it.
func NewCollector(tb testing.TB, ns *testenv.Netns, bin string) *Collector {
	tb.Helper()
	dir := tb.TempDir()
	c := &Collector{
		Endpoint: fmt.Sprintf("127.0.0.1:%d", CollectorPort),
		Output:   filepath.Join(dir, "received.jsonl"),
		Config:   filepath.Join(dir, "collector.yaml"),
		tb:       tb,
		ns:       ns,
		bin:      bin,
	}
	cfg := fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %q
processors:
  batch:
    timeout: 100ms
exporters:
  jsonfile:
    path: %q
  debug:
    verbosity: basic
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [jsonfile, debug]
  telemetry:
    metrics:
      level: none
`, c.Endpoint, c.Output)
	if err := os.WriteFile(c.Config, []byte(cfg), 0o644); err != nil {
		tb.Fatal(err)
	}
	return c
}

// Start runs the collector and waits until its receiver accepts connections.
// A stopped collector can be started again: it listens on the same endpoint
// and appends to the same output file.
func (c *Collector) Start() {
	c.tb.Helper()
	if c.proc != nil && !c.proc.Exited() {
		c.tb.Fatalf("collector in %s is already running", c.ns.Name)
	}
	c.runs++
	c.proc = testexporter.Start(c.tb, testexporter.Options{Name: fmt.Sprintf("collector (run %d)", c.runs), Netns: c.ns},
		c.bin, "--config", c.Config)
	c.proc.WaitFor(c.tb, "the collector's OTLP receiver on "+c.Endpoint, 30*time.Second, func() (bool, string) {
		err := DialInNetns(c.ns, c.Endpoint)
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

// Stop ends the collector with SIGTERM (it flushes its batches and closes its
// listener) and fails the test unless it exits 0 within 15 s.
func (c *Collector) Stop() {
	c.tb.Helper()
	if c.proc == nil || c.proc.Exited() {
		c.tb.Fatalf("collector in %s is not running", c.ns.Name)
	}
	if _, code := c.proc.Stop(15 * time.Second); code != 0 {
		c.tb.Fatalf("collector exited with %d after SIGTERM:\n%s", code, c.proc.Output())
	}
}

// Received reads back everything the collector's jsonfile exporter wrote so far.
func (c *Collector) Received() *Received {
	c.tb.Helper()
	r, err := ReadReceived(c.Output)
	if err != nil {
		c.tb.Fatalf("read collector output: %v", err)
	}
	return r
}

// DialInNetns opens (and closes) a TCP connection to address from inside ns.
func DialInNetns(ns *testenv.Netns, address string) error {
	return ns.Do(func() error {
		conn, err := net.DialTimeout("tcp", address, time.Second)
		if err != nil {
			return err
		}
		return conn.Close()
	})
}

// Blackhole listens on address inside ns and accepts every connection but
// never answers: it reads and discards what the peer sends. It stops at the
// end of the test.
func Blackhole(tb testing.TB, ns *testenv.Netns, address string) {
	tb.Helper()
	var ln net.Listener
	if err := ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", address)
		return err
	}); err != nil {
		tb.Fatalf("listen on %s in %s: %v", address, ns.Name, err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			go func() {
				buf := make([]byte, 4096)
				for {
					if _, err := conn.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, conn := range conns {
			conn.Close()
		}
	})
}
