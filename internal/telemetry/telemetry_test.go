package telemetry

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// producedScope is what testProducer adds to each collection.
const producedScope = "produced"

type testProducer struct{ delta bool }

func (p testProducer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	temporality := metricdata.CumulativeTemporality
	if p.delta {
		temporality = metricdata.DeltaTemporality
	}
	return []metricdata.ScopeMetrics{{Metrics: []metricdata.Metrics{{Name: producedScope,
		Data: metricdata.Histogram[int64]{Temporality: temporality}}}}}, nil
}

// The manual reader sees the instruments and the producer, cumulative,
// and only the readers asked for exist.
func TestManualReader(t *testing.T) {
	p, err := New(Options{Version: "test", CardinalityLimit: 10, Manual: true,
		Producer: func(delta bool) sdkmetric.Producer { return testProducer{delta} }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	if p.Manual == nil || p.Registry != nil || p.Exports != nil {
		t.Fatalf("manual %v, registry %v, exports %v: want the manual reader only", p.Manual, p.Registry, p.Exports)
	}
	counter, err := p.Meter("test").Int64Counter("c")
	if err != nil {
		t.Fatal(err)
	}
	counter.Add(context.Background(), 3)
	counter.Add(context.Background(), 4)
	var rm metricdata.ResourceMetrics
	if err := p.Manual.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			found[m.Name] = true
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				if data.Temporality != metricdata.CumulativeTemporality || len(data.DataPoints) != 1 || data.DataPoints[0].Value != 7 {
					t.Errorf("%s: %+v, want one cumulative point of 7", m.Name, data)
				}
			case metricdata.Histogram[int64]:
				if data.Temporality != metricdata.CumulativeTemporality {
					t.Errorf("%s: temporality %v, want cumulative", m.Name, data.Temporality)
				}
			}
		}
	}
	if !found["c"] || !found[producedScope] {
		t.Errorf("collected %v, want c and %s", found, producedScope)
	}
}

// A disabled instrument is in no collection; the others are.
func TestDisabled(t *testing.T) {
	p, err := New(Options{Version: "test", CardinalityLimit: 10, Manual: true, Disabled: []string{"off"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	meter := p.Meter("test")
	for _, name := range []string{"off", "on"} {
		counter, err := meter.Int64Counter(name)
		if err != nil {
			t.Fatal(err)
		}
		counter.Add(context.Background(), 1)
	}
	var rm metricdata.ResourceMetrics
	if err := p.Manual.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			names = append(names, m.Name)
		}
	}
	if len(names) != 1 || names[0] != "on" {
		t.Errorf("collected %v, want only on", names)
	}
}
