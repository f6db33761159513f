// Package telemetry builds packet-exporter's OpenTelemetry MeterProvider: one
// provider whose readers (the Prometheus bridge, and OTLP when configured)
// all see the same instruments.
package telemetry

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// ScopeName is the instrumentation scope of packet-exporter's instruments.
const ScopeName = "github.com/packet-exporter/packet-exporter"

// Options configure the provider.
type Options struct {
	// Version is the service.version resource attribute.
	Version string
	// CardinalityLimit caps the series of each instrument; see Limit.
	CardinalityLimit int
	// Prometheus enables the Prometheus bridge reader.
	Prometheus bool
}

// Provider is the MeterProvider with its readers.
type Provider struct {
	// MeterProvider feeds every reader.
	*sdkmetric.MeterProvider
	// Registry holds the Prometheus bridge's collector, nil without Prometheus.
	Registry *prometheus.Registry
}

// CardinalityLimit returns the series limit per instrument for maxInterfaces
// counted interfaces: every (direction, class or anomaly) series of each, plus
// headroom for the self-metrics.
func CardinalityLimit(maxInterfaces, seriesPerInterface int) int {
	return maxInterfaces*seriesPerInterface + 1000
}

// New builds the provider. Exemplars are off: counters read from kernel maps
// have no trace context to offer.
func New(opts Options) (*Provider, error) {
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName("packet-exporter"),
		semconv.ServiceVersion(opts.Version),
	))
	if err != nil {
		return nil, fmt.Errorf("build resource: %w", err)
	}
	p := &Provider{}
	providerOpts := []sdkmetric.Option{
		sdkmetric.WithResource(res),
		sdkmetric.WithExemplarFilter(exemplar.AlwaysOffFilter),
		sdkmetric.WithCardinalityLimit(opts.CardinalityLimit),
	}
	if opts.Prometheus {
		p.Registry = prometheus.NewRegistry()
		exporter, err := otelprom.New(otelprom.WithRegisterer(p.Registry))
		if err != nil {
			return nil, fmt.Errorf("create prometheus exporter: %w", err)
		}
		providerOpts = append(providerOpts, sdkmetric.WithReader(exporter))
	}
	p.MeterProvider = sdkmetric.NewMeterProvider(providerOpts...)
	return p, nil
}

// Meter returns packet-exporter's meter.
func (p *Provider) Meter(version string) metric.Meter {
	return p.MeterProvider.Meter(ScopeName, metric.WithInstrumentationVersion(version))
}

// Shutdown flushes and stops every reader.
func (p *Provider) Shutdown(ctx context.Context) error {
	return p.MeterProvider.Shutdown(ctx)
}
