package receiver

import (
	"slices"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap/zaptest"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
)

// declaredValues returns the values metadata.yaml lists for attribute key
// of metric d.
func declaredValues(t *testing.T, d metricdef.Definition, key attribute.Key) []string {
	t.Helper()
	for _, a := range d.AllAttributes {
		if a.Key == key {
			return a.Values
		}
	}
	t.Fatalf("%s has no attribute %s in metadata.yaml", d.Name, key)
	return nil
}

// valueOf returns the value of key in the attribute set of option.
func valueOf(option metric.ObserveOption, key attribute.Key) string {
	attrs := metric.NewObserveConfig([]metric.ObserveOption{option}).Attributes()
	v, _ := attrs.Value(key)
	return v.AsString()
}

// TestDeclaredValues checks that the values metadata.yaml lists for the
// attributes the README documents are the values the code emits: a reason,
// a feature or a network type added to one and not the other fails.
func TestDeclaredValues(t *testing.T) {
	var networkTypes []string
	for class := range bpf.ClassCount {
		if nt := bpf.ClassOf(class).NetworkType; !slices.Contains(networkTypes, nt) {
			networkTypes = append(networkTypes, nt)
		}
	}
	var tunnels []string
	for t := range bpf.Tunnel(bpf.TunnelCount) {
		tunnels = append(tunnels, t.String())
	}
	var anomalies []string
	for i := range bpf.AnomalyCount {
		anomalies = append(anomalies, bpf.AnomalyName(bpf.AnomalyFirst+i))
	}
	features := []string{bpf.FeatureDropReasons}
	for _, f := range bpf.ProbeFeatures() {
		features = append(features, f.Name)
	}
	attach := []string{reasonNotFound, reasonUnsupported, reasonPermission, reasonHookBusy, reasonNoSlot,
		reasonUnsupportedLink, reasonProgramLoadFailed, reasonOther}
	for _, tc := range []struct {
		name string
		d    metricdef.Definition
		key  attribute.Key
		code []string
	}{
		{"network types", metricdef.NetworkPackets, metricdef.NetworkType, networkTypes},
		{"network types inside tunnels", metricdef.NetworkTunnelPackets, metricdef.NetworkType, networkTypes},
		{"tunnel types", metricdef.NetworkTunnelPackets, metricdef.TunnelType, tunnels},
		{"parse errors", metricdef.NetworkParseErrors, metricdef.ErrorType, anomalies},
		{"attach failures", metricdef.AttachFailures, metricdef.ErrorType, attach},
		{"skipped interfaces", metricdef.InterfaceSkipped, metricdef.ErrorType, attach},
		{"unresolved workloads", metricdef.AttributionUnresolved, metricdef.ErrorType, unresolvedReasons},
		{"count errors", metricdef.KernelCountErrors, metricdef.ErrorType,
			[]string{valueOf(noCounter, metricdef.ErrorType), valueOf(unmapped, metricdef.ErrorType), valueOf(dropsTableFull, metricdef.ErrorType), valueOf(noTunnelCounter, metricdef.ErrorType)}},
		{"features", metricdef.KernelFeatures, metricdef.Feature, features},
		{"hooks", metricdef.InterfaceAttached, metricdef.Hook, []string{config.HookTCX, config.HookTC, config.HookXDP}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			declared := declaredValues(t, tc.d, tc.key)
			if !sameSet(declared, tc.code) {
				t.Errorf("%s %s: metadata.yaml lists %v, the code emits %v", tc.d.Name, tc.key, declared, tc.code)
			}
		})
	}
}

// TestDeclaredCollectors checks that the collector attribute's values in
// metadata.yaml are the names of a receiver's collectors with every source on.
func TestDeclaredCollectors(t *testing.T) {
	testenv.RequireRoot(t)
	cfg := config.Default()
	cfg.Events.Enabled, cfg.Flows.Enabled, cfg.Drops.Enabled, cfg.Attribution.Enabled = true, true, true, true
	r, err := New(cfg, zaptest.NewLogger(t), WithNetns(testenv.NewNetns(t).Handle))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	names := []string{"health"} // each registration's own
	for _, c := range r.collectors {
		names = append(names, c.name)
	}
	if declared := declaredValues(t, metricdef.CollectorDuration, metricdef.Collector); !sameSet(declared, names) {
		t.Errorf("metadata.yaml lists collectors %v, the receiver has %v", declared, names)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// TestSeriesLimit: the limit holds every series of the instrument with the
// most: the traffic classes, the tunnel series or the flows.
func TestSeriesLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*config.Config)
		want   int
	}{
		{"defaults: the traffic classes", func(*config.Config) {}, 4096 * 2 * bpf.ClassCount},
		{"one interface, tunnels: every tunnel type and class inside", func(c *config.Config) {
			c.Limits.MaxInterfaces, c.Flows.MaxSeries = 1, 1
		}, 2 * bpf.TunnelCount * bpf.ClassCount},
		{"one interface, tunnels off", func(c *config.Config) {
			c.Limits.MaxInterfaces, c.Flows.MaxSeries, c.Tunnels.Enabled = 1, 1, false
		}, 2 * bpf.ClassCount},
		{"flows", func(c *config.Config) { c.Limits.MaxInterfaces, c.Flows.MaxSeries = 1, 5000 }, 5001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			tc.modify(&cfg)
			if got := SeriesLimit(cfg); got != tc.want {
				t.Errorf("SeriesLimit = %d, want %d", got, tc.want)
			}
		})
	}
}
