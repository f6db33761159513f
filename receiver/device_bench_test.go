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
	"github.com/packet-exporter/packet-exporter/bpf"
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
// existed), and without the self-audit, taking turns in one run. It reports
// each median and the medians of the added costs, in percent.
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
		// Both directions counted, so that the audit has both to compare.
		for _, d := range []bpf.Direction{bpf.Receive, bpf.Transmit} {
			h := hook{direction: d, kind: config.HookTCX}
			h.attachedAttrs, h.hookAttrs = hookAttributes(a.name, h)
			a.hooks = append(a.hooks, h)
		}
		r.att.attached[a.index] = a
		i++
	}
	if len(r.att.attached) != deviceBenchInterfaces {
		b.Fatalf("%d devices for %d interfaces", len(r.att.attached), deviceBenchInterfaces)
	}
	// The audit as NewReceiver sets it up: the devices right after the
	// traffic, both given it.
	devices := &deviceCollector{att: r.att, nl: nl, audit: newAudit()}
	r.traffic.audit = devices.audit
	r.collectors = append(r.collectors[:2:2], append([]registered{{"devices", devices}}, r.collectors[2:]...)...)

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
	// Without the audit: its computation off (the collectors skip it when
	// they have none), as metrics.packet_exporter.audit.difference.enabled:
	// false leaves it.
	audit := devices.audit
	withoutAudit := func() time.Duration {
		r.traffic.audit, devices.audit = nil, nil
		defer func() { r.traffic.audit, devices.audit = audit, audit }()
		return with()
	}
	with() // the first collections create the series
	without()
	withoutAudit()

	var withMs, withoutMs, withoutAuditMs, added, auditAdded stats.Samples
	turn := 0
	for b.Loop() {
		var w, wo, wa time.Duration
		switch turn % 3 {
		case 0:
			w, wo, wa = with(), without(), withoutAudit()
		case 1:
			wo, wa, w = without(), withoutAudit(), with()
		default:
			wa, w, wo = withoutAudit(), with(), without()
		}
		turn++
		withMs = append(withMs, float64(w)/float64(time.Millisecond))
		withoutMs = append(withoutMs, float64(wo)/float64(time.Millisecond))
		withoutAuditMs = append(withoutAuditMs, float64(wa)/float64(time.Millisecond))
		added = append(added, 100*(float64(w)/float64(wo)-1))
		auditAdded = append(auditAdded, 100*(float64(w)/float64(wa)-1))
	}
	b.ReportMetric(withMs.Median(), "with-totals-ms")
	b.ReportMetric(withoutMs.Median(), "without-totals-ms")
	b.ReportMetric(added.Median(), "totals-added-%")
	b.ReportMetric(added.Spread(), "spread-totals-added-%")
	b.ReportMetric(withoutAuditMs.Median(), "without-audit-ms")
	b.ReportMetric(auditAdded.Median(), "audit-added-%")
	b.ReportMetric(auditAdded.Spread(), "spread-audit-added-%")
	b.ReportMetric(float64(deviceBenchInterfaces), "interfaces")
}
