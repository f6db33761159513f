package receiver

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// BuildInfo describes the running binary for packet_exporter.build.info.
type BuildInfo struct {
	Version  string
	Revision string
}

// healthCollector observes the agent's own state: the binary, the kernel's
// features, what is attached, skipped and failed, the netlink resyncs, and
// the failed reads of the collections of its registration.
type healthCollector struct {
	att   *attacher
	build BuildInfo

	// collectors are the attribute sets of the registration's collectors,
	// in the order of its callback (this one first).
	collectors []metric.ObserveOption

	readErrors   metric.Int64ObservableCounter
	duration     metric.Float64ObservableGauge
	readFailures atomic.Int64
}

func (c *healthCollector) register(create *instruments) observe {
	buildInfo := observable(create, metricdef.BuildInfo.Int64Gauge)
	features := observable(create, metricdef.KernelFeatures.Int64Gauge)
	attached := observable(create, metricdef.InterfaceAttached.Int64Gauge)
	skipped := observable(create, metricdef.InterfaceSkipped.Int64Gauge)
	failures := observable(create, metricdef.AttachFailures.Int64Counter)
	resyncs := observable(create, metricdef.NetlinkResyncs.Int64Counter)
	c.readErrors = observable(create, metricdef.KernelReadErrors.Int64Counter)
	c.duration = observable(create, metricdef.CollectorDuration.Float64Gauge)
	buildAttrs := metric.WithAttributes(metricdef.Version.String(c.build.Version),
		metricdef.Revision.String(c.build.Revision), metricdef.GoVersion.String(runtime.Version()))
	featureAttrs := make([]metric.ObserveOption, len(c.att.features))
	featureValues := make([]int64, len(c.att.features))
	for i, f := range c.att.features {
		featureAttrs[i] = metric.WithAttributes(metricdef.Feature.String(f.Name))
		if f.Available() {
			featureValues[i] = 1
		}
	}
	return func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(buildInfo, 1, buildAttrs)
		for i := range featureAttrs {
			o.ObserveInt64(features, featureValues[i], featureAttrs[i])
		}
		a := c.att
		a.mu.RLock()
		defer a.mu.RUnlock()
		for _, at := range a.attached {
			for _, h := range at.hooks {
				o.ObserveInt64(attached, 1, h.attachedAttrs)
			}
		}
		for k, n := range a.failures {
			o.ObserveInt64(failures, n, metric.WithAttributes(metricdef.NetworkInterfaceName.String(k.iface),
				metricdef.NetworkIODirection.String(k.direction.String()), metricdef.Hook.String(k.hook),
				metricdef.ErrorType.String(k.reason)))
		}
		for _, s := range a.skipped {
			o.ObserveInt64(skipped, 1,
				metric.WithAttributes(metricdef.NetworkInterfaceName.String(s.name), metricdef.ErrorType.String(s.reason)))
		}
		o.ObserveInt64(resyncs, a.resyncs)
		return nil
	}
}

// readFailed counts the failed reads err reports: one, or each of joined
// errors.
func (c *healthCollector) readFailed(err error) {
	n := int64(1)
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		n = int64(len(joined.Unwrap()))
	}
	c.readFailures.Add(n)
}

// observeCollection observes, once every collector has observed, the
// failed reads counted so far and how long each collector took, in the
// order of collectors.
func (c *healthCollector) observeCollection(o metric.Observer, took []time.Duration) {
	o.ObserveInt64(c.readErrors, c.readFailures.Load())
	for i, d := range took {
		o.ObserveFloat64(c.duration, d.Seconds(), c.collectors[i])
	}
}
