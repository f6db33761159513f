package receiver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// A collector turns one source into metrics. register creates the
// collector's instruments with create and returns the function that observes
// them in each collection, which only reads: the attacher alone changes what
// is attached. One collector may be registered with several meters (a reader
// each), and its observe functions may run concurrently.
type collector interface {
	register(create *instruments) observe
}

// registered is a collector in the receiver's list, under its name: the
// collector attribute of packet_exporter.collector.duration.
type registered struct {
	name string
	collector
}

// observe observes one collection of a collector's instruments. Its error is
// a failed read of the collector's source; each one is counted in
// packet_exporter.kernel.read_errors.
type observe func(ctx context.Context, o metric.Observer) error

// instruments creates the collectors' instruments on one meter from their
// definitions, and keeps the observable ones for the registration and the
// errors of creating them.
type instruments struct {
	meter       metric.Meter
	observables []metric.Observable
	errs        []error
}

// observable creates an observable instrument with newInstrument, the
// constructor of its definition (metricdef.NetworkPackets.Int64Counter, say).
func observable[I metric.Observable](i *instruments, newInstrument func(metric.Meter) (I, error)) I {
	inst, err := newInstrument(i.meter)
	i.errs = append(i.errs, err)
	if err == nil {
		i.observables = append(i.observables, inst)
	}
	return inst
}

// histogram creates the float64 histogram d, which is recorded, not observed.
func (i *instruments) histogram(d metricdef.Definition) metric.Float64Histogram {
	h, err := d.Float64Histogram(i.meter)
	i.errs = append(i.errs, err)
	return h
}

// RegisterMetrics creates the receiver's instruments on meter, each
// collector's and those of the agent's health, and registers the callback
// that observes them. The callback may run concurrently for several readers.
func (r *Receiver) RegisterMetrics(meter metric.Meter, build BuildInfo) (metric.Registration, error) {
	health := &healthCollector{att: r.att, build: build}
	collectors := append([]registered{{"health", health}}, r.collectors...)
	create := instruments{meter: meter}
	observes := make([]observe, len(collectors))
	for i, c := range collectors {
		observes[i] = c.register(&create)
		if err := errors.Join(create.errs...); err != nil {
			return nil, fmt.Errorf("create instruments: %w", err)
		}
		health.collectors = append(health.collectors, metric.WithAttributes(metricdef.Collector.String(c.name)))
	}
	return meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		var errs []error
		took := make([]time.Duration, len(observes))
		for i, obs := range observes {
			start := time.Now()
			if err := obs(ctx, o); err != nil {
				health.readFailed(err)
				errs = append(errs, err)
			}
			took[i] = time.Since(start)
		}
		health.observeCollection(o, took)
		return errors.Join(errs...)
	}, create.observables...)
}
