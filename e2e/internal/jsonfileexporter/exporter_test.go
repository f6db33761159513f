package jsonfileexporter

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func metrics(name string, value int64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "test")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(name)
	m.SetUnit("{packet}")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := sum.DataPoints().AppendEmpty()
	dp.Attributes().PutStr("network.io.direction", "receive")
	dp.SetIntValue(value)
	return md
}

func newExporter(t *testing.T, path string) exporter.Metrics {
	t.Helper()
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Path = path
	set := exporter.Settings{ID: component.NewID(Type), TelemetrySettings: componenttest.NewNopTelemetrySettings()}
	exp, err := f.CreateMetrics(context.Background(), set, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	return exp
}

// TestAppendsOneLinePerBatch checks that every batch becomes one line that
// unmarshals to the same metrics, and that a restarted exporter appends.
func TestAppendsOneLinePerBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	want := []pmetric.Metrics{metrics("a", 1), metrics("b", 2), metrics("c", 3)}

	exp := newExporter(t, path)
	for _, md := range want[:2] {
		if err := exp.ConsumeMetrics(context.Background(), md); err != nil {
			t.Fatal(err)
		}
	}
	if err := exp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	exp = newExporter(t, path)
	if err := exp.ConsumeMetrics(context.Background(), want[2]); err != nil {
		t.Fatal(err)
	}

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(b, []byte("\n")) {
		t.Fatalf("output does not end with a newline: %q", b)
	}
	lines := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), b)
	}
	var um pmetric.JSONUnmarshaler
	var m pmetric.JSONMarshaler
	for i, line := range lines {
		got, err := um.UnmarshalMetrics(line)
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		gotJSON, _ := m.MarshalMetrics(got)
		wantJSON, _ := m.MarshalMetrics(want[i])
		if !bytes.Equal(gotJSON, wantJSON) {
			t.Errorf("line %d:\n got %s\nwant %s", i, gotJSON, wantJSON)
		}
	}
}

func TestConfigNeedsPath(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	if err := cfg.Validate(); err == nil {
		t.Error("empty path accepted")
	}
	cfg.Path = "/tmp/x"
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
}

func TestConsumeBeforeStartFails(t *testing.T) {
	f := NewFactory()
	cfg := &Config{Path: filepath.Join(t.TempDir(), "x")}
	set := exporter.Settings{ID: component.NewID(Type), TelemetrySettings: componenttest.NewNopTelemetrySettings()}
	exp, err := f.CreateMetrics(context.Background(), set, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.ConsumeMetrics(context.Background(), metrics("a", 1)); err == nil {
		t.Error("ConsumeMetrics before Start succeeded")
	}
}
