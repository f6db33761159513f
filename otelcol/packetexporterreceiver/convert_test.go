package packetexporterreceiver

import (
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func TestToPdata(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	now := start.Add(15 * time.Second)
	attrs := attribute.NewSet(attribute.String("s", "x"), attribute.Int64("i", 7), attribute.Bool("b", true),
		attribute.Float64("f", 1.5), attribute.StringSlice("l", []string{"a", "b"}))
	wantAttrs := map[string]any{"s": "x", "i": int64(7), "b": true, "f": 1.5, "l": `["a","b"]`}

	tests := []struct {
		name  string
		data  metricdata.Aggregation
		check func(t *testing.T, m pmetric.Metric)
	}{
		{"int64 counter", metricdata.Sum[int64]{IsMonotonic: true, Temporality: metricdata.CumulativeTemporality,
			DataPoints: []metricdata.DataPoint[int64]{{Attributes: attrs, StartTime: start, Time: now, Value: 42}}},
			func(t *testing.T, m pmetric.Metric) {
				s := m.Sum()
				if m.Type() != pmetric.MetricTypeSum || !s.IsMonotonic() || s.AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
					t.Fatalf("type %v monotonic %t temporality %v", m.Type(), s.IsMonotonic(), s.AggregationTemporality())
				}
				p := s.DataPoints().At(0)
				checkPoint(t, p.Attributes(), wantAttrs, p.StartTimestamp(), p.Timestamp(), start, now)
				if p.ValueType() != pmetric.NumberDataPointValueTypeInt || p.IntValue() != 42 {
					t.Errorf("value %v", p.IntValue())
				}
			}},
		{"float64 delta up-down sum", metricdata.Sum[float64]{Temporality: metricdata.DeltaTemporality,
			DataPoints: []metricdata.DataPoint[float64]{{Attributes: attrs, StartTime: start, Time: now, Value: 0.25}}},
			func(t *testing.T, m pmetric.Metric) {
				s := m.Sum()
				if s.IsMonotonic() || s.AggregationTemporality() != pmetric.AggregationTemporalityDelta {
					t.Fatalf("monotonic %t temporality %v", s.IsMonotonic(), s.AggregationTemporality())
				}
				if p := s.DataPoints().At(0); p.ValueType() != pmetric.NumberDataPointValueTypeDouble || p.DoubleValue() != 0.25 {
					t.Errorf("value %v", p.DoubleValue())
				}
			}},
		{"int64 gauge without start", metricdata.Gauge[int64]{
			DataPoints: []metricdata.DataPoint[int64]{{Attributes: attrs, Time: now, Value: -3}, {Time: now, Value: 5}}},
			func(t *testing.T, m pmetric.Metric) {
				points := m.Gauge().DataPoints()
				if m.Type() != pmetric.MetricTypeGauge || points.Len() != 2 {
					t.Fatalf("type %v with %d points", m.Type(), points.Len())
				}
				p := points.At(0)
				checkPoint(t, p.Attributes(), wantAttrs, p.StartTimestamp(), p.Timestamp(), time.Time{}, now)
				if p.IntValue() != -3 || points.At(1).IntValue() != 5 || points.At(1).Attributes().Len() != 0 {
					t.Errorf("values %d %d", p.IntValue(), points.At(1).IntValue())
				}
			}},
		{"float64 gauge", metricdata.Gauge[float64]{DataPoints: []metricdata.DataPoint[float64]{{Time: now, Value: 2.5}}},
			func(t *testing.T, m pmetric.Metric) {
				if v := m.Gauge().DataPoints().At(0).DoubleValue(); v != 2.5 {
					t.Errorf("value %v", v)
				}
			}},
		{"int64 histogram", metricdata.Histogram[int64]{Temporality: metricdata.CumulativeTemporality,
			DataPoints: []metricdata.HistogramDataPoint[int64]{{Attributes: attrs, StartTime: start, Time: now,
				Count: 6, Sum: 1000, Bounds: []float64{64, 128}, BucketCounts: []uint64{1, 2, 3},
				Min: metricdata.NewExtrema[int64](60), Max: metricdata.NewExtrema[int64](400)}}},
			func(t *testing.T, m pmetric.Metric) {
				h := m.Histogram()
				if m.Type() != pmetric.MetricTypeHistogram || h.AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
					t.Fatalf("type %v temporality %v", m.Type(), h.AggregationTemporality())
				}
				p := h.DataPoints().At(0)
				checkPoint(t, p.Attributes(), wantAttrs, p.StartTimestamp(), p.Timestamp(), start, now)
				if p.Count() != 6 || p.Sum() != 1000 || !p.HasMin() || p.Min() != 60 || !p.HasMax() || p.Max() != 400 {
					t.Errorf("count %d sum %v min %v max %v", p.Count(), p.Sum(), p.Min(), p.Max())
				}
				if b, c := p.ExplicitBounds().AsRaw(), p.BucketCounts().AsRaw(); len(b) != 2 || b[1] != 128 || len(c) != 3 || c[2] != 3 {
					t.Errorf("bounds %v counts %v", b, c)
				}
			}},
		{"float64 histogram without extrema", metricdata.Histogram[float64]{Temporality: metricdata.DeltaTemporality,
			DataPoints: []metricdata.HistogramDataPoint[float64]{{Time: now, Count: 1, Sum: 0.5,
				Bounds: []float64{1}, BucketCounts: []uint64{1, 0}}}},
			func(t *testing.T, m pmetric.Metric) {
				p := m.Histogram().DataPoints().At(0)
				if m.Histogram().AggregationTemporality() != pmetric.AggregationTemporalityDelta || p.HasMin() || p.HasMax() || p.Sum() != 0.5 {
					t.Errorf("temporality %v min %t max %t sum %v", m.Histogram().AggregationTemporality(), p.HasMin(), p.HasMax(), p.Sum())
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rm := metricdata.ResourceMetrics{ScopeMetrics: []metricdata.ScopeMetrics{{
				Scope:   instrumentation.Scope{Name: "scope", Version: "v1"},
				Metrics: []metricdata.Metrics{{Name: "m", Description: "d", Unit: "By", Data: tt.data}},
			}}}
			md, err := toPdata(rm)
			if err != nil {
				t.Fatal(err)
			}
			if md.ResourceMetrics().Len() != 1 || md.ResourceMetrics().At(0).ScopeMetrics().Len() != 1 {
				t.Fatalf("%d resources", md.ResourceMetrics().Len())
			}
			sm := md.ResourceMetrics().At(0).ScopeMetrics().At(0)
			if sm.Scope().Name() != "scope" || sm.Scope().Version() != "v1" || sm.Metrics().Len() != 1 {
				t.Fatalf("scope %q %q with %d metrics", sm.Scope().Name(), sm.Scope().Version(), sm.Metrics().Len())
			}
			m := sm.Metrics().At(0)
			if m.Name() != "m" || m.Description() != "d" || m.Unit() != "By" {
				t.Errorf("name %q description %q unit %q", m.Name(), m.Description(), m.Unit())
			}
			tt.check(t, m)
		})
	}
}

func checkPoint(t *testing.T, attrs pcommon.Map, want map[string]any, start, ts pcommon.Timestamp, wantStart, wantTime time.Time) {
	t.Helper()
	got := attrs.AsRaw()
	if len(got) != len(want) {
		t.Errorf("attributes %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("attribute %s = %#v, want %#v", k, got[k], v)
		}
	}
	if wantStart.IsZero() && start != 0 || !wantStart.IsZero() && start.AsTime() != wantStart.UTC() {
		t.Errorf("start %v, want %v", start, wantStart)
	}
	if ts.AsTime() != wantTime.UTC() {
		t.Errorf("time %v, want %v", ts, wantTime)
	}
}

// An aggregation the converter does not know is an error, not a silent gap.
func TestToPdataRefusesUnknownAggregations(t *testing.T) {
	rm := metricdata.ResourceMetrics{ScopeMetrics: []metricdata.ScopeMetrics{{Metrics: []metricdata.Metrics{
		{Name: "ok", Data: metricdata.Gauge[int64]{}},
		{Name: "exp", Data: metricdata.ExponentialHistogram[float64]{}},
	}}}}
	md, err := toPdata(rm)
	if err == nil || !strings.Contains(err.Error(), "metric exp: aggregation") {
		t.Fatalf("error %v, want one naming metric exp", err)
	}
	if md.MetricCount() != 0 {
		t.Errorf("%d metrics returned with the error", md.MetricCount())
	}
}
