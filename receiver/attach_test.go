package receiver_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
	"github.com/packet-exporter/packet-exporter/receiver"
	"time"
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
	return collectKeys(t, recv, func(k attribute.Key) bool {
		return k == metricdef.NetworkInterfaceName || k == metricdef.SystemDevice || k == metricdef.NetworkIODirection || k == metricdef.Hook ||
			k == metricdef.Mode || k == metricdef.ErrorType || k == metricdef.Feature
	})
}

// collectKeys is collect with the attributes for which keep is true in the
// series keys.
func collectKeys(t *testing.T, recv *receiver.Receiver, keep func(attribute.Key) bool) map[string]map[string]int64 {
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
					points[attrString(p.Attributes, keep)] = p.Value
				}
			case metricdata.Gauge[int64]:
				for _, p := range data.DataPoints {
					points[attrString(p.Attributes, keep)] = p.Value
				}
			case metricdata.Sum[float64]:
				for _, p := range data.DataPoints {
					points[attrString(p.Attributes, keep)] = int64(p.Value * 1e9) // seconds as nanoseconds
				}
			}
			out[m.Name] = points
		}
	}
	return out
}

func attrString(set attribute.Set, keep func(attribute.Key) bool) string {
	var parts []string
	for _, kv := range set.ToSlice() {
		if keep(kv.Key) {
			parts = append(parts, string(kv.Key)+"="+kv.Value.String())
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// TestAttachModesAndFailures checks how each ingress hook and XDP mode
// setting attaches to a device without native XDP (a bridge), that failures
// are counted with their reason, and that interfaces beyond
// limits.max_interfaces are refused.
func TestAttachModesAndFailures(t *testing.T) {
	testenv.RequireRoot(t)
	tcxBoth := func(names ...string) map[string]int64 {
		points := map[string]int64{}
		for _, n := range names {
			points["hook="+tcHook()+",network.interface.name="+n+",network.io.direction=receive"] = 1
			points["hook="+tcHook()+",network.interface.name="+n+",network.io.direction=transmit"] = 1
		}
		return points
	}
	cases := []struct {
		name       string
		hook       string
		mode       string
		maxIfaces  int
		wantReady  bool
		wantPoints map[string]map[string]int64 // metric -> point -> value
	}{
		{
			name: "default counts through tcx", hook: config.HookAuto, mode: config.XDPModeAuto, maxIfaces: 4, wantReady: true,
			wantPoints: map[string]map[string]int64{
				metricdef.InterfaceAttached.Name: tcxBoth("dum0", "dum1"),
				metricdef.AttachFailures.Name:    {},
			},
		},
		{
			name: "xdp auto falls back to tcx without native XDP", hook: config.HookXDP, mode: config.XDPModeAuto, maxIfaces: 4, wantReady: true,
			wantPoints: map[string]map[string]int64{
				metricdef.InterfaceAttached.Name: tcxBoth("dum0", "dum1"),
				metricdef.AttachFailures.Name: {
					"error.type=unsupported,hook=xdp,network.interface.name=dum0,network.io.direction=receive": 1,
					"error.type=unsupported,hook=xdp,network.interface.name=dum1,network.io.direction=receive": 1,
				},
			},
		},
		{
			name: "xdp native is unsupported by bridges", hook: config.HookXDP, mode: config.XDPModeNative, maxIfaces: 4,
			wantPoints: map[string]map[string]int64{
				metricdef.InterfaceAttached.Name: {
					"hook=" + tcHook() + ",network.interface.name=dum0,network.io.direction=transmit": 1,
					"hook=" + tcHook() + ",network.interface.name=dum1,network.io.direction=transmit": 1,
				},
				metricdef.AttachFailures.Name: {
					"error.type=unsupported,hook=xdp,network.interface.name=dum0,network.io.direction=receive": 1,
					"error.type=unsupported,hook=xdp,network.interface.name=dum1,network.io.direction=receive": 1,
				},
			},
		},
		{
			name: "xdp generic only when configured", hook: config.HookXDP, mode: config.XDPModeGeneric, maxIfaces: 4, wantReady: true,
			wantPoints: map[string]map[string]int64{
				metricdef.InterfaceAttached.Name: {
					"hook=xdp,mode=generic,network.interface.name=dum0,network.io.direction=receive":  1,
					"hook=" + tcHook() + ",network.interface.name=dum0,network.io.direction=transmit": 1,
					"hook=xdp,mode=generic,network.interface.name=dum1,network.io.direction=receive":  1,
					"hook=" + tcHook() + ",network.interface.name=dum1,network.io.direction=transmit": 1,
				},
				metricdef.AttachFailures.Name: {},
			},
		},
		{
			name: "no slot beyond max_interfaces", hook: config.HookAuto, mode: config.XDPModeAuto, maxIfaces: 1,
			wantPoints: map[string]map[string]int64{
				metricdef.InterfaceAttached.Name: tcxBoth("dum0"),
				metricdef.AttachFailures.Name: {
					"error.type=no_slot,hook=" + tcHook() + ",network.interface.name=dum1,network.io.direction=receive": 1,
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
			cfg.Interfaces.Include = []string{"dum*", "missing0"}
			cfg.Ingress.Hook = tc.hook
			cfg.XDP.Mode = tc.mode
			cfg.Limits.MaxInterfaces = tc.maxIfaces
			recv, err := receiver.New(cfg, zaptest.NewLogger(t), receiver.WithNetns(ns.Handle))
			if err != nil {
				t.Fatal(err)
			}
			defer recv.Close()
			if err := recv.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := collect(t, recv)
			want := tc.wantPoints
			firstHook := tcHook()
			if tc.hook == config.HookXDP {
				firstHook = config.HookXDP
			}
			want[metricdef.AttachFailures.Name]["error.type=unsupported_link_type,hook="+firstHook+",network.interface.name=dumtun,network.io.direction=receive"] = 1
			want[metricdef.AttachFailures.Name]["error.type=not_found,hook="+firstHook+",network.interface.name=missing0,network.io.direction=receive"] = 1
			for metric, points := range want {
				if fmt.Sprint(got[metric]) != fmt.Sprint(points) {
					t.Errorf("%s:\n got %v\nwant %v", metric, got[metric], points)
				}
			}
			if recv.Ready() != tc.wantReady {
				t.Errorf("Ready() = %v, want %v (skipped %v)", recv.Ready(), tc.wantReady, got[metricdef.InterfaceSkipped.Name])
			}
			if v := got[metricdef.BuildInfo.Name]; len(v) != 1 {
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

// TestKernelFeatures checks the exported kernel features against the running
// kernel's version: each feature is there from a known release on.
func TestKernelFeatures(t *testing.T) {
	testenv.RequireRoot(t)
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(uts.Release[:]), "%d.%d", &major, &minor); err != nil {
		t.Fatalf("kernel release %q: %v", uts.Release, err)
	}
	since := func(ma, mi int) int64 {
		if major > ma || major == ma && minor >= mi {
			return 1
		}
		return 0
	}
	want := map[string]int64{
		"feature=" + bpf.FeatureTCX:      since(6, 6),
		"feature=" + bpf.FeatureXDPFrags: since(5, 18),
		"feature=" + bpf.FeatureRingBuf:  since(5, 8),
		"feature=" + bpf.FeatureBatchOps: since(5, 6),
		"feature=" + bpf.FeatureLinks:    since(5, 9),
		"feature=" + bpf.FeatureBTF:      1, // every kernel the tests run on is built with BTF
		// drops.enabled is on by default: the drop program needs the
		// tracepoint's reason argument.
		"feature=" + bpf.FeatureDropReasons: since(5, 17),
	}
	recv := startIn(t, testenv.NewNetns(t), nil)
	// The drop counter starts beside the interfaces: its feature is 0 until
	// it counts.
	deadline := time.Now().Add(10 * time.Second)
	got := collect(t, recv)[metricdef.KernelFeatures.Name]
	for fmt.Sprint(got) != fmt.Sprint(want) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		got = collect(t, recv)[metricdef.KernelFeatures.Name]
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("kernel %d.%d features:\n got %v\nwant %v", major, minor, got, want)
	}
}

// TestConcurrentCollections runs collections of two readers at once, as a
// Prometheus scrape and an OTLP export may, and checks they agree.
func TestConcurrentCollections(t *testing.T) {
	testenv.RequireRoot(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true})
	cfg := config.Default()
	cfg.Interfaces.Include = []string{pair.NameA}
	recv, err := receiver.New(cfg, zaptest.NewLogger(t), receiver.WithNetns(a.Handle))
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	if err := recv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	readers := []*sdkmetric.ManualReader{sdkmetric.NewManualReader(), sdkmetric.NewManualReader()}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(readers[0]), sdkmetric.WithReader(readers[1]))
	defer provider.Shutdown(context.Background())
	if _, err := recv.RegisterMetrics(provider.Meter("test"), receiver.BuildInfo{}); err != nil {
		t.Fatal(err)
	}
	sink := testtraffic.ListenUDP(t, a, pair.IPv4A.Addr())
	testtraffic.SendUDP(t, b, pair.IPv4B.Addr(), sink.Addr, 25, 10)

	const rounds = 50
	results := make([][]int64, len(readers))
	var wg sync.WaitGroup
	for i, reader := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				var rm metricdata.ResourceMetrics
				if err := reader.Collect(context.Background(), &rm); err != nil {
					t.Error(err)
					return
				}
				results[i] = append(results[i], udpPackets(rm))
			}
		}()
	}
	wg.Wait()
	for i, got := range results {
		for round, v := range got {
			if v != 25 {
				t.Fatalf("reader %d round %d: %d UDP packets, want 25", i, round, v)
			}
		}
	}
}

func udpPackets(rm metricdata.ResourceMetrics) int64 {
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if m.Name != metricdef.NetworkPackets.Name || !ok {
				continue
			}
			for _, p := range sum.DataPoints {
				if v, _ := p.Attributes.Value(metricdef.NetworkTransport); v.AsString() == "udp" {
					n += p.Value
				}
			}
		}
	}
	return n
}
