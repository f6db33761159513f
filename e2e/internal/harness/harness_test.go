package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

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

func TestExporterConfigYAML(t *testing.T) {
	cfg := ExporterConfig{
		Interfaces:   []string{"pea1", "peb2"},
		OTLPEndpoint: "127.0.0.1:4317",
		Interval:     time.Second,
		Timeout:      2 * time.Second,
		Temporality:  "delta",
		Resource:     map[string]string{"deployment.environment": "e2e"},
	}
	want := `interfaces:
  include: ["pea1", "peb2"]
prometheus:
  listen_address: "127.0.0.1:9743"
log:
  level: debug
otlp:
  enabled: true
  endpoint: "127.0.0.1:4317"
  insecure: true
  compression: gzip
  interval: 1s
  timeout: 2s
  temporality: delta
resource:
  attributes:
    "deployment.environment": "e2e"
`
	if got := cfg.YAML(); got != want {
		t.Errorf("YAML:\n%s\nwant:\n%s", got, want)
	}
	cfg.OTLPEndpoint = ""
	if got := cfg.YAML(); strings.Contains(got, "otlp:") {
		t.Errorf("otlp section without an endpoint:\n%s", got)
	}
}
