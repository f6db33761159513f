package packetexporterreceiver

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/instance"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
	tf "github.com/packet-exporter/packet-exporter/internal/testing/testframe"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

func TestFactoryType(t *testing.T) {
	f := NewFactory()
	if got := f.Type().String(); got != "packetexporter" {
		t.Errorf("type %q, want packetexporter", got)
	}
	if got := f.MetricsStability(); got != stability {
		t.Errorf("metrics stability %v, want %v", got, stability)
	}
	if got := f.LogsStability(); got != 0 {
		t.Errorf("logs stability %v: the receiver emits metrics only", got)
	}
}

// newPair is a quiet veth pair whose end A is counted by receivers made
// with the returned factory.
func newPair(t *testing.T) (*testenv.VethPair, receiver.Factory) {
	t.Helper()
	testenv.RequireRoot(t)
	a, _, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true})
	return pair, newFactory(a.Handle)
}

// configFor is the default configuration counting interface name only.
func configFor(f receiver.Factory, name string, mutate func(*Config)) *Config {
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Counting.Interfaces = config.Interfaces{Include: []string{name}}
	if mutate != nil {
		mutate(cfg)
	}
	return cfg
}

func create(t *testing.T, f receiver.Factory, cfg *Config, next consumer.Metrics) receiver.Metrics {
	t.Helper()
	r, err := f.CreateMetrics(context.Background(), receivertest.NewNopSettings(componentType), cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestLifecycle starts, shuts down and starts again (the collector makes a
// new receiver for each start), for each hook: after each shutdown nothing
// is left attached.
func TestLifecycle(t *testing.T) {
	tests := []struct {
		name  string
		hooks func(*config.Config)
		want  int // programs attached to the interface while running
	}{
		{"tcx", func(*config.Config) {}, 2},
		{"xdp", func(c *config.Config) { c.Ingress.Hook, c.XDP.Mode = config.HookXDP, config.XDPModeNative }, 2},
		{"legacy tc", func(c *config.Config) { c.Ingress.Hook, c.Egress.Hook = config.HookTC, config.HookTC }, 2},
		{"ingress only", func(c *config.Config) { c.Egress.Enabled = false }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pair, f := newPair(t)
			cfg := configFor(f, pair.NameA, func(c *Config) { tt.hooks(&c.Counting) })
			for round := range 2 {
				r := create(t, f, cfg, consumertest.NewNop())
				if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
					t.Fatalf("start %d: %v", round, err)
				}
				if attached := testenv.Attached(t, pair.A, pair.NameA); len(attached) != tt.want {
					t.Errorf("start %d: attached %q, want %d programs", round, attached, tt.want)
				}
				if err := r.Shutdown(context.Background()); err != nil {
					t.Fatalf("shutdown %d: %v", round, err)
				}
				testenv.AssertNothingAttached(t, pair.A, pair.NameA)
			}
		})
	}
}

// TestOneInstancePerNamespace: a second receiver in the namespace fails to
// start, as a second agent would, and leaves the first counting.
func TestOneInstancePerNamespace(t *testing.T) {
	pair, f := newPair(t)
	cfg := configFor(f, pair.NameA, nil)
	first := create(t, f, cfg, consumertest.NewNop())
	if err := first.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	defer first.Shutdown(context.Background())
	second := create(t, f, cfg, consumertest.NewNop())
	if err := second.Start(context.Background(), componenttest.NewNopHost()); !errors.Is(err, instance.ErrRunning) {
		t.Fatalf("second start: %v, want %v", err, instance.ErrRunning)
	}
	// The collector then shuts every component down, the failed one too.
	if err := second.Shutdown(context.Background()); err != nil {
		t.Errorf("shutdown after the failed start: %v", err)
	}
	if attached := testenv.Attached(t, pair.A, pair.NameA); len(attached) != 2 {
		t.Errorf("after the second start failed: attached %q, want the first's 2 programs", attached)
	}
}

// TestEmitsTheAgentsMetrics counts known UDP traffic: the receive series of
// the pair's end equals what was sent, and every metric emitted is one the
// agent defines, with its unit, description, kind and cumulative temporality.
func TestEmitsTheAgentsMetrics(t *testing.T) {
	pair, f := newPair(t)
	cfg := configFor(f, pair.NameA, func(c *Config) {
		c.CollectionInterval = 100 * time.Millisecond
		c.InitialDelay = 0
	})
	sink := new(consumertest.MetricsSink)
	r := create(t, f, cfg, sink)
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := r.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}()

	const count, payload = 100, 300
	udp := testtraffic.ListenUDP(t, pair.A, pair.IPv4A.Addr())
	frame := testtraffic.SendUDP(t, pair.B, pair.IPv4B.Addr(), udp.Addr, count, payload)
	udpReceive := map[string]string{
		string(metricdef.NetworkInterfaceName): pair.NameA, string(metricdef.NetworkIODirection): bpf.Receive.String(),
		string(metricdef.NetworkType): "ipv4", string(metricdef.NetworkTransport): "udp",
	}
	var last pmetric.Metrics
	testexporter.WaitFor(t, "the sent datagrams in an emitted collection", 10*time.Second, func() (bool, string) {
		all := sink.AllMetrics()
		if len(all) == 0 {
			return false, "nothing emitted"
		}
		last = all[len(all)-1]
		packets, _ := sumOf(last, metricdef.NetworkPackets.Name, udpReceive)
		bytes, _ := sumOf(last, metricdef.NetworkIO.Name, udpReceive)
		return packets == count && bytes == int64(count*frame),
			fmt.Sprintf("%d packets, %d bytes; want %d, %d", packets, bytes, count, count*frame)
	})
	// The pair is quiet: nothing else crossed it, in either direction.
	if n := pointCount(last, metricdef.NetworkPackets.Name); n != 1 {
		t.Errorf("%d series of %s, want only the UDP one", n, metricdef.NetworkPackets.Name)
	}

	seen := map[string]bool{}
	metrics := allMetrics(last)
	for _, m := range metrics {
		if seen[m.Name()] {
			t.Errorf("%s emitted twice in one scope", m.Name())
		}
		seen[m.Name()] = true
		checkDefinition(t, m)
	}
	for _, want := range []*metricdef.Definition{&metricdef.NetworkPackets, &metricdef.NetworkIO, &metricdef.NetworkPacketSize,
		&metricdef.InterfaceAttached, &metricdef.BuildInfo, &metricdef.KernelFeatures, &metricdef.InterfaceInfo, &metricdef.SystemNetworkIO, &metricdef.SystemNetworkPacketCount,
		&metricdef.AuditDifference} {
		if !seen[want.Name] {
			t.Errorf("%s not emitted", want.Name)
		}
	}
	// The device received what was counted: the audit's difference is 0.
	rx := map[string]string{string(metricdef.NetworkInterfaceName): pair.NameA, string(metricdef.NetworkIODirection): bpf.Receive.String()}
	if diff, ok := gaugeOf(last, metricdef.AuditDifference.Name, rx); !ok || diff != 0 {
		t.Errorf("%s of %v: %d (%v), want 0", metricdef.AuditDifference.Name, rx, diff, ok)
	}
}

// gaugeOf returns the value of the point of int gauge name with attrs.
func gaugeOf(md pmetric.Metrics, name string, attrs map[string]string) (int64, bool) {
	for _, m := range allMetrics(md) {
		if m.Name() != name || m.Type() != pmetric.MetricTypeGauge {
			continue
		}
		for _, p := range m.Gauge().DataPoints().All() {
			if sameAttributes(p.Attributes(), attrs) {
				return p.IntValue(), true
			}
		}
	}
	return 0, false
}

// checkDefinition compares m with the agent's definition of its name.
func checkDefinition(t *testing.T, m pmetric.Metric) {
	t.Helper()
	i := slices.IndexFunc(metricdef.All, func(d *metricdef.Definition) bool { return d.Name == m.Name() })
	if i < 0 {
		t.Errorf("%s: not a metric the agent defines", m.Name())
		return
	}
	d := metricdef.All[i]
	if m.Unit() != d.Unit || m.Description() != d.Description {
		t.Errorf("%s: unit %q, description %q; want %q, %q", m.Name(), m.Unit(), m.Description(), d.Unit, d.Description)
	}
	want := map[metricdef.Kind]pmetric.MetricType{
		metricdef.Counter: pmetric.MetricTypeSum, metricdef.Gauge: pmetric.MetricTypeGauge, metricdef.Histogram: pmetric.MetricTypeHistogram,
	}[d.Kind]
	if m.Type() != want {
		t.Errorf("%s: type %v, want %v", m.Name(), m.Type(), want)
		return
	}
	var attrs []pcommon.Map
	switch m.Type() {
	case pmetric.MetricTypeSum:
		if !m.Sum().IsMonotonic() || m.Sum().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			t.Errorf("%s: monotonic %t, temporality %v; want a cumulative counter", m.Name(),
				m.Sum().IsMonotonic(), m.Sum().AggregationTemporality())
		}
		for _, p := range m.Sum().DataPoints().All() {
			attrs = append(attrs, p.Attributes())
			if p.StartTimestamp() == 0 || p.StartTimestamp() > p.Timestamp() {
				t.Errorf("%s: start %v, time %v", m.Name(), p.StartTimestamp(), p.Timestamp())
			}
		}
	case pmetric.MetricTypeGauge:
		for _, p := range m.Gauge().DataPoints().All() {
			attrs = append(attrs, p.Attributes())
		}
	case pmetric.MetricTypeHistogram:
		if m.Histogram().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			t.Errorf("%s: temporality %v, want cumulative", m.Name(), m.Histogram().AggregationTemporality())
		}
		for _, p := range m.Histogram().DataPoints().All() {
			attrs = append(attrs, p.Attributes())
		}
	}
	for _, a := range attrs {
		for _, key := range d.Attributes {
			if _, ok := a.Get(string(key)); !ok {
				t.Errorf("%s: a point without %s: %v", m.Name(), key, a.AsRaw())
			}
		}
	}
}

// allMetrics lists the metrics of md.
func allMetrics(md pmetric.Metrics) []pmetric.Metric {
	var out []pmetric.Metric
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			if sm.Scope().Name() != metricdef.ScopeName {
				continue
			}
			for _, m := range sm.Metrics().All() {
				out = append(out, m)
			}
		}
	}
	return out
}

// sumOf is the value of the point of sum metric name whose attributes are
// attrs exactly.
func sumOf(md pmetric.Metrics, name string, attrs map[string]string) (int64, bool) {
	for _, m := range allMetrics(md) {
		if m.Name() != name || m.Type() != pmetric.MetricTypeSum {
			continue
		}
		for _, p := range m.Sum().DataPoints().All() {
			if sameAttributes(p.Attributes(), attrs) {
				return p.IntValue(), true
			}
		}
	}
	return 0, false
}

// pointCount is the number of points of sum metric name.
func pointCount(md pmetric.Metrics, name string) int {
	n := 0
	for _, m := range allMetrics(md) {
		if m.Name() == name && m.Type() == pmetric.MetricTypeSum {
			n += m.Sum().DataPoints().Len()
		}
	}
	return n
}

func sameAttributes(got pcommon.Map, want map[string]string) bool {
	if got.Len() != len(want) {
		return false
	}
	for k, v := range want {
		if value, ok := got.Get(k); !ok || value.Str() != v {
			return false
		}
	}
	return true
}

// TestShutdownWithoutStart: the collector shuts down components that never
// started (another component failed first); nothing to release, no error.
func TestShutdownWithoutStart(t *testing.T) {
	f := NewFactory()
	r := create(t, f, f.CreateDefaultConfig().(*Config), consumertest.NewNop())
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestPersistence: with persistence on, the receiver adopts as the agent
// does. A shutdown leaves the programs counting, the next receiver counts
// on from there, and a receiver started beside a running one (a rolling
// update's surge) asks it to hand over: the running one stops reporting, the
// new one reports every datagram, exactly.
func TestPersistence(t *testing.T) {
	pair, f := newPair(t)
	pins := filepath.Join(testenv.MountBPFFS(t), "packet-exporter")
	cfg := configFor(f, pair.NameA, func(c *Config) {
		c.CollectionInterval = 100 * time.Millisecond
		c.InitialDelay = 0
		c.Counting.Persistence = config.Persistence{Enabled: true, Path: pins, HandoverTimeout: 10 * time.Second}
	})
	udp := testtraffic.ListenUDP(t, pair.A, pair.IPv4A.Addr())
	send := func(n int) { testtraffic.SendUDP(t, pair.B, pair.IPv4B.Addr(), udp.Addr, n, 60) }
	udpReceive := map[string]string{
		string(metricdef.NetworkInterfaceName): pair.NameA, string(metricdef.NetworkIODirection): bpf.Receive.String(),
		string(metricdef.NetworkType): "ipv4", string(metricdef.NetworkTransport): "udp",
	}
	start := func() (receiver.Metrics, *consumertest.MetricsSink) {
		sink := new(consumertest.MetricsSink)
		r := create(t, f, cfg, sink)
		if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
			t.Fatal(err)
		}
		return r, sink
	}
	expect := func(sink *consumertest.MetricsSink, want int64, when string) {
		t.Helper()
		testexporter.WaitFor(t, fmt.Sprintf("%d datagrams %s", want, when), 10*time.Second, func() (bool, string) {
			all := sink.AllMetrics()
			if len(all) == 0 {
				return false, "nothing emitted"
			}
			got, _ := sumOf(all[len(all)-1], metricdef.NetworkPackets.Name, udpReceive)
			return got == want, fmt.Sprintf("%d", got)
		})
	}

	// startOf returns the start time of the UDP series in sink's latest metrics.
	startOf := func(sink *consumertest.MetricsSink) pcommon.Timestamp {
		all := sink.AllMetrics()
		for _, m := range allMetrics(all[len(all)-1]) {
			if m.Name() != metricdef.NetworkPackets.Name {
				continue
			}
			for i := range m.Sum().DataPoints().Len() {
				if p := m.Sum().DataPoints().At(i); sameAttributes(p.Attributes(), udpReceive) {
					return p.StartTimestamp()
				}
			}
		}
		t.Fatal("no UDP series")
		return 0
	}

	first, sink := start()
	send(6)
	expect(sink, 6, "before the shutdown")
	firstStart := startOf(sink)
	if err := first.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if attached := testenv.Attached(t, pair.A, pair.NameA); len(attached) != 2 {
		t.Errorf("attached after the shutdown: %q, want both programs, counting", attached)
	}
	send(4)
	second, sink := start()
	expect(sink, 10, "after the restart")
	if got := startOf(sink); got != firstStart {
		t.Errorf("the series starts at %v after the restart, at %v before", got, firstStart)
	}

	third, thirdSink := start() // returns once second has handed over
	sink.Reset()
	send(3)
	expect(thirdSink, 13, "after the handover")
	for _, md := range sink.AllMetrics() {
		if n := pointCount(md, metricdef.NetworkPackets.Name); n != 0 {
			t.Errorf("the receiver that handed over still reports %d series", n)
		}
	}
	for _, r := range []receiver.Metrics{second, third} {
		if err := r.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}
}

// TestTunnelsInTheCollector: the receiver takes the agent's tunnels section
// (a Geneve port of its own here) and emits the tunnel series, exact.
func TestTunnelsInTheCollector(t *testing.T) {
	pair, f := newPair(t)
	cfg := configFor(f, pair.NameA, func(c *Config) {
		c.CollectionInterval = 100 * time.Millisecond
		c.InitialDelay = 0
		c.Counting.Tunnels.GenevePorts = []int{6082}
	})
	sink := new(consumertest.MetricsSink)
	r := create(t, f, cfg, sink)
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := r.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}()

	// Geneve frames carrying IPv6/TCP to an Ethernet address neither end
	// has: the A end counts them, then drops them, unanswered.
	inner := tf.MustBuild(tf.Frame{IPv6: &tf.IPv6{}, TCP: &tf.TCP{SrcPort: 1, DstPort: 2}})
	outer := tf.Frame{Dst: [6]byte{0x02, 0x5e, 0x10, 0, 0, 0x28}, IPv4: &tf.IPv4{Src: pair.IPv4B.Addr(), Dst: pair.IPv4A.Addr()},
		UDP: &tf.UDP{SrcPort: 40028, DstPort: 6082}, Payload: tf.Geneve{Protocol: tf.EtherTypeTEB, VNI: 28}.Encapsulate(inner)}
	copy(outer.Src[:], pair.MACB)
	frame := tf.MustBuild(outer)
	const count = 25
	frames := make([][]byte, count)
	for i := range frames {
		frames[i] = frame
	}
	testtraffic.SendFrames(t, pair.B, pair.IndexB, frames...)
	inside := map[string]string{
		string(metricdef.NetworkInterfaceName): pair.NameA, string(metricdef.NetworkIODirection): bpf.Receive.String(),
		string(metricdef.TunnelType): "geneve", string(metricdef.NetworkType): "ipv6", string(metricdef.NetworkTransport): "tcp",
	}
	testexporter.WaitFor(t, "the Geneve frames in an emitted collection", 10*time.Second, func() (bool, string) {
		all := sink.AllMetrics()
		if len(all) == 0 {
			return false, "nothing emitted"
		}
		last := all[len(all)-1]
		packets, _ := sumOf(last, metricdef.NetworkTunnelPackets.Name, inside)
		bytes, _ := sumOf(last, metricdef.NetworkTunnelIO.Name, inside)
		return packets == count && bytes == int64(count*len(frame)),
			fmt.Sprintf("%d packets, %d bytes; want %d, %d", packets, bytes, count, count*len(frame))
	})
}
