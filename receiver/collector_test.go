package receiver

import (
	"context"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// TestCollectorDuration checks that a collection reports how long each
// registered collector took, one series per collector, the health
// collector's first.
func TestCollectorDuration(t *testing.T) {
	r := benchReceiver(100)
	reader := metric.NewManualReader()
	provider := metric.NewMeterProvider(metric.WithReader(reader))
	defer provider.Shutdown(context.Background())
	if _, err := r.RegisterMetrics(provider.Meter(metricdef.ScopeName), BuildInfo{}); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != metricdef.CollectorDuration.Name {
				continue
			}
			for _, p := range m.Data.(metricdata.Gauge[float64]).DataPoints {
				name, _ := p.Attributes.Value(metricdef.Collector)
				got = append(got, name.AsString())
				if p.Value < 0 || p.Value > 60 {
					t.Errorf("collector %s took %g s", name.AsString(), p.Value)
				}
			}
		}
	}
	slices.Sort(got)
	if want := []string{"attribution", "health", "traffic"}; !slices.Equal(got, want) {
		t.Errorf("durations of collectors %v, want %v", got, want)
	}
}
