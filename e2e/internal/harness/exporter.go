package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

// MetricsAddress is where the exporter under test serves /metrics, on the
// loopback address of its namespace.
const MetricsAddress = "127.0.0.1:9743"

// ExporterConfig is the part of packet-exporter's configuration the tests set.
type ExporterConfig struct {
	// Interfaces are include patterns (exclude stays the default, lo),
	// each the name of an interface StartExporter waits for.
	Interfaces []string
	// Include are more include patterns, not waited for.
	Include []string
	// AttributionHostRoot is attribution.host_root ("" keeps the default).
	AttributionHostRoot string
	// OTLPEndpoint is otlp.endpoint; empty leaves otlp disabled.
	OTLPEndpoint string
	// Interval and Timeout are otlp.interval and otlp.timeout.
	Interval, Timeout time.Duration
	// Temporality is otlp.temporality ("" keeps the default, cumulative).
	Temporality string
	// Resource are resource.attributes.
	Resource map[string]string
	// WebConfigFile is prometheus.web_config_file ("" for none).
	WebConfigFile string
}

// YAML renders the configuration. OTLP is plaintext (insecure: true) with
// gzip compression.
func (c ExporterConfig) YAML() string {
	prometheus := map[string]any{"listen_address": MetricsAddress}
	if c.WebConfigFile != "" {
		prometheus["web_config_file"] = c.WebConfigFile
	}
	doc := map[string]any{
		"interfaces": map[string]any{"include": append(slices.Clone(c.Interfaces), c.Include...)},
		"prometheus": prometheus,
		"log":        map[string]any{"level": "debug"},
	}
	if c.OTLPEndpoint != "" {
		otlp := map[string]any{"enabled": true, "endpoint": c.OTLPEndpoint, "insecure": true, "compression": "gzip",
			"interval": c.Interval.String(), "timeout": c.Timeout.String()}
		if c.Temporality != "" {
			otlp["temporality"] = c.Temporality
		}
		doc["otlp"] = otlp
	}
	if c.AttributionHostRoot != "" {
		doc["attribution"] = map[string]any{"host_root": c.AttributionHostRoot}
	}
	if len(c.Resource) > 0 {
		doc["resource"] = map[string]any{"attributes": c.Resource}
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		panic(fmt.Sprintf("render the exporter's configuration: %v", err)) // strings, booleans and lists always render
	}
	return string(out)
}

// Exporter is packet-exporter running in a test namespace.
type Exporter struct {
	*testexporter.Exporter
	// ConfigText is the configuration it was started with.
	ConfigText string
}

// StartExporter writes cfg to a file and runs packet-exporter with it inside
// ns, then waits until /metrics answers and every interface named in
// cfg.Interfaces has its XDP and tcx programs attached (so that traffic sent
// afterwards is counted).
func StartExporter(tb testing.TB, ns *testenv.Netns, bin string, cfg ExporterConfig) *Exporter {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "packet-exporter.yaml")
	text := cfg.YAML()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		tb.Fatal(err)
	}
	e := &Exporter{
		Exporter:   testexporter.StartExporter(tb, testexporter.Options{Netns: ns}, MetricsAddress, bin, "--config", path),
		ConfigText: text,
	}
	e.Client.Timeout = 5 * time.Second
	e.WaitFor(tb, "packet-exporter to serve /metrics with its interfaces attached", 30*time.Second, func() (bool, string) {
		if e.Exited() {
			tb.Fatalf("packet-exporter exited while starting; configuration:\n%s\noutput:\n%s", text, e.Output())
		}
		s, err := e.Scrape()
		if err != nil {
			return false, err.Error()
		}
		for _, name := range cfg.Interfaces {
			for _, dir := range []string{"receive", "transmit"} {
				v, n := s.Sum("packet_exporter_interface_attached", map[string]string{
					"network_interface_name": name, "network_io_direction": dir})
				if n == 0 || v != 1 {
					return false, fmt.Sprintf("%s %s not attached yet (%d series, value %v)", name, dir, n, v)
				}
			}
		}
		return true, ""
	})
	return e
}
