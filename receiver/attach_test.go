package receiver_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap/zaptest"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/testenv"
	"github.com/packet-exporter/packet-exporter/receiver"
)

// addLink creates link l inside ns.
func addLink(t *testing.T, ns *testenv.Netns, l netlink.Link) {
	t.Helper()
	if err := ns.Do(func() error {
		if err := netlink.LinkAdd(l); err != nil {
			return fmt.Errorf("add %s: %w", l.Attrs().Name, err)
		}
		return netlink.LinkSetUp(l)
	}); err != nil {
		t.Fatal(err)
	}
}

// collect runs one collection of the receiver's instruments and returns, per
// metric name, its data points as "attr=value,..." -> value.
func collect(t *testing.T, recv *receiver.Receiver) map[string]map[string]int64 {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())
	reg, err := recv.RegisterMetrics(provider.Meter("test"), receiver.BuildInfo{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			points := map[string]int64{}
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range data.DataPoints {
					points[attrString(p.Attributes)] = p.Value
				}
			case metricdata.Gauge[int64]:
				for _, p := range data.DataPoints {
					points[attrString(p.Attributes)] = p.Value
				}
			}
			out[m.Name] = points
		}
	}
	return out
}

func attrString(set attribute.Set) string {
	var parts []string
	for _, kv := range set.ToSlice() {
		if kv.Key == receiver.AttrInterface || kv.Key == receiver.AttrDirection || kv.Key == receiver.AttrHook ||
			kv.Key == receiver.AttrMode || kv.Key == receiver.AttrErrorType {
			parts = append(parts, string(kv.Key)+"="+kv.Value.Emit())
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// TestAttachModesAndFailures checks how each XDP mode setting attaches to a
// device without native XDP (a bridge), that failures are counted with their
// reason, and that interfaces beyond limits.max_interfaces are refused.
func TestAttachModesAndFailures(t *testing.T) {
	testenv.RequireRoot(t)
	cases := []struct {
		name       string
		mode       string
		maxIfaces  int
		wantPoints map[string]map[string]int64 // metric -> point -> value
	}{
		{
			name: "auto falls back to generic", mode: config.XDPModeAuto, maxIfaces: 4,
			wantPoints: map[string]map[string]int64{
				receiver.MetricAttached: {
					"hook=xdp,mode=generic,network.interface.name=dum0,network.io.direction=receive": 1,
					"hook=tcx,network.interface.name=dum0,network.io.direction=transmit":             1,
					"hook=xdp,mode=generic,network.interface.name=dum1,network.io.direction=receive": 1,
					"hook=tcx,network.interface.name=dum1,network.io.direction=transmit":             1,
				},
				receiver.MetricAttachFailed: {},
			},
		},
		{
			name: "native is unsupported by bridges", mode: config.XDPModeNative, maxIfaces: 4,
			wantPoints: map[string]map[string]int64{
				receiver.MetricAttached: {
					"hook=tcx,network.interface.name=dum0,network.io.direction=transmit": 1,
					"hook=tcx,network.interface.name=dum1,network.io.direction=transmit": 1,
				},
				receiver.MetricAttachFailed: {
					"error.type=unsupported,hook=xdp,network.interface.name=dum0,network.io.direction=receive": 1,
					"error.type=unsupported,hook=xdp,network.interface.name=dum1,network.io.direction=receive": 1,
				},
			},
		},
		{
			name: "no slot beyond max_interfaces", mode: config.XDPModeGeneric, maxIfaces: 1,
			wantPoints: map[string]map[string]int64{
				receiver.MetricAttached: {
					"hook=xdp,mode=generic,network.interface.name=dum0,network.io.direction=receive": 1,
					"hook=tcx,network.interface.name=dum0,network.io.direction=transmit":             1,
				},
				receiver.MetricAttachFailed: {
					"error.type=no_slot,hook=xdp,network.interface.name=dum1,network.io.direction=receive": 1,
				},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := testenv.NewNetns(t)
			for _, name := range []string{"dum0", "dum1"} {
				// A bridge: Ethernet framing, but no native XDP in its driver.
				addLink(t, ns, &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}})
			}
			// A non-Ethernet link the include pattern also matches.
			addLink(t, ns, &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: "dumtun"}, Mode: netlink.TUNTAP_MODE_TUN})
			cfg := config.Default()
			cfg.Interfaces.Include = []string{"dum*"}
			cfg.XDP.Mode = tc.mode
			cfg.Limits.MaxInterfaces = tc.maxIfaces
			recv, err := receiver.New(cfg, zaptest.NewLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer recv.Close()
			if err := ns.Do(recv.Start); err != nil {
				t.Fatal(err)
			}
			got := collect(t, recv)
			want := tc.wantPoints
			want[receiver.MetricAttachFailed]["error.type=unsupported_link_type,hook=xdp,network.interface.name=dumtun,network.io.direction=receive"] = 1
			for metric, points := range want {
				if fmt.Sprint(got[metric]) != fmt.Sprint(points) {
					t.Errorf("%s:\n got %v\nwant %v", metric, got[metric], points)
				}
			}
			if v := got[receiver.MetricBuildInfo]; len(v) != 1 {
				t.Errorf("build info points: %v", v)
			}
			if err := recv.Close(); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"dum0", "dum1"} {
				testenv.AssertNothingAttached(t, ns, name)
			}
		})
	}
}
