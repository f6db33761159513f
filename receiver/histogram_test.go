package receiver

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// TestOneReadPerCollection collects the counters and the packet-size
// histogram through one reader: each collection reads the counters map once,
// and the histogram of every series counts its packets. A reader whose
// collections run only the producer reads the map itself.
func TestOneReadPerCollection(t *testing.T) {
	r := benchReceiver(1000)
	fake := r.att.reader.(*fakeCounters)
	for _, delta := range []bool{false, true} {
		reader := metric.NewManualReader(metric.WithProducer(r.PacketSizeProducer(delta)))
		provider := metric.NewMeterProvider(metric.WithReader(reader))
		if _, err := r.RegisterMetrics(provider.Meter(metricdef.ScopeName), BuildInfo{Version: "test"}); err != nil {
			t.Fatal(err)
		}
		for collection := range 3 {
			before := fake.reads.Load()
			var rm metricdata.ResourceMetrics
			if err := reader.Collect(context.Background(), &rm); err != nil {
				t.Fatal(err)
			}
			if n := fake.reads.Load() - before; n != 1 {
				t.Errorf("delta %v, collection %d: %d reads of the counters map, want 1", delta, collection, n)
			}
			packets, histogram := int64(0), uint64(0)
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					switch data := m.Data.(type) {
					case metricdata.Sum[int64]:
						if m.Name == metricdef.NetworkPackets.Name {
							for _, p := range data.DataPoints {
								packets += p.Value
							}
						}
					case metricdata.Histogram[int64]:
						for _, p := range data.DataPoints {
							histogram += p.Count
						}
					}
				}
			}
			if collection == 0 || !delta {
				if packets == 0 || uint64(packets) != histogram {
					t.Errorf("delta %v, collection %d: %d packets, histogram count %d", delta, collection, packets, histogram)
				}
			} else if histogram != 0 {
				t.Errorf("delta collection %d: histogram count %d, want 0 (nothing new)", collection, histogram)
			}
		}
		provider.Shutdown(context.Background())
	}
	// Once the last collection's read is too old to share, a producer
	// collected alone reads the map itself, every time.
	time.Sleep(snapshotMaxAge + 10*time.Millisecond)
	alone := r.PacketSizeProducer(false)
	before := fake.reads.Load()
	for range 2 {
		if _, err := alone.Produce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := fake.reads.Load() - before; n != 2 {
		t.Errorf("a producer without a callback read the map %d times in 2 collections, want 2", n)
	}
}
