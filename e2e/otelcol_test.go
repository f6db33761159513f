package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/packet-exporter/packet-exporter/e2e/internal/harness"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/testing/otelcolbuild"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

// The collector distribution's shipped files, relative to the repository root.
const (
	distConfig    = "deploy/otelcol/config.yaml"
	distDaemonSet = "deploy/otelcol/daemonset.yaml"
)

// distribution returns the collector the tests run, built with ocb from the
// shipped manifest plus the jsonfile exporter (harness.Otelcol), and logs
// how it was had. It skips the test without root (fails it under CI=true).
func distribution(t *testing.T) otelcolbuild.Distribution {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "ip")
	d, err := harness.Otelcol.Build()
	if err != nil {
		t.Fatal(err)
	}
	logDistribution(d)
	return d
}

// distributionLogged makes logDistribution log once per test binary.
var distributionLogged sync.Once

// logDistribution logs, once, how the collector was had and how long it took.
func logDistribution(d otelcolbuild.Distribution) {
	distributionLogged.Do(func() {
		fmt.Fprintf(os.Stderr, "e2e: collector distribution %s %s in %v\n", d.Key, d.How(), d.Took.Round(100*time.Millisecond))
	})
}

// repoFile reads a file of the repository.
func repoFile(t *testing.T, rel string) []byte {
	t.Helper()
	root, err := testexporter.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// daemonSetCollectorConfig returns the collector configuration held by the
// ConfigMap of the shipped DaemonSet example (key config.yaml).
func daemonSetCollectorConfig(t *testing.T) []byte {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(repoFile(t, distDaemonSet)))
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", distDaemonSet, err)
		}
		if cfg, ok := doc.Data["config.yaml"]; ok && doc.Kind == "ConfigMap" {
			return []byte(cfg)
		}
	}
	t.Fatalf("%s: no ConfigMap with a config.yaml", distDaemonSet)
	return nil
}

// TestDistributionValidatesShippedConfigs: the collector built from the
// shipped manifest accepts the shipped configuration and the one in the
// DaemonSet example's ConfigMap (`validate`: every component's settings
// decoded and checked, nothing started).
func TestDistributionValidatesShippedConfigs(t *testing.T) {
	d := distribution(t)
	for name, cfg := range map[string][]byte{distConfig: repoFile(t, distConfig), distDaemonSet: daemonSetCollectorConfig(t)} {
		path := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, cfg, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(d.Binary, "validate", "--config", path)
		cmd.Env = testexporter.Environ()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: validate: %v\n%s", name, err, out)
		}
	}
}

// distributionTestConfig is the shipped collector configuration with what a
// test in a namespace changes: the receiver counts only iface and collects
// every second, the Prometheus exporter listens on the namespace's loopback
// address (same port), and the pipeline also feeds the jsonfile exporter,
// writing to output. It returns the configuration and the Prometheus
// exporter's address.
func distributionTestConfig(t *testing.T, iface, output string) ([]byte, string) {
	t.Helper()
	var cfg map[string]any
	if err := yaml.Unmarshal(repoFile(t, distConfig), &cfg); err != nil {
		t.Fatal(err)
	}
	section := func(m map[string]any, keys ...string) map[string]any {
		for _, k := range keys {
			next, ok := m[k].(map[string]any)
			if !ok {
				t.Fatalf("%s: no mapping at %v", distConfig, keys)
			}
			m = next
		}
		return m
	}
	recv := section(cfg, "receivers", "packetexporter")
	recv["collection_interval"] = interval.String()
	section(recv, "interfaces")["include"] = []string{iface}

	prom := section(cfg, "exporters", "prometheus")
	_, port, err := net.SplitHostPort(fmt.Sprint(prom["endpoint"]))
	if err != nil {
		t.Fatalf("%s: exporters.prometheus.endpoint: %v", distConfig, err)
	}
	promAddr := net.JoinHostPort("127.0.0.1", port)
	prom["endpoint"] = promAddr

	section(cfg, "exporters")["jsonfile"] = map[string]any{"path": output}
	pipeline := section(cfg, "service", "pipelines", "metrics")
	exporters, ok := pipeline["exporters"].([]any)
	if !ok {
		t.Fatalf("%s: service.pipelines.metrics.exporters is not a list", distConfig)
	}
	pipeline["exporters"] = append(exporters, "jsonfile")

	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b, promAddr
}

// TestDistributionCountsTraffic runs the collector built from the shipped
// manifest, with the shipped configuration (see distributionTestConfig), in
// one namespace of a quiet veth pair, counting that end; UDP of known sizes
// crosses the pair both ways over IPv4 and IPv6. The latest cumulative
// points of packet_exporter.network.packets and .io equal the traffic
// exactly, series by series, with no other series, in the README's units;
// the collector's Prometheus endpoint shows the same under the agent's
// names; on SIGTERM the collector exits 0 and nothing stays attached.
func TestDistributionCountsTraffic(t *testing.T) {
	d := distribution(t)
	e := newPairEnv(t)
	dir := t.TempDir()
	output := filepath.Join(dir, "received.jsonl")
	cfg, promAddr := distributionTestConfig(t, e.pair.NameA, output)
	cfgPath := filepath.Join(dir, "collector.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	col := testexporter.Start(t, testexporter.Options{Name: "otelcol-packet-exporter", Netns: e.a, StopTimeout: 15 * time.Second},
		d.Binary, "--config", cfgPath)
	received := func() *harness.Received {
		r, err := harness.ReadReceived(output)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	// Counting starts once both hooks of the interface are attached.
	col.WaitFor(t, "the receiver to report "+e.pair.NameA+" attached", 30*time.Second, func() (bool, string) {
		latest := harness.Latest(received().Of(metricdef.InterfaceAttached.Name, map[string]string{string(metricdef.NetworkInterfaceName): e.pair.NameA}))
		attached := map[string]float64{}
		for _, p := range latest {
			attached[p.Attrs[string(metricdef.NetworkIODirection)]] += p.Double
		}
		if attached["receive"] != 1 || attached["transmit"] != 1 {
			return false, fmt.Sprintf("attached per direction: %v", attached)
		}
		return true, ""
	})

	e.sendMixed(1)
	want := e.sent.clone()
	var r *harness.Received
	col.WaitFor(t, "the collector to emit the traffic sent", 30*time.Second, func() (bool, string) {
		r = received()
		got, err := e.otlpTraffic(r, "Cumulative")
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, want) {
			return false, fmt.Sprintf("emitted %v, want %v (%d lines)", got, want, r.Lines)
		}
		return true, ""
	})
	checkCumulativeStarts(t, r)
	for _, def := range []metricdef.Definition{metricdef.NetworkPackets, metricdef.NetworkIO} {
		for _, p := range r.Of(def.Name, nil) {
			if p.Unit != def.Unit || p.Scope != metricdef.ScopeName {
				t.Errorf("%s: unit %q scope %q, want %q and %q", def.Name, p.Unit, p.Scope, def.Unit, metricdef.ScopeName)
				break
			}
		}
	}

	// The collector's Prometheus exporter: the agent's metric names.
	client := e.a.HTTPClient()
	col.WaitFor(t, "the collector's Prometheus endpoint to show the traffic sent", 15*time.Second, func() (bool, string) {
		s, _, err := testexporter.Scrape(client, "http://"+promAddr+"/metrics")
		if err != nil {
			return false, err.Error()
		}
		if got := e.promTraffic(s); !maps.Equal(got, want) {
			return false, fmt.Sprintf("%s/metrics has %v, want %v", promAddr, got, want)
		}
		return true, ""
	})

	if exited, code := col.Stop(15 * time.Second); !exited || code != 0 {
		t.Errorf("collector: exited %v with %d after SIGTERM, want 0", exited, code)
	}
	testenv.AssertNothingAttached(t, e.a, e.pair.NameA)
}
