package receiver

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/bench/stats"
	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/telemetry"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
)

// deviceBenchInterfaces is the size of BenchmarkDeviceCollect: counted
// interfaces, each a real device (one end of a veth pair).
const deviceBenchInterfaces = 1000

// BenchmarkDeviceCollect measures a collection of the traffic and device
// metrics of deviceBenchInterfaces counted interfaces, real devices (veths)
// in a namespace of its own (one IFLA_STATS64 dump per collection, as in
// production), with the device totals (system.network.io and
// system.network.packet.count) and without them (dropped by a view, as
// metrics.<name>.enabled: false drops a metric: a collection as before they
// existed), taking turns in one run. It reports each median and the median of
// the added cost, in percent.
func BenchmarkDeviceCollect(b *testing.B) {
	testenv.RequireRoot(b)
	ns, peers := testenv.NewNetns(b), testenv.NewNetns(b)
	testenv.AddVeths(b, ns, peers, deviceBenchInterfaces, "dev%04d", "peer%04d")
	nl, err := netlink.NewHandleAt(ns.Handle, unix.NETLINK_ROUTE)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nl.Close)
	links, err := nl.LinkList()
	if err != nil {
		b.Fatal(err)
	}

	r := benchReceiverWith(deviceBenchInterfaces*seriesPerInterface, config.Default())
	// The synthetic interfaces take the devices' indexes.
	attached := r.att.attached
	r.att.attached = map[int]*attachment{}
	i := 1
	for _, l := range links {
		if !strings.HasPrefix(l.Attrs().Name, "dev") {
			continue
		}
		a := attached[i]
		a.index = l.Attrs().Index
		r.att.attached[a.index] = a
		i++
	}
	if len(r.att.attached) != deviceBenchInterfaces {
		b.Fatalf("%d devices for %d interfaces", len(r.att.attached), deviceBenchInterfaces)
	}
	r.collectors = append(r.collectors, registered{"devices", &deviceCollector{att: r.att, nl: nl}})

	collector := func(drop ...string) func() time.Duration {
		var opts []metric.Option
		for _, name := range drop {
			opts = append(opts, metric.WithView(metric.NewView(metric.Instrument{Name: name}, metric.Stream{Aggregation: metric.AggregationDrop{}})))
		}
		reader := metric.NewManualReader()
		provider := metric.NewMeterProvider(append(opts, metric.WithReader(reader),
			metric.WithCardinalityLimit(telemetry.CardinalityLimit(deviceBenchInterfaces*seriesPerInterface)))...)
		b.Cleanup(func() { provider.Shutdown(context.Background()) })
		if _, err := r.RegisterMetrics(provider.Meter(metricdef.ScopeName), BuildInfo{Version: "bench"}); err != nil {
			b.Fatal(err)
		}
		var rm metricdata.ResourceMetrics
		return func() time.Duration {
			start := time.Now()
			if err := reader.Collect(context.Background(), &rm); err != nil {
				b.Fatal(err)
			}
			return time.Since(start)
		}
	}
	with := collector()
	without := collector(metricdef.SystemNetworkIO.Name, metricdef.SystemNetworkPacketCount.Name)
	with() // the first collections create the series
	without()

	var withMs, withoutMs, added stats.Samples
	turn := 0
	for b.Loop() {
		var w, wo time.Duration
		if turn%2 == 0 {
			w, wo = with(), without()
		} else {
			wo, w = without(), with()
		}
		turn++
		withMs = append(withMs, float64(w)/float64(time.Millisecond))
		withoutMs = append(withoutMs, float64(wo)/float64(time.Millisecond))
		added = append(added, 100*(float64(w)/float64(wo)-1))
	}
	b.ReportMetric(withMs.Median(), "with-totals-ms")
	b.ReportMetric(withoutMs.Median(), "without-totals-ms")
	b.ReportMetric(added.Median(), "totals-added-%")
	b.ReportMetric(added.Spread(), "spread-totals-added-%")
	b.ReportMetric(float64(deviceBenchInterfaces), "interfaces")
}
