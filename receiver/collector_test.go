package receiver

import (
	"context"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/telemetry"
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

// TestMetricsSwitchedOff switches off the packet-size histogram and the
// packet counter as a configuration does: neither is collected, the other
// metrics are, and the counters map is still read once per collection.
func TestMetricsSwitchedOff(t *testing.T) {
	cfg := config.Default()
	for _, name := range []string{metricdef.NetworkPacketSize.Name, metricdef.NetworkPackets.Name} {
		cfg.Metrics[name] = config.MetricSwitch{Enabled: false}
	}
	r := benchReceiverWith(100, cfg)
	provider, err := telemetry.New(telemetry.Options{Manual: true, CardinalityLimit: 1000,
		Producer: r.PacketSizeProducer, Disabled: cfg.DisabledMetrics()})
	if err != nil {
		t.Fatal(err)
	}
	defer provider.Shutdown(context.Background())
	if _, err := r.RegisterMetrics(provider.Meter(metricdef.ScopeName), BuildInfo{}); err != nil {
		t.Fatal(err)
	}
	fake := r.att.reader.(*fakeCounters)
	before := fake.reads.Load()
	var rm metricdata.ResourceMetrics
	if err := provider.Manual.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if n := fake.reads.Load() - before; n != 1 {
		t.Errorf("%d reads of the counters map, want 1", n)
	}
	collected := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			collected[m.Name] = true
		}
	}
	for name, want := range map[string]bool{metricdef.NetworkPacketSize.Name: false, metricdef.NetworkPackets.Name: false,
		metricdef.NetworkIO.Name: true, metricdef.InterfaceInfo.Name: true} {
		if collected[name] != want {
			t.Errorf("%s collected %v, want %v", name, collected[name], want)
		}
	}
}
