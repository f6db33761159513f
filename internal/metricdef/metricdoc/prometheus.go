package metricdoc

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/telemetry"
)

// PrometheusName returns the name the Prometheus bridge, as the exporter
// configures it (internal/telemetry), gives the metric d: it creates d's
// instrument on a provider of its own, records one value and reads the
// family the bridge makes of it.
func PrometheusName(d *metricdef.Definition) (name string, err error) {
	p, err := telemetry.New(telemetry.Options{Prometheus: true, CardinalityLimit: 10})
	if err != nil {
		return "", fmt.Errorf("prometheus name of %s: %w", d.Name, err)
	}
	defer func() {
		if shutdownErr := p.Shutdown(context.Background()); shutdownErr != nil && err == nil {
			err = fmt.Errorf("prometheus name of %s: shut down: %w", d.Name, shutdownErr)
		}
	}()
	if err := record(p.Meter("metricdoc"), d); err != nil {
		return "", fmt.Errorf("prometheus name of %s: %w", d.Name, err)
	}
	families, err := p.Registry.Gather()
	if err != nil {
		return "", fmt.Errorf("prometheus name of %s: gather: %w", d.Name, err)
	}
	var names []string
	for _, f := range families {
		if f.GetName() != "target_info" {
			names = append(names, f.GetName())
		}
	}
	if len(names) != 1 {
		return "", fmt.Errorf("prometheus name of %s: the bridge made %v", d.Name, names)
	}
	return names[0], nil
}

// record creates d's instrument on meter and gives it one value.
func record(meter metric.Meter, d *metricdef.Definition) error {
	attrs := metric.WithAttributes(attribute.String("a", "b"))
	switch {
	case d.Kind == metricdef.Histogram && d.Float:
		h, err := d.Float64Histogram(meter)
		if err != nil {
			return err
		}
		h.Record(context.Background(), 1, attrs)
		return nil
	case d.Kind == metricdef.Histogram:
		// Made by a producer, not an instrument: the same name, unit and kind.
		h, err := meter.Int64Histogram(d.Name, metric.WithUnit(d.Unit), metric.WithDescription(d.Description))
		if err != nil {
			return err
		}
		h.Record(context.Background(), 1, attrs)
		return nil
	}
	var (
		instrument metric.Observable
		err        error
	)
	switch {
	case d.Kind == metricdef.Counter && d.Float:
		instrument, err = d.Float64Counter(meter)
	case d.Kind == metricdef.Counter:
		instrument, err = d.Int64Counter(meter)
	case d.Float:
		instrument, err = d.Float64Gauge(meter)
	default:
		instrument, err = d.Int64Gauge(meter)
	}
	if err != nil {
		return err
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		switch i := instrument.(type) {
		case metric.Float64Observable:
			o.ObserveFloat64(i, 1, attrs)
		case metric.Int64Observable:
			o.ObserveInt64(i, 1, attrs)
		default:
			return errors.New("neither a float64 nor an int64 instrument")
		}
		return nil
	}, instrument)
	return err
}
