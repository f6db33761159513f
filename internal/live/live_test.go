package live

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap/zaptest"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// traffic is a point of packets or bytes.
func traffic(iface, direction, networkType, transport string, v int64, extra ...attribute.KeyValue) metricdata.DataPoint[int64] {
	attrs := append([]attribute.KeyValue{metricdef.NetworkInterfaceName.String(iface), metricdef.NetworkIODirection.String(direction),
		metricdef.NetworkType.String(networkType), metricdef.NetworkTransport.String(transport)}, extra...)
	return metricdata.DataPoint[int64]{Attributes: attribute.NewSet(attrs...), Value: v}
}

func tunnel(iface, direction, tunnelType, networkType, transport string, v int64) metricdata.DataPoint[int64] {
	return traffic(iface, direction, networkType, transport, v, metricdef.TunnelType.String(tunnelType))
}

func sum(name string, points ...metricdata.DataPoint[int64]) metricdata.Metrics {
	return metricdata.Metrics{Name: name, Data: metricdata.Sum[int64]{IsMonotonic: true,
		Temporality: metricdata.CumulativeTemporality, DataPoints: points}}
}

func gauge(name string, points ...metricdata.DataPoint[int64]) metricdata.Metrics {
	return metricdata.Metrics{Name: name, Data: metricdata.Gauge[int64]{DataPoints: points}}
}

func point(v int64, attrs ...attribute.KeyValue) metricdata.DataPoint[int64] {
	return metricdata.DataPoint[int64]{Attributes: attribute.NewSet(attrs...), Value: v}
}

// drop is a point of the kernel's drops of reason, in category.
func drop(v int64, reason, category string, extra ...attribute.KeyValue) metricdata.DataPoint[int64] {
	return point(v, append([]attribute.KeyValue{metricdef.ErrorType.String(reason), metricdef.DropCategory.String(category)}, extra...)...)
}

func sizes(iface, direction string, counts ...uint64) metricdata.HistogramDataPoint[int64] {
	return metricdata.HistogramDataPoint[int64]{Attributes: attribute.NewSet(metricdef.NetworkInterfaceName.String(iface),
		metricdef.NetworkIODirection.String(direction)), Bounds: []float64{64, 1518}, BucketCounts: counts}
}

func TestBuild(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_123)
	empty := func() Direction { return newDirection() }
	pod := attribute.String("k8s.pod.name", "web-0")
	tests := []struct {
		name    string
		metrics []metricdata.Metrics
		want    Snapshot
	}{
		{"nothing collected", nil, Snapshot{Interfaces: []Interface{}, Drops: []Drop{}, Agent: Agent{Attached: []Hook{}}}},
		{"traffic summed per interface, direction and protocol", []metricdata.Metrics{
			sum(metricdef.NetworkPackets.Name,
				traffic("eth0", "receive", "ipv4", "udp", 10),
				traffic("eth0", "receive", "ipv4", "tcp", 5),
				traffic("eth0", "transmit", "ipv4", "tcp", 7),
				// attribution.on_series: the same interface, workload attributes added
				traffic("veth1", "receive", "ipv6", "udp", 2, pod),
				traffic("veth1", "receive", "ipv6", "udp", 3),
				traffic("veth1", "sideways", "ipv6", "udp", 100)),
			sum(metricdef.NetworkIO.Name,
				traffic("eth0", "receive", "ipv4", "udp", 1000),
				traffic("eth0", "receive", "ipv4", "tcp", 500),
				traffic("eth0", "transmit", "ipv4", "tcp", 700),
				traffic("veth1", "receive", "ipv6", "udp", 200, pod),
				traffic("veth1", "receive", "ipv6", "udp", 300)),
			{Name: metricdef.NetworkPacketSize.Name, Data: metricdata.Histogram[int64]{DataPoints: []metricdata.HistogramDataPoint[int64]{
				sizes("eth0", "receive", 1, 13, 1), sizes("eth0", "receive", 0, 0, 0), sizes("eth0", "transmit", 0, 7, 0),
				{Attributes: attribute.NewSet(metricdef.NetworkInterfaceName.String("eth0"), metricdef.NetworkIODirection.String("transmit")),
					Bounds: []float64{1}, BucketCounts: []uint64{9, 9}}, // other bounds: left out
			}}},
			gauge(metricdef.InterfaceInfo.Name, point(1, metricdef.NetworkInterfaceName.String("veth1"),
				metricdef.InterfaceKind.String("veth"), pod)),
		}, Snapshot{
			Interfaces: []Interface{
				{Name: "eth0", Info: map[string]string{},
					Receive: Direction{Packets: 15, Bytes: 1500,
						Protocols: []Protocol{{"ipv4", "tcp", 5, 500}, {"ipv4", "udp", 10, 1000}},
						Sizes:     Sizes{Bounds: []float64{64, 1518}, Counts: []uint64{1, 13, 1}}, Tunnels: []TunnelProtocol{}},
					Transmit: Direction{Packets: 7, Bytes: 700, Protocols: []Protocol{{"ipv4", "tcp", 7, 700}},
						Sizes: Sizes{Bounds: []float64{64, 1518}, Counts: []uint64{0, 7, 0}}, Tunnels: []TunnelProtocol{}}},
				{Name: "veth1", Info: map[string]string{"packet_exporter.interface.kind": "veth", "k8s.pod.name": "web-0"},
					Receive:  Direction{Packets: 5, Bytes: 500, Protocols: []Protocol{{"ipv6", "udp", 5, 500}}, Sizes: empty().Sizes, Tunnels: []TunnelProtocol{}},
					Transmit: empty()},
			},
			Drops: []Drop{}, Agent: Agent{Attached: []Hook{}},
		}},
		{"tunnels summed per interface, direction, tunnel type and protocol inside", []metricdata.Metrics{
			sum(metricdef.NetworkTunnelPackets.Name,
				tunnel("eth0", "receive", "vxlan", "ipv4", "udp", 4),
				tunnel("eth0", "receive", "vxlan", "ipv4", "tcp", 6),
				tunnel("eth0", "receive", "gre", "ipv4", "tcp", 1),
				tunnel("eth0", "transmit", "vxlan", "ipv6", "tcp", 2)),
			sum(metricdef.NetworkTunnelIO.Name,
				tunnel("eth0", "receive", "vxlan", "ipv4", "udp", 400),
				tunnel("eth0", "receive", "vxlan", "ipv4", "tcp", 600),
				tunnel("eth0", "receive", "gre", "ipv4", "tcp", 100),
				tunnel("eth0", "transmit", "vxlan", "ipv6", "tcp", 200)),
		}, Snapshot{
			Interfaces: []Interface{{Name: "eth0", Info: map[string]string{},
				Receive: Direction{Protocols: []Protocol{}, Sizes: empty().Sizes, Tunnels: []TunnelProtocol{
					{"gre", Protocol{"ipv4", "tcp", 1, 100}}, {"vxlan", Protocol{"ipv4", "tcp", 6, 600}}, {"vxlan", Protocol{"ipv4", "udp", 4, 400}}}},
				Transmit: Direction{Protocols: []Protocol{}, Sizes: empty().Sizes, Tunnels: []TunnelProtocol{
					{"vxlan", Protocol{"ipv6", "tcp", 2, 200}}}}}},
			Drops: []Drop{}, Agent: Agent{Attached: []Hook{}},
		}},
		{"drops, failures and health", []metricdata.Metrics{
			sum(metricdef.NetworkDrops.Name,
				drop(3, "netfilter_drop", "network", metricdef.NetworkType.String("ipv4")),
				drop(4, "netfilter_drop", "network", metricdef.NetworkType.String("ipv6")),
				drop(1, "no_socket", "host", metricdef.NetworkInterfaceName.String("eth0"))),
			sum(metricdef.AttachFailures.Name, point(2, metricdef.NetworkInterfaceName.String("a")), point(1, metricdef.NetworkInterfaceName.String("b"))),
			sum(metricdef.EventsLost.Name, point(9)),
			sum(metricdef.NetworkParseErrors.Name, point(4, metricdef.ErrorType.String("truncated")), point(1, metricdef.ErrorType.String("bad"))),
			gauge(metricdef.InterfaceAttached.Name,
				point(1, metricdef.NetworkInterfaceName.String("eth0"), metricdef.NetworkIODirection.String("transmit"), metricdef.Hook.String("tcx")),
				point(1, metricdef.NetworkInterfaceName.String("eth0"), metricdef.NetworkIODirection.String("receive"), metricdef.Hook.String("xdp"),
					metricdef.Mode.String("native")),
				point(0, metricdef.NetworkInterfaceName.String("eth1"), metricdef.NetworkIODirection.String("receive"), metricdef.Hook.String("tcx"))),
			sum("some.other.metric", point(99)),
		}, Snapshot{
			Interfaces: []Interface{},
			Drops:      []Drop{{"netfilter_drop", "network", true, 7}, {"no_socket", "host", true, 1}},
			Agent: Agent{AttachFailures: 3, EventsLost: 9, ParseErrors: 5, Attached: []Hook{
				{"eth0", "receive", "xdp", "native"}, {"eth0", "transmit", "tcx", ""}}},
		}},
		{"drops summed per reason and category", []metricdata.Metrics{
			sum(metricdef.NetworkDrops.Name,
				drop(5, "socket_rcvbuff", "socket", metricdef.NetworkInterfaceName.String("eth0")),
				drop(2, "socket_rcvbuff", "socket", metricdef.NetworkInterfaceName.String("eth1")),
				drop(1, "no_socket", "host", metricdef.NetworkType.String("ipv4")),
				// A raw socket's copy of an answered echo, then its original
				// freed: the same reason under two categories stays two.
				drop(6, "no_socket", "delivered", metricdef.NetworkType.String("ipv4")),
				drop(3, "no_socket", "delivered", metricdef.NetworkType.String("ipv6")),
				drop(4, "not_specified", "unclassified"),
				// A point without the attribute: category "".
				point(8, metricdef.ErrorType.String("qdisc_drop"))),
		}, Snapshot{
			Interfaces: []Interface{},
			Drops: []Drop{{"no_socket", "delivered", false, 9}, {"no_socket", "host", true, 1}, {"not_specified", "unclassified", false, 4},
				{"qdisc_drop", "", false, 8}, {"socket_rcvbuff", "socket", false, 7}},
			Agent: Agent{Attached: []Hook{}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := build(metricdata.ResourceMetrics{ScopeMetrics: []metricdata.ScopeMetrics{{Metrics: tt.metrics}}}, now)
			tt.want.Version, tt.want.Time = SchemaVersion, now.UnixMilli()
			got.interfaceDrops, got.interfaceFailures = nil, nil // the details' (TestViews)
			if !reflect.DeepEqual(*got, tt.want) {
				g, _ := json.MarshalIndent(got, "", " ")
				w, _ := json.MarshalIndent(tt.want, "", " ")
				t.Errorf("got\n%s\nwant\n%s", g, w)
			}
		})
	}
}

// TestJSONShape: lists are [] and never null, so the page needs no checks;
// the field names are the page's (and other clients').
func TestJSONShape(t *testing.T) {
	snap := build(metricdata.ResourceMetrics{ScopeMetrics: []metricdata.ScopeMetrics{{Metrics: []metricdata.Metrics{
		gauge(metricdef.InterfaceInfo.Name, point(1, metricdef.NetworkInterfaceName.String("lo0"))),
		sum(metricdef.NetworkDrops.Name, drop(2, "socket_close", "socket")),
	}}}}, time.UnixMilli(5))
	data, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":1,"time_unix_ms":5,"interfaces":[{"name":"lo0","info":{},` +
		`"receive":{"packets":0,"bytes":0,"protocols":[],"sizes":{"bounds":[],"counts":[]},"tunnels":[]},` +
		`"transmit":{"packets":0,"bytes":0,"protocols":[],"sizes":{"bounds":[],"counts":[]},"tunnels":[]}}],` +
		`"drops":[{"reason":"socket_close","category":"socket","loss":false,"packets":2}],` +
		`"agent":{"attached":[],"attach_failures":0,"events_lost":0,"parse_errors":0}}`
	if string(data) != want {
		t.Errorf("got\n%s\nwant\n%s", data, want)
	}
}

// blockingSource is a source whose collections count callbacks and wait
// for release.
func blockingSource(t *testing.T) (source *Source, calls *atomic.Int32, release chan struct{}) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { provider.Shutdown(context.Background()) })
	calls = new(atomic.Int32)
	release = make(chan struct{})
	packets, err := provider.Meter("test").Int64ObservableCounter(metricdef.NetworkPackets.Name)
	if err != nil {
		t.Fatal(err)
	}
	_, err = provider.Meter("test").RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		calls.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		o.ObserveInt64(packets, 42, metric.WithAttributes(metricdef.NetworkInterfaceName.String("eth0"), metricdef.NetworkIODirection.String("receive")))
		return nil
	}, packets)
	if err != nil {
		t.Fatal(err)
	}
	return NewSource(reader, nil), calls, release
}

// Concurrent requests share one collection.
func TestSnapshotSharesCollection(t *testing.T) {
	source, calls, release := blockingSource(t)
	const requests = 8
	var wg sync.WaitGroup
	results := make([]*Snapshot, requests)
	for i := range requests {
		wg.Go(func() {
			snap, err := source.Snapshot(context.Background())
			if err != nil {
				t.Error(err)
			}
			results[i] = snap
		})
	}
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the others join the collection in progress
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("%d collections for %d concurrent requests, want 1", n, requests)
	}
	for i, snap := range results {
		if snap == nil || len(snap.Interfaces) != 1 || snap.Interfaces[0].Receive.Packets != 42 {
			t.Fatalf("request %d: %+v", i, snap)
		}
	}
	// The next request collects again.
	if _, err := source.Snapshot(context.Background()); err != nil || calls.Load() != 2 {
		t.Errorf("next request: %v, %d collections, want 2", err, calls.Load())
	}
}

func TestSnapshotHandler(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		source, _, release := blockingSource(t)
		close(release)
		rec := httptest.NewRecorder()
		SnapshotHandler(source, time.Second, zaptest.NewLogger(t)).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Path, nil))
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("%d %v", rec.Code, rec.Header())
		}
		var snap Snapshot
		if err := json.Unmarshal(rec.Body.Bytes(), &snap); err != nil || snap.Version != SchemaVersion || snap.Interfaces[0].Receive.Packets != 42 {
			t.Errorf("%v: %s", err, rec.Body)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		source, _, release := blockingSource(t)
		defer close(release)
		rec := httptest.NewRecorder()
		start := time.Now()
		SnapshotHandler(source, 100*time.Millisecond, zaptest.NewLogger(t)).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Path, nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%d %s, want 503", rec.Code, rec.Body)
		}
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Errorf("answered after %v", elapsed)
		}
	})
}

// TestViews: the summary comes from the history without a collection, a
// detail is one interface's share of a snapshot with its history, and
// requests the handler does not serve are told why.
func TestViews(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { provider.Shutdown(context.Background()) })
	meter := provider.Meter("test")
	packets, err := meter.Int64ObservableCounter(metricdef.NetworkPackets.Name)
	if err != nil {
		t.Fatal(err)
	}
	drops, err := meter.Int64ObservableCounter(metricdef.NetworkDrops.Name)
	if err != nil {
		t.Fatal(err)
	}
	attached, err := meter.Int64ObservableGauge(metricdef.InterfaceAttached.Name)
	if err != nil {
		t.Fatal(err)
	}
	failures, err := meter.Int64ObservableCounter(metricdef.AttachFailures.Name)
	if err != nil {
		t.Fatal(err)
	}
	var collections atomic.Int32
	if _, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		collections.Add(1)
		for _, name := range []string{"eth0", "veth1"} {
			iface := metricdef.NetworkInterfaceName.String(name)
			o.ObserveInt64(packets, 42, metric.WithAttributes(iface, metricdef.NetworkIODirection.String("receive")))
			o.ObserveInt64(attached, 1, metric.WithAttributes(iface, metricdef.NetworkIODirection.String("receive"), metricdef.Hook.String("tcx")))
			o.ObserveInt64(drops, 3, metric.WithAttributes(iface, metricdef.ErrorType.String("no_socket"), metricdef.DropCategory.String("host")))
		}
		o.ObserveInt64(drops, 5, metric.WithAttributes(metricdef.ErrorType.String("socket_close"), metricdef.DropCategory.String("socket")))
		o.ObserveInt64(failures, 2, metric.WithAttributes(metricdef.NetworkInterfaceName.String("eth0"), metricdef.Hook.String("xdp")))
		o.ObserveInt64(failures, 7, metric.WithAttributes(metricdef.NetworkInterfaceName.String("veth1"), metricdef.Hook.String("xdp")))
		return nil
	}, packets, drops, attached, failures); err != nil {
		t.Fatal(err)
	}
	f := &fakeTotals{}
	history := NewHistory(Sources{Totals: f.read})
	for s := range 3 {
		n := uint64(s)
		f.now = []Totals{totals("eth0", "device", "", 10*n, 1000*n, 0, 0), totals("veth1", "veth", "", 0, 0, 0, 0)}
		if err := history.Sample(time.UnixMilli(int64(1000 * s))); err != nil {
			t.Fatal(err)
		}
	}
	handler := SnapshotHandler(NewSource(reader, history), time.Second, zaptest.NewLogger(t))
	get := func(target string, v any) int {
		t.Helper()
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		if rec.Code == 200 {
			if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
				t.Fatalf("%s: %v: %s", target, err, rec.Body)
			}
		}
		return rec.Code
	}

	var summary Summary
	if code := get(Path+"?view=summary", &summary); code != 200 || len(summary.Interfaces) != 1 || summary.Interfaces[0].Name != "eth0" ||
		summary.Idle != 1 || summary.Host.Now.ReceivePackets != 10 || collections.Load() != 0 {
		t.Errorf("summary: %d %+v after %d collections", code, summary, collections.Load())
	}
	if code := get(Path+"?view=summary&idle=1", &summary); code != 200 || len(summary.Interfaces) != 2 {
		t.Errorf("summary with the idle interfaces: %d %+v", code, summary)
	}

	var detail Detail
	if code := get(Path+"?interface=eth0", &detail); code != 200 {
		t.Fatalf("detail: %d", code)
	}
	want := Detail{Version: SchemaVersion, Time: detail.Time,
		Interface: Interface{Name: "eth0", Info: map[string]string{}, Receive: Direction{Packets: 42, Protocols: []Protocol{{Packets: 42}},
			Sizes: Sizes{Bounds: []float64{}, Counts: []uint64{}}, Tunnels: []TunnelProtocol{}}, Transmit: newDirection()},
		Attached: []Hook{{Interface: "eth0", Direction: "receive", Hook: "tcx"}}, AttachFailures: 2,
		Drops: []Drop{{Reason: "no_socket", Category: "host", Loss: true, Packets: 3}},
		History: RateHistory{Times: []int64{1000, 2000},
			Rates: []Rates{{ReceiveBits: 8000, ReceivePackets: 10}, {ReceiveBits: 8000, ReceivePackets: 10}}}}
	if !reflect.DeepEqual(detail, want) {
		t.Errorf("detail:\n got  %+v\n want %+v", detail, want)
	}

	for _, c := range []struct {
		target string
		code   int
	}{
		{Path + "?interface=eth9", http.StatusNotFound},
		{Path + "?view=full", http.StatusBadRequest},
		{Path + "?view=summary&interface=eth0", http.StatusBadRequest},
	} {
		if code := get(c.target, &struct{}{}); code != c.code {
			t.Errorf("%s: %d, want %d", c.target, code, c.code)
		}
	}
	noHistory := SnapshotHandler(NewSource(reader, nil), time.Second, zaptest.NewLogger(t))
	rec := httptest.NewRecorder()
	noHistory.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Path+"?view=summary", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("summary without a history: %d, want 404", rec.Code)
	}
}
