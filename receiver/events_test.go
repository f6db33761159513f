package receiver_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
	"github.com/packet-exporter/packet-exporter/receiver"
)

// snapshot is one collection of a receiver's metrics, histogram included.
type snapshot struct {
	sums       map[string]map[attribute.Distinct]metricdata.DataPoint[int64]
	attrs      map[attribute.Distinct]attribute.Set
	histograms []metricdata.HistogramDataPoint[int64]
}

// collector collects a receiver's metrics with a manual reader carrying the
// packet-size producer, as the Prometheus and OTLP readers do.
type collector struct {
	reader *sdkmetric.ManualReader
}

func newCollector(t *testing.T, recv *receiver.Receiver, delta bool) *collector {
	t.Helper()
	temporality := sdkmetric.WithTemporalitySelector(func(sdkmetric.InstrumentKind) metricdata.Temporality {
		if delta {
			return metricdata.DeltaTemporality
		}
		return metricdata.CumulativeTemporality
	})
	reader := sdkmetric.NewManualReader(temporality, sdkmetric.WithProducer(recv.PacketSizeProducer(delta)))
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { provider.Shutdown(context.Background()) })
	if _, err := recv.RegisterMetrics(provider.Meter("test"), receiver.BuildInfo{}); err != nil {
		t.Fatal(err)
	}
	return &collector{reader: reader}
}

func (c *collector) collect(t *testing.T) snapshot {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := c.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	s := snapshot{sums: map[string]map[attribute.Distinct]metricdata.DataPoint[int64]{}, attrs: map[attribute.Distinct]attribute.Set{}}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				points := map[attribute.Distinct]metricdata.DataPoint[int64]{}
				for _, p := range data.DataPoints {
					points[p.Attributes.Equivalent()] = p
					s.attrs[p.Attributes.Equivalent()] = p.Attributes
				}
				s.sums[m.Name] = points
			case metricdata.Gauge[int64]:
				points := map[attribute.Distinct]metricdata.DataPoint[int64]{}
				for _, p := range data.DataPoints {
					points[p.Attributes.Equivalent()] = p
				}
				s.sums[m.Name] = points
			case metricdata.Histogram[int64]:
				if m.Name == metricdef.NetworkPacketSize.Name {
					s.histograms = data.DataPoints
				}
			}
		}
	}
	return s
}

// value returns the value of metric name for attributes kvs, and whether it exists.
func (s snapshot) value(name string, kvs ...attribute.KeyValue) (int64, bool) {
	set := attribute.NewSet(kvs...)
	p, ok := s.sums[name][set.Equivalent()]
	return p.Value, ok
}

type flowWant struct {
	direction      string
	src, dst       netip.AddrPort
	packets, bytes int64
}

func flowAttrs(iface string, f flowWant, ports bool) []attribute.KeyValue {
	kvs := []attribute.KeyValue{
		metricdef.NetworkInterfaceName.String(iface), metricdef.NetworkIODirection.String(f.direction),
		metricdef.NetworkTransport.String("udp"),
		metricdef.SourceAddress.String(f.src.Addr().String()), metricdef.DestinationAddress.String(f.dst.Addr().String()),
	}
	if ports {
		kvs = append(kvs, metricdef.SourcePort.Int(int(f.src.Port())), metricdef.DestinationPort.Int(int(f.dst.Port())))
	}
	return kvs
}

func eventsConfig(mutate func(*config.Config)) func(*config.Config) {
	return func(c *config.Config) {
		c.Events.Enabled = true
		c.Events.Workers = 3
		c.Events.DrainInterval = 5 * time.Millisecond
		c.Flows.Enabled = true
		if mutate != nil {
			mutate(c)
		}
	}
}

// TestFlowsAndHistogram sends flows with known endpoints both ways across a
// veth pair and checks the flow series, the event accounting and the
// packet-size histogram exactly.
func TestFlowsAndHistogram(t *testing.T) {
	testenv.RequireRoot(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Queues: 2, DisableOffloads: true, Quiet: true})
	recv := startIn(t, a, eventsConfig(nil))
	col := newCollector(t, recv, false)
	deltas := newCollector(t, recv, true)
	deltas.collect(t) // the baseline of the delta histogram

	sinkA4, sinkB4 := testtraffic.ListenUDP(t, a, pair.IPv4A.Addr()), testtraffic.ListenUDP(t, b, pair.IPv4B.Addr())
	sinkA6 := testtraffic.ListenUDP(t, a, pair.IPv6A.Addr())
	b4 := netip.AddrPortFrom(pair.IPv4B.Addr(), 41000)
	a4 := netip.AddrPortFrom(pair.IPv4A.Addr(), 42000)
	b6 := netip.AddrPortFrom(pair.IPv6B.Addr(), 43000)
	flows := []flowWant{
		{direction: "receive", src: b4, dst: sinkA4.Addr, packets: 10},
		{direction: "receive", src: b6, dst: sinkA6.Addr, packets: 5},
		{direction: "transmit", src: a4, dst: sinkB4.Addr, packets: 7},
	}
	payloads := []int{100, 1200, 20} // frames of 142 B, 1262 B, 62 B
	for i := range flows {
		ns := b
		if flows[i].direction == "transmit" {
			ns = a
		}
		size := testtraffic.SendUDPFrom(t, ns, flows[i].src, flows[i].dst, int(flows[i].packets), payloads[i])
		flows[i].bytes = flows[i].packets * int64(size)
	}

	var s snapshot
	waitFor(t, 3*time.Second, "flows reported", func() bool {
		s = col.collect(t)
		for _, f := range flows {
			if v, _ := s.value(metricdef.FlowPackets.Name, flowAttrs(pair.NameA, f, true)...); v != f.packets {
				return false
			}
		}
		return true
	})
	for _, f := range flows {
		if v, _ := s.value(metricdef.FlowIO.Name, flowAttrs(pair.NameA, f, true)...); v != f.bytes {
			t.Errorf("flow %+v: %d bytes, want %d", f, v, f.bytes)
		}
	}
	if n := len(s.sums[metricdef.FlowPackets.Name]); n != len(flows) {
		t.Errorf("%d flow series, want %d", n, len(flows))
	}
	// An ICMP flow has no ports, so no port attributes.
	testtraffic.SendEcho(t, b, pair.IPv4B.Addr(), pair.IPv4A.Addr(), 2, 8)
	icmp := attribute.NewSet(metricdef.NetworkInterfaceName.String(pair.NameA), metricdef.NetworkIODirection.String("receive"),
		metricdef.NetworkTransport.String("icmp"), metricdef.SourceAddress.String(pair.IPv4B.Addr().String()),
		metricdef.DestinationAddress.String(pair.IPv4A.Addr().String()))
	waitFor(t, 3*time.Second, "icmp flow without ports", func() bool {
		p, ok := col.collect(t).sums[metricdef.FlowPackets.Name][icmp.Equivalent()]
		return ok && p.Value == 2
	})
	s = col.collect(t)
	flows = append(flows, flowWant{direction: "receive", packets: 2, bytes: 2 * (14 + 20 + 8 + 8)},
		flowWant{direction: "transmit", packets: 2, bytes: 2 * (14 + 20 + 8 + 8)})
	wantBuckets := map[string][8]uint64{
		"receive":  {0: 2, 2: 10, 5: 5}, // 50 B echo requests; 142 B -> (128, 256]; 1262 B -> (1024, 1518]
		"transmit": {0: 7 + 2},          // 62 B datagrams and 50 B echo replies -> (0, 64]
	}
	if v, _ := s.value(metricdef.FlowsActive.Name); v != int64(len(flows)) {
		t.Errorf("flows active %d, want %d", v, len(flows))
	}
	emitted, _ := s.value(metricdef.EventsEmitted.Name)
	lost, _ := s.value(metricdef.EventsLost.Name)
	delivered, _ := s.value(metricdef.EventsDelivered.Name)
	if emitted != 26 || lost != 0 || delivered != emitted {
		t.Errorf("events emitted %d, delivered %d, lost %d; want 26, 26, 0", emitted, delivered, lost)
	}

	// Histogram: buckets per direction, count and sum agree with the counters.
	checkHistogram := func(points []metricdata.HistogramDataPoint[int64], what string) {
		t.Helper()
		seen := 0
		for _, p := range points {
			iface, _ := p.Attributes.Value(metricdef.NetworkInterfaceName)
			dir, _ := p.Attributes.Value(metricdef.NetworkIODirection)
			if iface.AsString() != pair.NameA {
				continue
			}
			seen++
			want := wantBuckets[dir.AsString()]
			if fmt.Sprint(p.BucketCounts) != fmt.Sprint(want[:]) {
				t.Errorf("%s %s buckets %v, want %v", what, dir.AsString(), p.BucketCounts, want)
			}
			var packets, bytes int64
			for _, f := range flows {
				if f.direction == dir.AsString() {
					packets += f.packets
					bytes += f.bytes
				}
			}
			if p.Count != uint64(packets) || p.Sum != bytes {
				t.Errorf("%s %s count %d sum %d, want %d and %d (the counters)", what, dir.AsString(), p.Count, p.Sum, packets, bytes)
			}
		}
		if seen != 2 {
			t.Errorf("%s: %d histogram series for %s, want 2", what, seen, pair.NameA)
		}
	}
	checkHistogram(s.histograms, "cumulative")
	checkHistogram(deltas.collect(t).histograms, "delta")
	if again := deltas.collect(t).histograms; len(again) != 2 || again[0].Count != 0 || again[1].Count != 0 {
		t.Errorf("delta histogram without new traffic: %+v", again)
	}
}

// TestFlowOverflow sends more flows than flows.max_series: the first ones get
// their own series, the traffic of the rest goes to one overflow series.
func TestFlowOverflow(t *testing.T) {
	testenv.RequireRoot(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Queues: 2, DisableOffloads: true, Quiet: true})
	const maxSeries = 2
	recv := startIn(t, a, eventsConfig(func(c *config.Config) {
		c.Flows.MaxSeries = maxSeries
		c.Events.Workers = 1 // flows are taken in arrival order
	}))
	col := newCollector(t, recv, false)
	sink := testtraffic.ListenUDP(t, a, pair.IPv4A.Addr())
	var total, totalBytes int64
	for i := range 5 {
		src := netip.AddrPortFrom(pair.IPv4B.Addr(), uint16(44000+i))
		size := testtraffic.SendUDPFrom(t, b, src, sink.Addr, i+1, 10)
		total += int64(i + 1)
		totalBytes += int64((i + 1) * size)
		time.Sleep(20 * time.Millisecond) // drained before the next flow starts
	}
	overflow := attribute.Bool("otel.metric.overflow", true)
	var s snapshot
	waitFor(t, 3*time.Second, "all traffic accounted", func() bool {
		s = col.collect(t)
		var sum int64
		for _, p := range s.sums[metricdef.FlowPackets.Name] {
			sum += p.Value
		}
		return sum == total
	})
	if n := len(s.sums[metricdef.FlowPackets.Name]); n != maxSeries+1 {
		t.Errorf("%d flow series, want %d and the overflow", n, maxSeries)
	}
	// Flows 1 and 2 (1 and 2 datagrams) have series; 3, 4, 5 overflow.
	if v, _ := s.value(metricdef.FlowPackets.Name, overflow); v != 3+4+5 {
		t.Errorf("overflow series %d packets, want 12", v)
	}
	if v, _ := s.value(metricdef.FlowsActive.Name); v != maxSeries {
		t.Errorf("flows active %d, want %d", v, maxSeries)
	}
	var bytes int64
	for _, p := range s.sums[metricdef.FlowIO.Name] {
		bytes += p.Value
	}
	if bytes != totalBytes {
		t.Errorf("flow bytes %d, want %d: overflow traffic must not be dropped", bytes, totalBytes)
	}
}

// TestIdleFlowsExpire checks that a flow without traffic for
// flows.idle_timeout stops being reported.
func TestIdleFlowsExpire(t *testing.T) {
	testenv.RequireRoot(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true})
	recv := startIn(t, a, eventsConfig(func(c *config.Config) { c.Flows.IdleTimeout = time.Second }))
	col := newCollector(t, recv, false)
	sink := testtraffic.ListenUDP(t, a, pair.IPv4A.Addr())
	testtraffic.SendUDP(t, b, pair.IPv4B.Addr(), sink.Addr, 3, 10)
	waitFor(t, 2*time.Second, "flow reported", func() bool { return len(col.collect(t).sums[metricdef.FlowPackets.Name]) == 1 })
	waitFor(t, 5*time.Second, "idle flow forgotten", func() bool { return len(col.collect(t).sums[metricdef.FlowPackets.Name]) == 0 })
	if v, _ := col.collect(t).value(metricdef.FlowsActive.Name); v != 0 {
		t.Errorf("flows active %d after expiry", v)
	}
}
