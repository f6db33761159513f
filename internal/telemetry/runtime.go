package telemetry

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/contrib/instrumentation/host"
	"go.opentelemetry.io/contrib/instrumentation/runtime"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// RegisterProcessMetrics adds the process_* and go_* series every Prometheus
// exporter has to reg: the client library's own collectors.
func RegisterProcessMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector()} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register process metrics: %w", err)
		}
	}
	return nil
}

// RuntimeProducer hands the OpenTelemetry runtime instrumentation's metrics
// (go.*, and process.cpu.time of the host instrumentation) to the OTLP
// reader. They live on a provider of their own so that /metrics, which has
// the Prometheus client's equivalents, does not show them twice.
type RuntimeProducer struct {
	provider *sdkmetric.MeterProvider
	reader   *sdkmetric.ManualReader
}

// NewRuntimeProducer starts the instrumentations, with counters in the
// temporality delta selects. The host instrumentation's system.* metrics
// are dropped: the whole host's CPU, memory and network are the host
// metrics receiver's to report, and system.network.io is this product's
// name for its own device totals.
func NewRuntimeProducer(delta bool) (*RuntimeProducer, error) {
	var readerOpts []sdkmetric.ManualReaderOption
	if delta {
		readerOpts = append(readerOpts, sdkmetric.WithTemporalitySelector(deltaTemporality))
	}
	p := &RuntimeProducer{reader: sdkmetric.NewManualReader(readerOpts...)}
	p.provider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(p.reader), sdkmetric.WithView(sdkmetric.NewView(
		sdkmetric.Instrument{Name: "system.*"}, sdkmetric.Stream{Aggregation: sdkmetric.AggregationDrop{}})))
	if err := runtime.Start(runtime.WithMeterProvider(p.provider)); err != nil {
		return nil, fmt.Errorf("start runtime metrics: %w", err)
	}
	if err := host.Start(host.WithMeterProvider(p.provider)); err != nil {
		return nil, fmt.Errorf("start process metrics: %w", err)
	}
	return p, nil
}

// Produce collects the instrumentations' metrics.
func (p *RuntimeProducer) Produce(ctx context.Context) ([]metricdata.ScopeMetrics, error) {
	var rm metricdata.ResourceMetrics
	if err := p.reader.Collect(ctx, &rm); err != nil {
		return nil, err
	}
	return rm.ScopeMetrics, nil
}

// Shutdown stops the instrumentations.
func (p *RuntimeProducer) Shutdown(ctx context.Context) error {
	return p.provider.Shutdown(ctx)
}
