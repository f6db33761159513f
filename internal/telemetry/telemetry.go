// Package telemetry builds packet-exporter's OpenTelemetry MeterProvider: one
// provider whose readers — the Prometheus bridge (pull) and, when configured,
// a periodic OTLP/gRPC reader (push) — all see the same instruments.
package telemetry

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.uber.org/zap"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// Options configure the provider.
type Options struct {
	// Version is the service.version resource attribute.
	Version string
	// ResourceAttributes are added to the resource and override the defaults
	// (service.name=packet-exporter, service.version, host.name).
	ResourceAttributes map[string]string
	// CardinalityLimit caps the series of each instrument; see CardinalityLimit.
	CardinalityLimit int
	// Prometheus enables the Prometheus bridge reader.
	Prometheus bool
	// OTLP enables the OTLP push reader when not nil.
	OTLP *OTLPOptions
	// Manual adds a reader that collects only when asked (Provider.Manual,
	// cumulative): the live view's.
	Manual bool
	// Log receives the provider's own warnings.
	Log *zap.Logger
	// Producer, when not nil, makes a metric Producer for each reader, for
	// metrics no instrument can express (the packet-size histogram); delta
	// tells the temporality that reader wants.
	Producer func(delta bool) sdkmetric.Producer
	// Runtime adds the exporter's own process and Go runtime metrics: the
	// Prometheus client's on /metrics, the OpenTelemetry instrumentations'
	// over OTLP (not to the manual reader).
	Runtime bool
	// Disabled names the instruments whose measurements every reader drops
	// (metrics switched off in the configuration); a producer leaves its
	// own out.
	Disabled []string
}

// Provider is the MeterProvider with its readers.
type Provider struct {
	// MeterProvider feeds every reader.
	*sdkmetric.MeterProvider
	// Registry holds the Prometheus bridge's collector, nil without Prometheus.
	Registry *prometheus.Registry
	// Exports counts OTLP exports, nil without OTLP.
	Exports *ExportStats
	// Manual collects on demand, nil without Options.Manual.
	Manual *sdkmetric.ManualReader
	// runtime produces the runtime metrics for OTLP, nil without them.
	runtime *RuntimeProducer
}

// CardinalityLimit returns the series limit per instrument for an instrument
// that can have up to series series of its own: room for them plus headroom
// for the self-metrics.
func CardinalityLimit(series int) int {
	return series + 1000
}

// New builds the provider. Exemplars are off: counters read from kernel maps
// have no trace context to offer.
func New(opts Options) (*Provider, error) {
	log := opts.Log
	if log == nil {
		log = zap.NewNop()
	}
	res, err := newResource(opts.Version, opts.ResourceAttributes)
	if err != nil {
		return nil, err
	}
	p := &Provider{}
	providerOpts := []sdkmetric.Option{
		sdkmetric.WithResource(res),
		sdkmetric.WithExemplarFilter(exemplar.AlwaysOffFilter),
		sdkmetric.WithCardinalityLimit(opts.CardinalityLimit),
	}
	for _, name := range opts.Disabled {
		providerOpts = append(providerOpts, sdkmetric.WithView(sdkmetric.NewView(
			sdkmetric.Instrument{Name: name}, sdkmetric.Stream{Aggregation: sdkmetric.AggregationDrop{}})))
	}
	if opts.Prometheus {
		p.Registry = prometheus.NewRegistry()
		// Without the otel_scope_* labels: every series comes from one scope, so
		// they would say nothing, and they cost a fifth of a large scrape.
		promOpts := []otelprom.Option{otelprom.WithRegisterer(p.Registry), otelprom.WithoutScopeInfo()}
		if opts.Producer != nil {
			promOpts = append(promOpts, otelprom.WithProducer(opts.Producer(false)))
		}
		exporter, err := otelprom.New(promOpts...)
		if err != nil {
			return nil, fmt.Errorf("create prometheus exporter: %w", err)
		}
		if opts.Runtime {
			if err := RegisterProcessMetrics(p.Registry); err != nil {
				return nil, err
			}
		}
		providerOpts = append(providerOpts, sdkmetric.WithReader(exporter))
	}
	if opts.OTLP != nil {
		p.Exports = NewExportStats(log.With(zap.String("endpoint", opts.OTLP.Endpoint)))
		var producers []sdkmetric.Producer
		if opts.Producer != nil {
			producers = append(producers, opts.Producer(opts.OTLP.Delta))
		}
		if opts.Runtime {
			if p.runtime, err = NewRuntimeProducer(opts.OTLP.Delta); err != nil {
				return nil, err
			}
			producers = append(producers, p.runtime)
		}
		reader, err := newOTLPReader(*opts.OTLP, p.Exports, producers)
		if err != nil {
			return nil, err
		}
		providerOpts = append(providerOpts, sdkmetric.WithReader(reader))
	}
	if opts.Manual {
		var manualOpts []sdkmetric.ManualReaderOption
		if opts.Producer != nil {
			manualOpts = append(manualOpts, sdkmetric.WithProducer(opts.Producer(false)))
		}
		p.Manual = sdkmetric.NewManualReader(manualOpts...)
		providerOpts = append(providerOpts, sdkmetric.WithReader(p.Manual))
	}
	p.MeterProvider = sdkmetric.NewMeterProvider(providerOpts...)
	return p, nil
}

// newResource describes this agent: service.name, service.version, host.name
// and the SDK, then the configured attributes, which win.
func newResource(version string, attrs map[string]string) (*resource.Resource, error) {
	extra := make([]attribute.KeyValue, 0, len(attrs))
	for k, v := range attrs {
		extra = append(extra, attribute.String(k, v))
	}
	// Each option's attributes override the previous ones'.
	res, err := resource.New(context.Background(),
		resource.WithHost(),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName("packet-exporter"), semconv.ServiceVersion(version)),
		resource.WithAttributes(extra...),
	)
	if err != nil {
		return nil, fmt.Errorf("build resource: %w", err)
	}
	return res, nil
}

// Meter returns packet-exporter's meter.
func (p *Provider) Meter(version string) metric.Meter {
	return p.MeterProvider.Meter(metricdef.ScopeName, metric.WithInstrumentationVersion(version))
}

// RegisterMetrics registers the provider's own self-metrics on meter: the
// OTLP export outcomes, when OTLP is on.
func (p *Provider) RegisterMetrics(meter metric.Meter) error {
	if p.Exports == nil {
		return nil
	}
	exports, err := metricdef.OTLPExports.Int64Counter(meter)
	if err != nil {
		return fmt.Errorf("create instruments: %w", err)
	}
	success := metric.WithAttributes(metricdef.Outcome.String("success"))
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		successes, failures := p.Exports.Snapshot()
		o.ObserveInt64(exports, successes, success)
		for kind, n := range failures {
			o.ObserveInt64(exports, n, metric.WithAttributes(metricdef.Outcome.String("failure"), metricdef.ErrorType.String(kind)))
		}
		return nil
	}, exports)
	return err
}

// Shutdown makes a last collection of every reader (the OTLP reader exports
// it) and stops them, within ctx.
func (p *Provider) Shutdown(ctx context.Context) error {
	err := p.MeterProvider.Shutdown(ctx)
	if errors.Is(err, sdkmetric.ErrReaderShutdown) {
		err = nil
	}
	if p.runtime != nil {
		// After the last export, which collected it.
		if rerr := p.runtime.Shutdown(ctx); !errors.Is(rerr, sdkmetric.ErrReaderShutdown) {
			err = errors.Join(err, rerr)
		}
	}
	return err
}
