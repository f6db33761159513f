package packetexporterreceiver

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// TestPdataMeter observes each kind of instrument the collectors use
// through a pdataMeter and checks the pdata a collection makes of it: names,
// units, descriptions, kinds, cumulative sums with a start, attributes and
// values, one metric for two instruments of one name; a histogram's records in inclusive upper-bound buckets, cumulative
// across collections; nothing of a switched-off instrument or of an
// unregistered callback.
func TestPdataMeter(t *testing.T) {
	m := newPdataMeter("v1", []string{"off"})
	counter, _ := m.Int64ObservableCounter("c", metric.WithUnit("By"), metric.WithDescription("a counter"))
	again, _ := m.Int64ObservableCounter("c", metric.WithUnit("By"), metric.WithDescription("a counter"))
	gauge, _ := m.Float64ObservableGauge("g", metric.WithUnit("s"))
	off, _ := m.Int64ObservableCounter("off")
	histogram, _ := m.Float64Histogram("h", metric.WithExplicitBucketBoundaries(1, 2))
	iface := metric.WithAttributes(attribute.String("network.interface.name", "eth0"), attribute.Int("port", 53))
	if _, err := m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		o.ObserveInt64(counter, 7, iface)
		o.ObserveInt64(again, 8)
		o.ObserveInt64(off, 1)
		o.ObserveFloat64(gauge, 0.5)
		for _, v := range []float64{0.5, 1, 1.5, 3} {
			histogram.Record(ctx, v)
		}
		return nil
	}, counter, gauge, off); err != nil {
		t.Fatal(err)
	}
	late, _ := m.Int64ObservableGauge("late")
	reg, _ := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(late, 1)
		return nil
	}, late)
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}

	for collection, wantCounts := range [][]uint64{{2, 1, 1}, {4, 2, 2}} {
		md, err := m.collect(context.Background(), nil, noStarts)
		if err != nil {
			t.Fatal(err)
		}
		scope := md.ResourceMetrics().At(0).ScopeMetrics().At(0)
		if scope.Scope().Name() != metricdef.ScopeName || scope.Scope().Version() != "v1" {
			t.Errorf("scope %s %s", scope.Scope().Name(), scope.Scope().Version())
		}
		byName := map[string]pmetric.Metric{}
		for _, metric := range scope.Metrics().All() {
			byName[metric.Name()] = metric
		}
		if len(byName) != 3 {
			t.Errorf("collection %d: metrics %v, want c, g and h", collection, keysOf(byName))
		}
		c := byName["c"]
		if c.Type() != pmetric.MetricTypeSum || !c.Sum().IsMonotonic() || c.Sum().AggregationTemporality() != pmetric.AggregationTemporalityCumulative ||
			c.Unit() != "By" || c.Description() != "a counter" {
			t.Errorf("c: %s %s %q %q", c.Type(), c.Sum().AggregationTemporality(), c.Unit(), c.Description())
		} else if c.Sum().DataPoints().Len() != 2 || c.Sum().DataPoints().At(1).IntValue() != 8 {
			t.Errorf("c: %d points, want the two of both instruments named c", c.Sum().DataPoints().Len())
		} else if p := c.Sum().DataPoints().At(0); p.IntValue() != 7 || p.StartTimestamp() == 0 || p.Timestamp() < p.StartTimestamp() {
			t.Errorf("c: %d from %v to %v", p.IntValue(), p.StartTimestamp(), p.Timestamp())
		} else if name, _ := p.Attributes().Get("network.interface.name"); name.Str() != "eth0" {
			t.Errorf("c: attributes %v", p.Attributes().AsRaw())
		} else if port, _ := p.Attributes().Get("port"); port.Int() != 53 {
			t.Errorf("c: attributes %v", p.Attributes().AsRaw())
		}
		if g := byName["g"]; g.Type() != pmetric.MetricTypeGauge || g.Gauge().DataPoints().At(0).DoubleValue() != 0.5 {
			t.Errorf("g: %s", g.Type())
		}
		h := byName["h"].Histogram().DataPoints().At(0)
		if got := h.BucketCounts().AsRaw(); !slices.Equal(got, wantCounts) || h.Count() != wantCounts[0]+wantCounts[1]+wantCounts[2] ||
			!slices.Equal(h.ExplicitBounds().AsRaw(), []float64{1, 2}) {
			t.Errorf("collection %d: h buckets %v count %d, want %v", collection, got, h.Count(), wantCounts)
		}
		if h.Sum() != float64(collection+1)*6 {
			t.Errorf("collection %d: h sum %g", collection, h.Sum())
		}
	}
}

func keysOf(m map[string]pmetric.Metric) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// noStarts knows no series begun before the run.
func noStarts(string, attribute.Set) (time.Time, bool) { return time.Time{}, false }
