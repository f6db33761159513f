package receiver

import (
	"context"
	"errors"
	"testing"

	"github.com/vishvananda/netns"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap/zaptest"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
)

// TestDropsUnavailable checks that a receiver whose drop program cannot run
// (no BTF, a kernel before 5.17) runs on: it is ready, reports the feature
// drop_reasons as 0 and exports no drop series.
func TestDropsUnavailable(t *testing.T) {
	testenv.RequireRoot(t)
	saved := newDropCounter
	t.Cleanup(func() { newDropCounter = saved })
	newDropCounter = func(bpf.DropOptions) (*bpf.DropCounter, error) {
		return nil, errors.New("drop reasons: kernel BTF: not supported")
	}
	ns := testenv.NewNetns(t)
	cfg := config.Default()
	r, err := New(cfg, zaptest.NewLogger(t), WithNetns(ns.Handle))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !r.Ready() {
		t.Error("not ready without the drop counter")
	}
	waitDropsStarted(r)
	reader := metric.NewManualReader()
	provider := metric.NewMeterProvider(metric.WithReader(reader))
	defer provider.Shutdown(context.Background())
	if _, err := r.RegisterMetrics(provider.Meter("test"), BuildInfo{}); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	feature := int64(-1)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case metricdef.NetworkDrops.Name:
				if n := len(m.Data.(metricdata.Sum[int64]).DataPoints); n != 0 {
					t.Errorf("%s: %d series without the drop counter", metricdef.NetworkDrops.Name, n)
				}
			case metricdef.KernelFeatures.Name:
				for _, p := range m.Data.(metricdata.Gauge[int64]).DataPoints {
					if v, ok := p.Attributes.Value(metricdef.Feature); ok && v.AsString() == bpf.FeatureDropReasons {
						feature = p.Value
					}
				}
			}
		}
	}
	if feature != 0 {
		t.Errorf("feature %s = %d, want 0", bpf.FeatureDropReasons, feature)
	}
}

// waitDropsStarted waits until r's drop counter has started or failed to.
func waitDropsStarted(r *Receiver) {
	for _, c := range r.collectors {
		if d, ok := c.collector.(*dropsCollector); ok {
			<-d.tried
		}
	}
}

// TestIsInitialNetns tells the initial network namespace (this test's, which
// runs as root on the host) from a test namespace.
func TestIsInitialNetns(t *testing.T) {
	testenv.RequireRoot(t)
	own, err := netnsInode(netns.None())
	if err != nil {
		t.Fatal(err)
	}
	other, err := netnsInode(testenv.NewNetns(t).Handle)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		inode uint32
		want  bool
	}{
		{"this process's", own, true},
		{"a test namespace", other, false},
	} {
		if got := isInitialNetns(tc.inode); got != tc.want {
			t.Errorf("%s (inode %d): initial %v, want %v", tc.name, tc.inode, got, tc.want)
		}
	}
}
