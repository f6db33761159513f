package harness

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.yaml.in/yaml/v3"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/testing/otelcolbuild"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

// e2eModule is this module's path.
const e2eModule = testexporter.ModulePath + "/e2e"

func sumMetrics(start, ts time.Time, temporality pmetric.AggregationTemporality, values map[string]int64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "packet-exporter")
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("scope")
	m := sm.Metrics().AppendEmpty()
	m.SetName("packet_exporter.network.packets")
	m.SetUnit("{packet}")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(temporality)
	for dir, v := range values {
		dp := sum.DataPoints().AppendEmpty()
		dp.Attributes().PutStr("network.io.direction", dir)
		dp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		dp.SetIntValue(v)
	}
	return md
}

func TestReadReceived(t *testing.T) {
	t0 := time.Unix(1700000000, 0).UTC()
	var m pmetric.JSONMarshaler
	var content []byte
	for i, md := range []pmetric.Metrics{
		sumMetrics(t0, t0.Add(time.Second), pmetric.AggregationTemporalityCumulative, map[string]int64{"receive": 1, "transmit": 2}),
		sumMetrics(t0, t0.Add(2*time.Second), pmetric.AggregationTemporalityCumulative, map[string]int64{"receive": 5}),
		sumMetrics(t0, t0.Add(3*time.Second), pmetric.AggregationTemporalityCumulative, map[string]int64{"receive": 99}),
	} {
		b, err := m.MarshalMetrics(md)
		if err != nil {
			t.Fatal(err)
		}
		content = append(content, b...)
		if i < 2 {
			content = append(content, '\n')
		} else {
			content = content[:len(content)-5] // a line still being written
		}
	}
	path := filepath.Join(t.TempDir(), "out.jsonl")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}

	r, err := ReadReceived(path)
	if err != nil {
		t.Fatal(err)
	}
	if r.Lines != 2 || r.Exports != 2 || len(r.Points) != 3 {
		t.Fatalf("lines %d, exports %d, points %d; want 2, 2, 3", r.Lines, r.Exports, len(r.Points))
	}
	p := r.Points[2]
	if p.Line != 1 || p.Export != 1 || p.Metric != "packet_exporter.network.packets" || p.Unit != "{packet}" ||
		p.Type != "Sum" || p.Temporality != "Cumulative" || !p.Monotonic || !p.IsInt || p.Int != 5 ||
		!p.Start.Equal(t0) || !p.Time.Equal(t0.Add(2*time.Second)) ||
		p.Resource["service.name"] != "packet-exporter" || p.Scope != "scope" || p.Attrs["network.io.direction"] != "receive" {
		t.Errorf("unexpected point %+v", p)
	}

	latest := Latest(r.Of("packet_exporter.network.packets", nil))
	if got := latest[AttrKey(map[string]string{"network.io.direction": "receive"})].Int; got != 5 {
		t.Errorf("latest receive = %d, want 5", got)
	}
	if got := latest[AttrKey(map[string]string{"network.io.direction": "transmit"})].Int; got != 2 {
		t.Errorf("latest transmit = %d, want 2", got)
	}
	if n := len(r.Since(1).Points); n != 1 {
		t.Errorf("Since(1) has %d points, want 1", n)
	}
	if n := len(r.Of("packet_exporter.network.packets", map[string]string{"network.io.direction": "transmit"})); n != 1 {
		t.Errorf("Of(transmit) has %d points, want 1", n)
	}

	empty, err := ReadReceived(filepath.Join(t.TempDir(), "missing"))
	if err != nil || empty.Lines != 0 {
		t.Errorf("missing file: %+v, %v", empty, err)
	}
}

// TestExporterConfigYAML checks that the rendered configuration is what the
// agent's own parser reads as the fields given, over its defaults.
func TestExporterConfigYAML(t *testing.T) {
	cfg := ExporterConfig{
		Interfaces:   []string{"pea1", "peb2"},
		OTLPEndpoint: "127.0.0.1:4317",
		Interval:     time.Second,
		Timeout:      2 * time.Second,
		Temporality:  "delta",
		Resource:     map[string]string{"deployment.environment": "e2e"},
	}
	want := config.Default()
	want.Interfaces.Include = cfg.Interfaces
	want.Prometheus.ListenAddress = MetricsAddress
	want.Log.Level = "debug"
	want.OTLP.Enabled, want.OTLP.Endpoint, want.OTLP.Insecure, want.OTLP.Compression = true, cfg.OTLPEndpoint, true, "gzip"
	want.OTLP.Interval, want.OTLP.Timeout, want.OTLP.Temporality = cfg.Interval, cfg.Timeout, "delta"
	want.Resource.Attributes = cfg.Resource
	if got, err := config.Parse("harness", []byte(cfg.YAML())); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("YAML:\n%s\nparses as %+v (%v)\nwant %+v", cfg.YAML(), got, err, want)
	}
	cfg.OTLPEndpoint = ""
	if got, err := config.Parse("harness", []byte(cfg.YAML())); err != nil || got.OTLP.Enabled {
		t.Errorf("otlp enabled without an endpoint (%v):\n%s", err, cfg.YAML())
	}
	cfg.WebConfigFile = "/tmp/web.yml"
	doc := map[string]map[string]any{}
	if err := yaml.Unmarshal([]byte(cfg.YAML()), &doc); err != nil || doc["prometheus"]["web_config_file"] != cfg.WebConfigFile {
		t.Errorf("web configuration file not in the prometheus section (%v):\n%s", err, cfg.YAML())
	}
}

// TestDeriveManifest: the collector the tests run is the shipped manifest's,
// with its replaces resolved to this checkout, plus this module's jsonfile
// exporter, a replace of this module and the generated module under this
// module's path; its key follows the sources it builds, and not the tests'.
func TestDeriveManifest(t *testing.T) {
	root, err := testexporter.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := otelcolbuild.ReadShipped(root)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := otelcolbuild.ParseManifest(shipped)
	if err != nil {
		t.Fatal(err)
	}
	d, err := otelcolbuild.Derive(shipped, root, Otelcol.Variant)
	if err != nil {
		t.Fatal(err)
	}
	m := d.Manifest
	// The shipped components, in order, and the jsonfile exporter after them.
	if !slices.Equal(m.Receivers, orig.Receivers) || !slices.Equal(m.Processors, orig.Processors) ||
		!slices.Equal(m.Providers, orig.Providers) || !slices.Equal(m.Exporters[:len(orig.Exporters)], orig.Exporters) {
		t.Errorf("components differ from the shipped manifest:\n%+v\nshipped:\n%+v", m, orig)
	}
	if len(m.Exporters) != len(orig.Exporters)+1 || m.Exporters[len(orig.Exporters)].ImportPath() != e2eModule+"/internal/jsonfileexporter" {
		t.Errorf("exporters %+v: want the shipped ones and the jsonfile exporter", m.Exporters)
	}
	if !strings.HasPrefix(m.Dist.Module, e2eModule+"/") || m.Dist.OutputPath != "" || m.Dist.Name != orig.Dist.Name {
		t.Errorf("dist %+v", m.Dist)
	}
	// Every replace points at a directory of this checkout holding the
	// module it names: the root module, the receiver's and this one.
	want := map[string]string{
		testexporter.ModulePath: root,
		testexporter.ModulePath + "/otelcol/packetexporterreceiver": filepath.Join(root, "otelcol", "packetexporterreceiver"),
		e2eModule: filepath.Join(root, "e2e"),
	}
	if !maps.Equal(m.ReplaceDirs(), want) {
		t.Errorf("replaces %q, want %v", m.Replaces, want)
	}

	key, err := d.Key()
	if err != nil {
		t.Fatal(err)
	}
	files, err := d.Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"bpf/counter_bpfel.o", "config/default.yaml", "receiver/traffic.go", "otelcol/packetexporterreceiver/factory.go",
		"e2e/internal/jsonfileexporter/exporter.go", "e2e/go.mod", "go.sum"} {
		if !slices.Contains(files, filepath.Join(root, f)) {
			t.Errorf("%s is not part of the key", f)
		}
	}
	for _, f := range []string{"cmd/packet-exporter/main.go", "e2e/internal/harness/build.go", "receiver/collector_test.go"} {
		if slices.Contains(files, filepath.Join(root, f)) {
			t.Errorf("%s is part of the key; the collector does not build it", f)
		}
	}
	t.Logf("key %s from %d files", key, len(files))
}
