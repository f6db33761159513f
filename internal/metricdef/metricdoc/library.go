package metricdoc

import (
	"context"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/telemetry"
)

// LibraryMetrics reads the metrics the libraries export for the agent
// (metricdef.LibraryMetric) from the libraries themselves, as
// internal/telemetry sets them up: the families on /metrics, then the OTLP
// metrics, each in name order. A memory limit is set while they are read,
// so that go.memory.limit, exported only under one, is listed.
func LibraryMetrics() ([]metricdef.LibraryMetric, error) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(1 << 40))
	reg := prometheus.NewRegistry()
	if err := telemetry.RegisterProcessMetrics(reg); err != nil {
		return nil, err
	}
	families, err := reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather process metrics: %w", err)
	}
	var list []metricdef.LibraryMetric
	for _, f := range families {
		keys := map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				keys[l.GetName()] = true
			}
		}
		if f.GetType().String() == "SUMMARY" {
			keys["quantile"] = true
		}
		list = append(list, metricdef.LibraryMetric{Name: f.GetName(), Type: strings.ToLower(f.GetType().String()),
			Attributes: slices.Sorted(maps.Keys(keys)), Description: f.GetHelp()})
	}

	producer, err := telemetry.NewRuntimeProducer(false)
	if err != nil {
		return nil, err
	}
	defer producer.Shutdown(context.Background())
	scopes, err := producer.Produce(context.Background())
	if err != nil {
		return nil, fmt.Errorf("collect runtime metrics: %w", err)
	}
	var otlp []metricdef.LibraryMetric
	for _, sm := range scopes {
		for _, m := range sm.Metrics {
			typ, sets, err := otlpType(m.Data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", m.Name, err)
			}
			keys := map[string]bool{}
			for _, set := range sets {
				for _, kv := range set.ToSlice() {
					keys[string(kv.Key)] = true
				}
			}
			otlp = append(otlp, metricdef.LibraryMetric{Name: m.Name, OTLP: true, Type: typ, Unit: m.Unit,
				Attributes: slices.Sorted(maps.Keys(keys)), Description: m.Description})
		}
	}
	slices.SortFunc(otlp, func(a, b metricdef.LibraryMetric) int { return strings.Compare(a.Name, b.Name) })
	return append(list, otlp...), nil
}

// otlpType names the type of an OTLP metric's data and returns its points'
// attribute sets.
func otlpType(data metricdata.Aggregation) (string, []attribute.Set, error) {
	switch d := data.(type) {
	case metricdata.Sum[int64]:
		return sumType(d.IsMonotonic), pointSets(d.DataPoints), nil
	case metricdata.Sum[float64]:
		return sumType(d.IsMonotonic), pointSets(d.DataPoints), nil
	case metricdata.Gauge[int64]:
		return "gauge", pointSets(d.DataPoints), nil
	case metricdata.Gauge[float64]:
		return "gauge", pointSets(d.DataPoints), nil
	}
	return "", nil, fmt.Errorf("unexpected data %T", data)
}

func sumType(monotonic bool) string {
	if monotonic {
		return "counter"
	}
	return "up-down counter"
}

func pointSets[N int64 | float64](points []metricdata.DataPoint[N]) []attribute.Set {
	sets := make([]attribute.Set, len(points))
	for i, p := range points {
		sets[i] = p.Attributes
	}
	return sets
}
